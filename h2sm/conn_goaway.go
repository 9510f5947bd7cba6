package h2sm

import (
	"encoding/binary"
	"time"
)

// goAwayState tracks GOAWAY in both directions, and the per-connection
// abuse counters that end in one.
type goAwayState struct {
	sent   bool     // we sent GOAWAY
	lastID StreamID // the last stream id in the GOAWAY we sent
	final  bool     // the GOAWAY with the real last stream id is sent: draining

	stallMark uint64 // BytesOut when the write-stall timer was armed
	received  bool   // the peer sent GOAWAY
}

// maxGoAwayDebug bounds the debug data of a received GOAWAY kept in its event.
const maxGoAwayDebug = 256

// ignored reports whether id is above the last stream id of a GOAWAY we
// sent: RFC 9113 §6.8, "the sender will ignore frames sent on streams
// initiated by the receiver if the stream has an identifier higher than the
// included last stream identifier".
func (g *goAwayState) ignored(id StreamID) bool { return g.sent && id > g.lastID }

// Shutdown starts a graceful shutdown (RFC 9113 §6.8): a GOAWAY with the
// largest stream id and a PING; when the PING is acknowledged (one round
// trip, so every request the client sent before it has arrived) or
// ShutdownPingTimeout passes, a second GOAWAY with the last stream id
// actually processed. Streams up to it finish; at the last one, or at
// DrainTimeout, the connection closes. Calling it again does nothing.
func (c *Conn) Shutdown(now time.Time) {
	c.begin(now)
	defer c.end()
	switch {
	case c.phase == PhaseClosed || c.goAway.sent:
		return
	case c.phase < PhaseOpen:
		c.goAwaySend(c.streams.maxClientID, ErrCodeNo, "")
		c.closeNow(nil)
		return
	}
	c.goAwaySend(maxWindow, ErrCodeNo, "")
	c.phase = PhaseGoAway
	c.timers.stop(timerIdle)
	c.ping.shutdown = c.ping.nextPayload()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], c.ping.shutdown)
	c.writePing(false, b[:])
	c.timers.setAfter(timerShutdownPing, c.now, c.cfg.ShutdownPingTimeout)
}

// GoAway sends GOAWAY with code and debug data at once, with the last stream
// id processed. With ErrCodeNo the open streams finish first (as in the
// second phase of Shutdown); with any other code the connection closes now,
// and EventConnClosed carries a *ConnError with the code.
func (c *Conn) GoAway(now time.Time, code ErrCode, debug string) {
	c.begin(now)
	defer c.end()
	if c.phase == PhaseClosed {
		return
	}
	if code != ErrCodeNo {
		c.goAwaySend(c.streams.maxClientID, code, debug)
		c.closeNow(&ConnError{Code: code, Reason: debug})
		return
	}
	if c.phase < PhaseOpen {
		// No stream to wait for: graceful, as Close and Shutdown are here.
		c.goAwaySend(c.streams.maxClientID, code, debug)
		c.closeNow(nil)
		return
	}
	if c.goAway.final {
		return
	}
	c.goAwaySend(c.streams.maxClientID, code, debug)
	c.goAwayDrain()
}

// Close closes the connection now: a GOAWAY NO_ERROR with the last stream
// id processed, then PhaseClosed; open streams are abandoned and
// EventConnClosed carries nil.
func (c *Conn) Close(now time.Time) {
	c.begin(now)
	defer c.end()
	if c.phase == PhaseClosed {
		return
	}
	c.goAwaySend(c.streams.maxClientID, ErrCodeNo, "")
	c.closeNow(nil)
}

// goAwayFinal sends the second GOAWAY of a graceful shutdown.
func (c *Conn) goAwayFinal() {
	if c.phase != PhaseGoAway || c.goAway.final {
		return
	}
	c.timers.stop(timerShutdownPing)
	c.goAwaySend(c.streams.maxClientID, ErrCodeNo, "")
	c.goAwayDrain()
}

// goAwayDrain enters the draining state after the final GOAWAY.
func (c *Conn) goAwayDrain() {
	c.goAway.final = true
	c.phase = PhaseGoAway
	c.timers.stop(timerIdle)
	c.timers.setAfter(timerDrain, c.now, c.cfg.DrainTimeout)
	c.maybeFinishDrain()
}

// maybeFinishDrain closes a draining connection whose last stream ended.
func (c *Conn) maybeFinishDrain() {
	if c.phase == PhaseGoAway && c.goAway.final && c.streams.active == 0 && !c.inBlock() {
		c.closeNow(nil)
	}
}

// goAwaySend writes a GOAWAY frame. §6.8: "Endpoints MUST NOT increase the
// value they send in the last stream identifier".
func (c *Conn) goAwaySend(last StreamID, code ErrCode, debug string) {
	if c.goAway.sent && last > c.goAway.lastID {
		last = c.goAway.lastID
	}
	c.goAway.sent, c.goAway.lastID = true, last
	c.frameHeader(8+len(debug), FrameGoAway, 0, 0)
	c.out = appendUint32(c.out, uint32(last))
	c.out = appendUint32(c.out, uint32(code))
	c.out = append(c.out, debug...)
	c.stats.FramesOut[FrameGoAway]++
}

// onGoAway handles the peer's GOAWAY (RFC 9113 §6.8): no new streams will
// come; the open ones finish. A GOAWAY with an error code closes.
func (c *Conn) onGoAway(h frameHeader, p []byte) error {
	if len(p) < 8 {
		return connErr(ErrCodeFrameSize, "GOAWAY shorter than 8 octets (§6.8)")
	}
	// §6.8: "An endpoint MUST treat a GOAWAY frame with a stream identifier
	// other than 0x00 as a connection error ... of type PROTOCOL_ERROR."
	if h.stream != 0 {
		return connErr(ErrCodeProtocol, "GOAWAY on a stream (§6.8)")
	}
	if c.goAway.received {
		if err := c.chargeGlitch(); err != nil {
			return err
		}
	}
	c.goAway.received = true
	last := StreamID(binary.BigEndian.Uint32(p) & (1<<31 - 1))
	debug := p[8:]
	if len(debug) > maxGoAwayDebug {
		debug = debug[:maxGoAwayDebug] // the event holds a bounded copy
	}
	err := &ConnError{Code: ErrCode(binary.BigEndian.Uint32(p[4:])), Reason: string(debug), Remote: true}
	c.pushEvent(Event{Kind: EventGoAwayReceived, Stream: last, Err: err})
	if err.Code != ErrCodeNo {
		c.closeNow(err)
		return nil
	}
	if !c.goAway.final {
		c.goAwaySend(c.streams.maxClientID, ErrCodeNo, "")
		c.goAwayDrain()
	}
	return nil
}

// connError answers a connection error: GOAWAY with the code and the last
// stream id processed, then PhaseClosed (RFC 9113 §5.4.1).
func (c *Conn) connError(ce *ConnError) {
	if c.phase == PhaseClosed {
		return
	}
	c.stats.countError(ce.Reason)
	c.stats.ConnErrors++
	c.goAwaySend(c.streams.maxClientID, ce.Code, ce.Reason)
	c.closeNow(ce)
}

// closeNow enters PhaseClosed: timers stop, streams are forgotten, and
// EventConnClosed is queued last. Output already queued stays for the driver
// to flush.
func (c *Conn) closeNow(err error) {
	if c.phase == PhaseClosed {
		return
	}
	c.phase = PhaseClosed
	c.timers = timers{}
	if c.hb != nil {
		c.hb.active = false
	}
	clear(c.streams.byID)
	c.streams.active, c.streams.sendPending = 0, 0
	clear(c.streams.sendQueue)
	c.streams.sendQueue, c.streams.sendHead = c.streams.sendQueue[:0], 0
	c.streams.free = nil
	c.inbuf = nil
	c.pushEvent(Event{Kind: EventConnClosed, Err: err})
}
