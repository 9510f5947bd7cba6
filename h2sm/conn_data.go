package h2sm

// onData handles a DATA frame (RFC 9113 §6.1).
func (c *Conn) onData(h frameHeader, p []byte) error {
	// §6.1: "If a DATA frame is received whose Stream Identifier field is 0x00,
	// the recipient MUST respond with a connection error ... PROTOCOL_ERROR."
	if h.stream == 0 {
		return connErr(ErrCodeProtocol, "DATA on stream 0 (§6.1)")
	}
	// §4.2: a frame "too small to contain mandatory frame data" is a
	// FRAME_SIZE_ERROR: PADDED needs its Pad Length octet.
	if h.has(flagPadded) && len(p) == 0 {
		return connErr(ErrCodeFrameSize, "PADDED DATA without a Pad Length (§4.2)")
	}
	data, _, ok := stripPadding(h, p, 0)
	if !ok {
		return connErr(ErrCodeProtocol, "DATA padding too long (§6.1)")
	}
	// §6.9: "The entire DATA frame payload is included in flow control,
	// including the Pad Length and Padding fields if present."
	if !c.inflow.take(len(p)) {
		return connErr(ErrCodeFlowControl, "connection receive window exceeded (§6.9.1)")
	}
	end := h.has(flagEndStream)
	st := c.streams.get(h.stream)
	if st == nil {
		c.creditConn(len(p)) // nobody will consume it
		switch {
		case h.stream > c.streams.maxClientID || h.stream%2 == 0:
			// §5.1 idle: only HEADERS or PRIORITY may be received.
			return connErr(ErrCodeProtocol, "DATA on an idle stream (§5.1)")
		case c.streams.wasReset(h.stream), c.goAway.ignored(h.stream), !c.streams.inWindow(h.stream):
			// §5.1 closed: after we sent RST_STREAM, frames the peer had
			// already sent are discarded, their DATA still counting toward the
			// connection window (credited above). For a stream older than the
			// id window we no longer know whether we reset it, so its frames
			// are discarded too rather than taken as an error.
			return nil
		default:
			// §5.1 closed: "An endpoint MAY treat receipt of any other type of
			// frame on a closed stream as a connection error ... of type
			// STREAM_CLOSED".
			return connErr(ErrCodeStreamClosed, "DATA on a closed stream (§5.1)")
		}
	}
	in := inRecvData
	if end {
		in = inRecvDataES
	}
	if t := st.transition(in); t.violation != violationNone {
		c.creditConn(len(p))
		return streamErr(h.stream, t.code, "DATA after END_STREAM (§5.1)")
	}
	if !st.inflow.take(len(p)) {
		c.creditConn(len(p))
		return streamErr(h.stream, ErrCodeFlowControl, "stream receive window exceeded (§6.9.1)")
	}
	// Padding is never seen by the application: its credit returns now.
	if pad := len(p) - len(data); pad > 0 {
		c.creditConn(pad)
		c.creditStream(st, pad)
	}
	if len(data) == 0 && !end {
		// Empty frames cost work but carry nothing (CVE-2019-9518).
		return c.chargeEmptyFrame()
	}
	// §8.1.1: "A request or response is also malformed if the value of a
	// content-length header field does not equal the sum of the DATA frame
	// payload lengths that form the content."
	st.recvBody += int64(len(data))
	if st.contentLength >= 0 && (st.recvBody > st.contentLength || end && st.recvBody != st.contentLength) {
		c.creditConn(len(data))
		return streamErr(h.stream, ErrCodeProtocol, "body length differs from content-length (§8.1.1)")
	}
	if !c.cfg.ManualFlowControl {
		c.creditConn(len(data))
		c.creditStream(st, len(data))
	}
	if len(data) > 0 || end {
		start := len(c.dataArena)
		c.dataArena = append(c.dataArena, data...)
		c.pushEvent(Event{Kind: EventData, Stream: h.stream, Data: c.dataArena[start:len(c.dataArena):len(c.dataArena)], EndStream: end})
	}
	if st.state == stateClosed {
		c.closeStream(st)
	}
	return nil
}
