package proptest

import (
	"bytes"
	"errors"
	"slices"

	"github.com/h2sm/h2sm/h2sm"
)

// This file checks the events the Conn emitted.

// event checks one event the Conn emitted and records it.
func (m *model) event(ev h2sm.Event) {
	d := m.d
	line := renderEvent(ev)
	d.stepEvents = append(d.stepEvents, line)
	d.tracef("ev %s", line)
	if m.closedEv {
		d.fail(PropConnClosedLast, "event after EventConnClosed: %s", line)
	}
	bad := func(format string, args ...any) {
		d.fail(PropEventsConsistent, "%v stream=%d: "+format, append([]any{ev.Kind, ev.Stream}, args...)...)
	}
	var r *streamRec
	if ev.Stream != 0 {
		r = m.stream(uint32(ev.Stream))
	}
	switch ev.Kind {
	case h2sm.EventRequest:
		if !r.requested {
			bad("the client sent no request on the stream")
		}
		if r.evRequest {
			bad("second request event")
		}
		if m.goAwaySent && r.id > m.goAwayLast {
			d.fail(PropGoAwayRules, "request %d delivered above the last stream id %d of the server's GOAWAY (§6.8)", r.id, m.goAwayLast)
		}
		r.evRequest, r.evEvent, r.evEnded = true, ev, ev.EndStream
		if ev.EndStream && !r.clientEnded {
			bad("EndStream, but the client did not end the stream")
		}
	case h2sm.EventData:
		switch {
		case !r.evRequest:
			bad("body before the request headers")
		case r.evEnded:
			bad("body after EndStream")
		case r.evReset || r.appReset:
			bad("body after the stream was reset")
		}
		r.evData = append(r.evData, ev.Data...)
		if !bytes.HasPrefix(r.reqBody, r.evData) {
			bad("the application got %d body bytes that are not a prefix of the %d the client sent (differ at offset %d)",
				len(r.evData), len(r.reqBody), firstDiff(r.evData, r.reqBody))
		}
		if ev.EndStream {
			r.evEnded = true
			if !r.clientEnded {
				bad("EndStream, but the client did not end the stream")
			} else if len(r.evData) != len(r.reqBody) {
				bad("EndStream after %d of the %d body bytes the client sent", len(r.evData), len(r.reqBody))
			}
		}
		if d.cfg.ManualFlowControl {
			r.unconsumed += len(ev.Data)
		}
	case h2sm.EventTrailers:
		switch {
		case !r.evRequest:
			bad("trailers before the request headers")
		case r.evEnded:
			bad("trailers after EndStream")
		case r.evReset || r.appReset:
			bad("trailers after the stream was reset")
		case !r.clientTrailers:
			bad("the client sent no trailers")
		case !ev.EndStream:
			bad("trailers without EndStream")
		}
		r.evEnded = true
		if len(r.evData) != len(r.reqBody) {
			bad("trailers after %d of the %d body bytes the client sent", len(r.evData), len(r.reqBody))
		}
	case h2sm.EventStreamReset:
		switch {
		case !r.evRequest:
			bad("reset of a stream the application never saw")
		case r.evReset:
			bad("second reset event")
		case r.appReset:
			bad("reset event after the application's ResetStream")
		case r.evEnded && r.srvEnded:
			bad("reset event after the stream closed")
		}
		r.evReset = true
		var se *h2sm.StreamError
		if !errors.As(ev.Err, &se) {
			bad("Err is %T, not a *StreamError", ev.Err)
			return
		}
		if se.Remote {
			if !r.clientRST {
				bad("remote reset, but the client sent no RST_STREAM")
			} else if se.Code != r.clientRSTCode {
				bad("remote reset with %v, the client sent %v", se.Code, r.clientRSTCode)
			}
			return
		}
		r.evLocalReset = true
		if d.valid() && !(se.Code == h2sm.ErrCodeCancel && len(r.appBody) > len(r.srvBody)) {
			d.fail(PropConformingPeers, "stream %d reset with %v for a conforming client: %v", r.id, se.Code, se)
		}
	case h2sm.EventStreamWritable:
		switch {
		case !r.evRequest || r.evReset || r.appReset:
			bad("writable event for a stream the application cannot write")
		case !r.wantWritable:
			d.fail(PropResponseBody, "stream %d: EventStreamWritable without a WriteData that accepted less than offered", r.id)
		}
		r.wantWritable = false
	case h2sm.EventGoAwayReceived:
		if !m.clientGoAway {
			bad("the client sent no GOAWAY")
		}
	case h2sm.EventConnClosed:
		m.closedEv = true
		if !d.conn.Closed() {
			d.fail(PropConnClosedLast, "EventConnClosed while the phase is %v", d.conn.Phase())
		}
		m.connClosed(ev.Err)
	default:
		bad("unknown event kind")
	}
}

// connClosed checks the reason of EventConnClosed.
func (m *model) connClosed(err error) {
	d := m.d
	var ce *h2sm.ConnError
	isConnErr := errors.As(err, &ce)
	if m.aborted {
		if err != errTransport {
			d.fail(PropEventsConsistent, "EventConnClosed after Abort carries %v, not the error given to Abort", err)
		}
		return
	}
	if err != nil && !isConnErr {
		d.fail(PropEventsConsistent, "EventConnClosed carries %T, not a *ConnError", err)
		return
	}
	if isConnErr && ce.Remote {
		return // the client's GOAWAY with an error: no GOAWAY is owed
	}
	if !m.goAwaySent {
		d.fail(PropGoAwayRules, "the connection closed (%v) without sending GOAWAY (§6.8)", err)
	}
	if isConnErr && ce.Code != h2sm.ErrCodeNo {
		sent := false
		for _, c := range m.goAwayCode {
			sent = sent || c == ce.Code
		}
		if !sent {
			d.fail(PropGoAwayRules, "connection error %v, but no GOAWAY carried that code (§5.4.1)", ce.Code)
		}
	}
	if d.valid() && isConnErr && ce.Code != h2sm.ErrCodeNo && !m.excused(ce.Code) && !slices.Contains(m.appCodes, ce.Code) {
		d.fail(PropConformingPeers, "the connection closed with %v for a conforming client: %v", ce.Code, ce)
	}
}
