package h2sm

import (
	"encoding/binary"
	"errors"
)

// Backpressure bounds on what Receive queues for the application before it
// stops consuming input.
const (
	maxQueuedEventsSoft = 1024
	maxQueuedDataSoft   = 1 << 20
)

// stopReading reports whether Receive must stop consuming input.
func (c *Conn) stopReading() bool {
	return c.phase == PhaseClosed ||
		len(c.out)-c.outHead >= c.cfg.OutputHighWater ||
		c.queuedEvents() >= maxQueuedEventsSoft ||
		len(c.dataArena) >= maxQueuedDataSoft
}

// receive consumes p frame by frame, buffering a frame split across calls.
func (c *Conn) receive(p []byte) int {
	n := 0
	for n < len(p) && !c.stopReading() {
		rest := p[n:]
		if c.phase == PhasePreface {
			n += c.readPreface(rest)
			continue
		}
		if len(c.inbuf) == 0 && len(rest) >= frameHeaderLen {
			h := parseFrameHeader(rest)
			if !c.checkFrameSize(h) {
				return n + frameHeaderLen
			}
			if size := frameHeaderLen + int(h.length); len(rest) >= size {
				c.stats.BytesIn += uint64(size)
				c.processFrame(h, rest[frameHeaderLen:size])
				n += size
				continue
			}
		}
		// Buffer a partial frame: first its header, then its payload.
		need := frameHeaderLen
		if len(c.inbuf) >= frameHeaderLen {
			need += int(parseFrameHeader(c.inbuf).length)
		}
		k := min(need-len(c.inbuf), len(rest))
		if c.inbuf == nil && c.cfg.Buffers != nil {
			c.inbuf = c.cfg.Buffers.Get()
		}
		c.inbuf = append(c.inbuf, rest[:k]...)
		n += k
		if len(c.inbuf) == frameHeaderLen {
			h := parseFrameHeader(c.inbuf)
			if !c.checkFrameSize(h) {
				return n
			}
			need += int(h.length)
		}
		if len(c.inbuf) == need {
			h := parseFrameHeader(c.inbuf)
			c.stats.BytesIn += uint64(need)
			c.processFrame(h, c.inbuf[frameHeaderLen:])
			c.inbuf = c.inbuf[:0]
			if c.cfg.Buffers != nil && c.inbuf != nil {
				// The frame is processed: nothing refers to its bytes.
				c.cfg.Buffers.Put(c.inbuf)
				c.inbuf = nil
			}
		}
	}
	return n
}

// readPreface matches the client preface (RFC 9113 §3.4).
func (c *Conn) readPreface(p []byte) int {
	n := int(c.prefaceN)
	k := min(len(clientPreface)-n, len(p))
	if string(p[:k]) != clientPreface[n:n+k] {
		// §3.4: "Clients and servers MUST treat an invalid connection preface
		// as a connection error of type PROTOCOL_ERROR."
		c.connError(connErr(ErrCodeProtocol, "invalid connection preface (§3.4)"))
		return k
	}
	c.stats.BytesIn += uint64(k)
	c.prefaceN += uint8(k)
	if int(c.prefaceN) == len(clientPreface) {
		c.phase = PhaseSettings
	}
	return k
}

// checkFrameSize refuses a frame longer than our SETTINGS_MAX_FRAME_SIZE
// before its payload is buffered.
func (c *Conn) checkFrameSize(h frameHeader) bool {
	// §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a
	// frame exceeds the size defined in SETTINGS_MAX_FRAME_SIZE". We treat it
	// as a connection error for every type: the payload is not read.
	if h.length > c.cfg.MaxFrameSize {
		c.connError(connErr(ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE (§4.2)"))
		return false
	}
	return true
}

// processFrame dispatches one whole frame and turns the error a handler
// returns into RST_STREAM or GOAWAY.
func (c *Conn) processFrame(h frameHeader, p []byte) {
	c.stats.countFrameIn(h.typ)
	if c.cfg.PingInterval > 0 && c.phase < PhaseClosed {
		c.timers.setAfter(timerPing, c.now, c.cfg.PingInterval)
	}
	var err error
	switch {
	case c.phase == PhaseSettings && (h.typ != FrameSettings || h.has(flagAck)):
		// §3.4: "The first frame sent by the client MUST be a SETTINGS frame
		// ... treat ... as a connection error of type PROTOCOL_ERROR".
		err = connErr(ErrCodeProtocol, "first frame is not SETTINGS (§3.4)")
	case c.inBlock() && (h.typ != FrameContinuation || h.stream != c.hb.stream):
		// §6.10: "Any number of CONTINUATION frames can be sent, as long as the
		// preceding frame is on the same stream and is a HEADERS,
		// PUSH_PROMISE, or CONTINUATION frame without the END_HEADERS flag set";
		// anything else is "a connection error ... of type PROTOCOL_ERROR".
		err = connErr(ErrCodeProtocol, "frame interrupts a header block (§6.10)")
	default:
		err = c.dispatch(h, p)
	}
	if err != nil {
		c.handleError(err)
	}
}

func (c *Conn) dispatch(h frameHeader, p []byte) error {
	switch h.typ {
	case FrameData:
		return c.onData(h, p)
	case FrameHeaders:
		return c.onHeaders(h, p)
	case FramePriority:
		return c.onPriority(h, p)
	case FrameRSTStream:
		return c.onRSTStream(h, p)
	case FrameSettings:
		return c.onSettings(h, p)
	case FramePushPromise:
		// §8.4: "A client cannot push. Thus, servers MUST treat the receipt of
		// a PUSH_PROMISE frame as a connection error of type PROTOCOL_ERROR."
		return connErr(ErrCodeProtocol, "PUSH_PROMISE from a client (§8.4)")
	case FramePing:
		return c.onPing(h, p)
	case FrameGoAway:
		return c.onGoAway(h, p)
	case FrameWindowUpdate:
		return c.onWindowUpdate(h, p)
	case FrameContinuation:
		return c.onContinuation(h, p)
	default:
		// §4.1: "Implementations MUST ignore and discard frames of unknown
		// types." They still cost a glitch token.
		return c.chargeGlitch()
	}
}

// handleError sends RST_STREAM for a *StreamError and GOAWAY for a
// *ConnError.
func (c *Conn) handleError(err error) {
	var se *StreamError
	if errors.As(err, &se) {
		c.streamError(se)
		return
	}
	var ce *ConnError
	if errors.As(err, &ce) {
		c.connError(ce)
		return
	}
	c.connError(connErrorf(ErrCodeInternal, "%v", err))
}

// streamError answers a stream error with RST_STREAM, closes the stream and
// tells the application if it knew the stream.
func (c *Conn) streamError(se *StreamError) {
	c.stats.countError(se.Reason)
	c.stats.StreamErrors++
	if err := c.chargeLocalReset(); err != nil {
		c.connError(err.(*ConnError))
		return
	}
	c.resetStream(se.Stream, se.Code)
	if st := c.streams.get(se.Stream); st != nil {
		if st.delivered {
			c.pushEvent(Event{Kind: EventStreamReset, Stream: se.Stream, Err: se})
		}
		c.closeStream(st)
	}
}

// resetStream writes RST_STREAM and remembers that we reset the stream.
func (c *Conn) resetStream(id StreamID, code ErrCode) {
	c.writeRSTStream(id, code)
	c.streams.markReset(id)
	c.stats.StreamsResetLocal++
}

// onPriority handles PRIORITY (RFC 9113 §6.3). Priorities are parsed and
// ignored: the deprecated RFC 7540 tree is not built (§5.3.2).
func (c *Conn) onPriority(h frameHeader, p []byte) error {
	if err := c.chargeGlitch(); err != nil {
		return err
	}
	// §6.3: "If a PRIORITY frame is received with a stream identifier of 0x00,
	// the recipient MUST respond with a connection error ... PROTOCOL_ERROR."
	if h.stream == 0 {
		return connErr(ErrCodeProtocol, "PRIORITY on stream 0 (§6.3)")
	}
	// §6.4: "RST_STREAM frames MUST NOT be sent for a stream in the "idle"
	// state", so a stream error on an idle stream becomes a connection error.
	idle := h.stream > c.streams.maxClientID || h.stream%2 == 0
	reset := !idle && c.streams.get(h.stream) == nil &&
		(c.streams.wasReset(h.stream) || c.streams.wasPeerReset(h.stream))
	fail := func(code ErrCode, reason string) error {
		switch {
		case idle:
			return connErr(code, reason)
		case reset:
			// §5.4.2: an endpoint "SHOULD NOT send more than one RST_STREAM
			// frame for any stream" and "MUST NOT send a RST_STREAM in
			// response to a RST_STREAM frame": the frame is ignored.
			return nil
		}
		return streamErr(h.stream, code, reason)
	}
	// §6.3: "A PRIORITY frame with a length other than 5 octets MUST be
	// treated as a stream error ... of type FRAME_SIZE_ERROR."
	if len(p) != 5 {
		return fail(ErrCodeFrameSize, "PRIORITY length != 5 (§6.3)")
	}
	// §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat this as
	// a stream error ... of type PROTOCOL_ERROR."
	if StreamID(binary.BigEndian.Uint32(p)&(1<<31-1)) == h.stream {
		return fail(ErrCodeProtocol, "stream depends on itself (§5.3.1)")
	}
	return nil
}

// onRSTStream handles RST_STREAM (RFC 9113 §6.4).
func (c *Conn) onRSTStream(h frameHeader, p []byte) error {
	// §6.4: "A RST_STREAM frame with a length other than 4 octets MUST be
	// treated as a connection error ... of type FRAME_SIZE_ERROR."
	if len(p) != 4 {
		return connErr(ErrCodeFrameSize, "RST_STREAM length != 4 (§6.4)")
	}
	// §6.4: "If a RST_STREAM frame is received with a stream identifier of
	// 0x00, the recipient MUST treat this as a connection error ... PROTOCOL_ERROR."
	if h.stream == 0 {
		return connErr(ErrCodeProtocol, "RST_STREAM on stream 0 (§6.4)")
	}
	st := c.streams.get(h.stream)
	if st == nil {
		// §6.4: "If a RST_STREAM frame identifying an idle stream is received,
		// the recipient MUST treat this as a connection error ... PROTOCOL_ERROR."
		if h.stream > c.streams.maxClientID || h.stream%2 == 0 {
			return connErr(ErrCodeProtocol, "RST_STREAM on an idle stream (§6.4)")
		}
		return nil // already closed
	}
	if err := c.chargeRemoteReset(); err != nil {
		return err
	}
	st.transition(inRecvRST)
	c.streams.markPeerReset(h.stream)
	c.stats.StreamsResetRemote++
	if st.delivered {
		code := ErrCode(binary.BigEndian.Uint32(p))
		c.pushEvent(Event{Kind: EventStreamReset, Stream: h.stream,
			Err: &StreamError{Stream: h.stream, Code: code, Remote: true}})
	}
	c.closeStream(st)
	return nil
}
