package h2sm

import "time"

// inflow is a receive window (RFC 9113 §6.9), the connection's or a stream's.
// The invariant avail + unsent + outstanding == target holds, where
// outstanding is what was received and not yet returned as credit.
type inflow struct {
	avail  int32 // bytes the peer may still send
	unsent int32 // credit returned but not yet announced in a WINDOW_UPDATE
	target int32 // the full window
}

// inflowMinRefresh batches WINDOW_UPDATEs: credit is announced once it
// reaches this size or the peer's remaining window is smaller than it.
const inflowMinRefresh = 4 << 10

func (f *inflow) init(window int32) { f.avail, f.unsent, f.target = window, 0, window }

// take charges n received bytes; false means the peer overran the window.
func (f *inflow) take(n int) bool {
	if int64(n) > int64(f.avail) {
		return false
	}
	f.avail -= int32(n)
	return true
}

// outstanding is what was received and not yet returned.
func (f *inflow) outstanding() int32 { return f.target - f.avail - f.unsent }

// give returns up to n bytes of credit (never more than is outstanding, so
// the window never exceeds its target and so never 2^31-1) and returns the
// increment to announce now, or 0 to batch it.
func (f *inflow) give(n int) int32 {
	if o := f.outstanding(); int64(n) > int64(o) {
		n = int(o)
	}
	if n <= 0 {
		return 0
	}
	f.unsent += int32(n)
	if f.unsent < inflowMinRefresh && f.unsent < f.avail {
		return 0
	}
	incr := f.unsent
	f.avail += incr
	f.unsent = 0
	return incr
}

// outflow is a send window: what the peer allows us to send.
type outflow struct {
	avail int64 // may be negative after a SETTINGS_INITIAL_WINDOW_SIZE decrease (§6.9.2)
}

// add applies a WINDOW_UPDATE increment or a settings delta; false means the
// window would exceed 2^31-1, which §6.9.1 forbids.
func (f *outflow) add(n int64) bool {
	if f.avail+n > maxWindow {
		return false
	}
	f.avail += n
	return true
}

// creditConn returns n bytes of connection-level credit, writing a
// WINDOW_UPDATE when the batch is due.
func (c *Conn) creditConn(n int) {
	if incr := c.inflow.give(n); incr > 0 {
		c.writeWindowUpdate(0, uint32(incr))
	}
}

// creditStream returns n bytes of credit for a stream that may still send.
func (c *Conn) creditStream(st *stream, n int) {
	if st.state != stateOpen && st.state != stateHalfClosedLocal {
		return // the peer has ended the stream; its window no longer matters
	}
	if incr := st.inflow.give(n); incr > 0 {
		c.writeWindowUpdate(st.id, uint32(incr))
	}
}

// Consumed returns n bytes of receive credit for stream id, for request body
// the application has processed. It is needed only with
// Config.ManualFlowControl; in automatic mode it does nothing. Credit for a
// stream that is closed still returns to the connection window. Credit
// beyond what was received is ignored.
func (c *Conn) Consumed(now time.Time, id StreamID, n int) {
	c.begin(now)
	defer c.end()
	if !c.cfg.ManualFlowControl || n <= 0 || c.phase == PhaseClosed {
		return
	}
	c.creditConn(n)
	if st := c.streams.get(id); st != nil {
		c.creditStream(st, n)
	}
}

// minUsefulWindowUpdate: a WINDOW_UPDATE with a smaller increment, for a
// window that is already open, unblocks nothing and costs a glitch token
// (a WINDOW_UPDATE flood, CVE-2019-9511; research/attacks.md §3.5). One that
// reopens a closed window is never charged, so a slow reader that returns
// credit as it reads, however little at a time, is not either; nor is the
// usual client that returns credit in batches of kilobytes.
const minUsefulWindowUpdate = 1024

// onWindowUpdate handles a WINDOW_UPDATE frame (RFC 9113 §6.9).
func (c *Conn) onWindowUpdate(h frameHeader, p []byte) error {
	// §6.9: "A WINDOW_UPDATE frame with a length other than 4 octets MUST be
	// treated as a connection error of type FRAME_SIZE_ERROR."
	if len(p) != 4 {
		return connErr(ErrCodeFrameSize, "WINDOW_UPDATE length != 4 (§6.9)")
	}
	incr := int64(uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3])) & (1<<31 - 1)
	if h.stream == 0 {
		// §6.9: "errors on the connection flow-control window MUST be treated
		// as a connection error".
		if incr == 0 {
			return connErr(ErrCodeProtocol, "WINDOW_UPDATE increment 0 on the connection (§6.9)")
		}
		// §6.9.1: "If a sender receives a WINDOW_UPDATE that causes a
		// flow-control window to exceed this maximum, it MUST terminate either
		// the stream or the connection, as appropriate."
		if incr < minUsefulWindowUpdate && c.outflow.avail > 0 {
			if err := c.chargeGlitch(); err != nil {
				return err
			}
		}
		if !c.outflow.add(incr) {
			return connErr(ErrCodeFlowControl, "connection window above 2^31-1 (§6.9.1)")
		}
		// Nothing to re-schedule: a stream waiting only for connection
		// window stays in the send queue (fillData stops at it), and the
		// next pull frames it. So the frame costs O(1) whatever the number
		// of streams (CVE-2019-9511, research/attacks.md §3.5).
		return nil
	}
	st := c.streams.get(h.stream)
	if st == nil {
		if h.stream > c.streams.maxClientID || h.stream%2 == 0 {
			return connErr(ErrCodeProtocol, "WINDOW_UPDATE on an idle stream (§5.1)")
		}
		return nil // closed: may arrive for a short while (§5.1), ignored
	}
	// §6.9: "A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a
	// flow-control window increment of 0 as a stream error of type PROTOCOL_ERROR".
	if incr == 0 {
		return streamErr(h.stream, ErrCodeProtocol, "WINDOW_UPDATE increment 0 (§6.9)")
	}
	if incr < minUsefulWindowUpdate && st.outflow.avail > 0 {
		if err := c.chargeGlitch(); err != nil {
			return err
		}
	}
	st.transition(inRecvWindowUpdate)
	if !st.outflow.add(incr) {
		return streamErr(h.stream, ErrCodeFlowControl, "stream window above 2^31-1 (§6.9.1)")
	}
	c.schedule(st)
	return nil
}
