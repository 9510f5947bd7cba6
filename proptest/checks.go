package proptest

import (
	"bytes"
)

// checkAfterStep runs the checks that look at the whole connection once a
// step is fully drained.
func (d *Driver) checkAfterStep(wasClosed bool) {
	m := &d.m
	closed := d.conn.Closed()
	if closed != m.closedEv {
		d.fail(PropConnClosedLast, "phase %v, but EventConnClosed seen=%v", d.conn.Phase(), m.closedEv)
	}
	if wasClosed && !closed {
		d.fail(PropConnClosedLast, "the connection reopened: phase %v", d.conn.Phase())
	}
	if closed || d.dead {
		return
	}
	for _, r := range m.order {
		if r.appReset || r.srvRST || r.clientRST {
			continue
		}
		if n := len(r.appBody) - len(r.srvBody); n > d.cfg.StreamSendBuffer {
			d.fail(PropMemoryBounded, "stream %d holds %d bytes of response body > StreamSendBuffer %d", r.id, n, d.cfg.StreamSendBuffer)
		}
	}
	if m.outBroken || m.inDead || m.hpackBad || !d.valid() {
		return
	}
	d.checkControlAnswered()
	d.checkDelivered()
	d.checkCredit()
	d.checkSendLiveness()
}

// checkControlAnswered: every PING and SETTINGS of the client is
// acknowledged at once (RFC 9113 §6.7, §6.5.3).
func (d *Driver) checkControlAnswered() {
	m := &d.m
	if len(m.cliPings) > 0 {
		d.fail(PropControlAnswered, "%d PINGs not acknowledged (§6.7), first %x", len(m.cliPings), m.cliPings[0])
	}
	if m.cliAwaiting > 0 {
		d.fail(PropControlAnswered, "%d SETTINGS frames not acknowledged (§6.5.3)", m.cliAwaiting)
	}
}

// checkDelivered: every request byte and END_STREAM the client sent on a
// stream the application knows has reached the application.
func (d *Driver) checkDelivered() {
	for _, r := range d.m.order {
		if !r.evRequest || r.appReset || r.evLocalReset {
			continue
		}
		if !bytes.Equal(r.evData, r.reqBody) {
			d.fail(PropRequestEvents, "stream %d: the application got %d of the %d body bytes the client sent", r.id, len(r.evData), len(r.reqBody))
		}
		if r.clientEnded && !r.evEnded && !r.evReset {
			d.fail(PropRequestEvents, "stream %d: the client's END_STREAM did not reach the application", r.id)
		}
	}
}

// checkCredit: the Conn returns receive credit as body is received (or,
// with ManualFlowControl, consumed), holding back less than creditSlack to
// batch its WINDOW_UPDATEs. A lost WINDOW_UPDATE shows here.
func (d *Driver) checkCredit() {
	m := &d.m
	unconsumed := 0
	for _, r := range m.order {
		unconsumed += r.unconsumed
	}
	target := int64(d.cfg.ConnWindowSize)
	if held := target - m.clientConnWin() - int64(unconsumed); held >= creditSlack {
		d.fail(PropCreditReturned, "connection: window %d of %d with %d bytes unconsumed: %d bytes of credit held back",
			m.clientConnWin(), target, unconsumed, held)
	}
	for _, r := range m.order {
		if !r.evRequest || r.clientEnded || r.clientRST || r.srvRST || r.appReset || r.evReset {
			continue
		}
		target := m.srv.initial
		if held := target - m.clientStreamWin(r) - int64(r.unconsumed); held >= creditSlack {
			d.fail(PropCreditReturned, "stream %d: window %d of %d with %d bytes unconsumed: %d bytes of credit held back",
				r.id, m.clientStreamWin(r), target, r.unconsumed, held)
		}
	}
}

// checkSendLiveness: the Conn sends the response body it accepted as far
// as the client's windows allow, then END_STREAM or the trailers (which no
// window holds back), and says when a stream has room again.
func (d *Driver) checkSendLiveness() {
	m := &d.m
	for _, r := range m.order {
		if !r.evRequest || r.appReset || r.srvRST || r.clientRST || r.evReset {
			continue
		}
		pending := len(r.appBody) - len(r.srvBody)
		connWin, stWin := m.serverConnWin(), m.serverStreamWin(r)
		switch {
		case pending > 0 && connWin > 0 && stWin > 0:
			d.fail(PropSendLiveness, "stream %d: %d bytes of body held back although both windows are open (connection %d, stream %d)",
				r.id, pending, connWin, stWin)
		case pending == 0 && r.appTrailers && !r.srvTrailers:
			d.fail(PropSendLiveness, "stream %d: the trailers were not sent after the body", r.id)
		case pending == 0 && r.appEnded && !r.appTrailers && !r.srvEnded:
			d.fail(PropSendLiveness, "stream %d: END_STREAM was not sent after the body", r.id)
		}
		// Once the application ended its side (END_STREAM or trailers), no
		// event follows for the stream, EventStreamWritable included.
		if r.wantWritable && !r.appEnded && !r.appTrailers && 2*pending <= d.cfg.StreamSendBuffer {
			d.fail(PropSendLiveness, "stream %d: no EventStreamWritable although only %d bytes are buffered", r.id, pending)
		}
	}
}
