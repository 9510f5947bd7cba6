// Package h2sm is a sans-IO HTTP/2 server connection: one Conn is the
// server side of one HTTP/2 connection (RFC 9113, HPACK per RFC 7541) as a
// pure state machine. It consumes received bytes, the current time and the
// application's commands, and emits bytes to send, the next timer deadline
// and events. It has no goroutines, sockets, locks, clock or randomness, so
// the same core runs under a goroutine per connection (adapters/netconn), an
// event loop (adapters/loop), or an in-memory test harness (adapters/memory).
//
// # Contract
//
// The methods fall into four groups:
//
//	(A) getters   Phase, Closed, Config, Stats
//	(B) inputs    Receive, HandleTimeout, Abort
//	(C) commands  WriteHeaders, WriteData, ResetStream, Consumed,
//	              Shutdown, GoAway, Close
//	(D) outputs   AppendOutgoing (or Outgoing + Advance), Deadline, NextEvent
//
// After every (B) or (C) call, drain (D) in the order AppendOutgoing, Deadline, NextEvent:
//
//	for {
//		n := c.Receive(now, buf)      // or HandleTimeout, or a command
//		out = c.AppendOutgoing(out[:0])
//		write(out)                    // to the transport
//		deadline, ok := c.Deadline()  // re-arm the single timer
//		for ev, ok := c.NextEvent(); ok; ev, ok = c.NextEvent() {
//			handle(ev)                // may issue commands: drain again after them
//		}
//		buf = buf[n:]                 // offer what was not consumed again
//	}
//
// Receive may consume fewer bytes than offered: it stops while the output
// not yet taken exceeds Config.OutputHighWater or too many events wait
// (backpressure). The driver drains and offers the rest again. Response body
// is framed only as the driver pulls output, so a driver should call
// AppendOutgoing (or Outgoing) only when the transport can take more; a
// driver that buffers without limit outside the Conn defeats this.
//
// When Phase is PhaseClosed, the driver writes whatever output is left and
// closes the transport. EventConnClosed is always the last event.
//
// # Time and concurrency
//
// Every input and command takes now. now must be non-decreasing; a smaller
// value is treated as the last one. HandleTimeout must be called at or after
// Deadline; a call before it is harmless. A Conn is not safe for concurrent
// use: one goroutine owns it, or a lock guards every call.
//
// # Buffers
//
// Slices inside returned events are valid until the next method call on the
// Conn; copy what must outlive it. Slices passed to Receive, WriteData and
// WriteHeaders are not retained. AppendOutgoing appends to the caller's
// buffer; Outgoing returns a view valid until the next method call.
//
// # Errors
//
// The peer's misbehaviour never comes back as a Go error: it becomes
// RST_STREAM or GOAWAY bytes plus an event carrying a *StreamError or a
// *ConnError. Go errors returned by commands are for caller misuse; check
// them with errors.Is against ErrConnClosed, ErrStreamClosed,
// ErrUnknownStream, ErrInvalidHeader and ErrHeadersNotSent.
//
// # Flow control
//
// By default receive credit returns to the peer as DATA is received, with
// WINDOW_UPDATE batched. With Config.ManualFlowControl, credit returns only
// through Consumed, so the application's reading paces the client. Sending
// follows the peer's windows and SETTINGS: WriteData buffers up to
// Config.StreamSendBuffer per stream and EventStreamWritable says when there
// is room again. Streams with body to send are served one frame each in turn.
//
// # RFC coverage
//
// Client preface (§3.4); frame format and size (§4); stream states (§5.1,
// an explicit table), stream identifiers (§5.1.1), concurrency (§5.1.2);
// connection and stream flow control (§5.2, §6.9); error handling (§5.4);
// every frame type of §6, unknown types and flags ignored; HPACK through
// golang.org/x/net/http2/hpack, decoded fragment by fragment; request
// validation of §8.1-§8.3 and CONNECT (§8.5); extended CONNECT (RFC 8441)
// when enabled; graceful shutdown with two GOAWAYs (§6.8).
//
// # Limitations
//
// The Conn is a server only. It never sends PUSH_PROMISE (server push is not
// implemented). RFC 7540 priorities are parsed and ignored; streams are
// served round-robin. The Upgrade: h2c mechanism is not supported (§3.1
// deprecates it); cleartext needs prior knowledge.
package h2sm
