package h2sm

import "encoding/binary"

// pingState tracks the PINGs we sent. Payloads come from a counter: the core
// uses no randomness.
type pingState struct {
	counter   uint64
	keepalive uint64 // payload of the outstanding keepalive PING, 0 if none
	shutdown  uint64 // payload of the graceful-shutdown PING, 0 if none
}

func (p *pingState) nextPayload() uint64 {
	p.counter++
	return p.counter
}

// onPing handles a PING frame (RFC 9113 §6.7).
func (c *Conn) onPing(h frameHeader, p []byte) error {
	// §6.7: "Receipt of a PING frame with a length field value other than 8
	// MUST be treated as a connection error ... of type FRAME_SIZE_ERROR."
	if len(p) != 8 {
		return connErr(ErrCodeFrameSize, "PING length != 8 (§6.7)")
	}
	// §6.7: "If a PING frame is received with a Stream Identifier field value
	// other than 0x00, the recipient MUST respond with a connection error ...
	// of type PROTOCOL_ERROR."
	if h.stream != 0 {
		return connErr(ErrCodeProtocol, "PING on a stream (§6.7)")
	}
	if h.has(flagAck) {
		// §6.7: "An endpoint MUST NOT respond to PING frames containing this flag."
		v := binary.BigEndian.Uint64(p)
		switch {
		case v == 0:
		case v == c.ping.keepalive:
			c.ping.keepalive = 0
			c.timers.stop(timerPingTimeout)
		case v == c.ping.shutdown:
			c.ping.shutdown = 0
			c.goAwayFinal()
		}
		return nil
	}
	if err := c.chargeGlitch(); err != nil {
		return err
	}
	// §6.7: "Receivers of a PING frame that does not include an ACK flag MUST
	// send a PING frame with the ACK flag set in response, with an identical
	// frame payload."
	c.writePing(true, p)
	return nil
}

// pingKeepalive sends a keepalive PING when the peer has been silent for
// PingInterval, unless one is already outstanding.
func (c *Conn) pingKeepalive() {
	if c.phase >= PhaseClosed || c.phase < PhaseOpen || c.ping.keepalive != 0 {
		return
	}
	c.ping.keepalive = c.ping.nextPayload()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], c.ping.keepalive)
	c.writePing(false, b[:])
	c.timers.setAfter(timerPingTimeout, c.now, c.cfg.PingTimeout)
}
