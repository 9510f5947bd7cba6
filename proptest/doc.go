// Package proptest holds the property-based tests of h2sm: stateful
// properties, built with gopter's commands package, that drive one
// h2sm.Conn with random command sequences and check after every command
// what crossed the wire and what reached the application.
//
// # Model
//
// A [Driver] plays both the HTTP/2 client and the application over one
// Conn, created at a fixed epoch (2000-01-01 UTC) with a generated Config
// and client SETTINGS; the Conn never sees the wall clock. The client
// encodes its frames with x/net/http2's Framer and hpack.Encoder. After
// every input and command the Driver drains the Conn as an adapter must
// (Receive, AppendOutgoing, Deadline, NextEvent).
//
// The model is the connection as the client sees it, built only from the
// bytes that cross the wire: the client's bytes exactly as far as Receive
// consumed them, and the server's output, parsed with a strict
// x/net/http2 Framer and an independent hpack.Decoder. It holds the open
// streams and their states, every flow-control window (connection and
// stream, both directions), both sides' SETTINGS (the client's as bounds
// until the server acknowledges them), the HPACK dynamic table sizes, the
// GOAWAY state and the outstanding PINGs, plus what the application was
// told (events) and did (commands).
//
// # Commands
//
// The peer's commands: open a stream (HEADERS with or without END_STREAM,
// split into CONTINUATIONs at random points, padded, with a priority), DATA
// of random sizes with and without padding, trailers, WINDOW_UPDATE,
// RST_STREAM, PING, acknowledging the server's PINGs and SETTINGS,
// SETTINGS with random valid values (unknown identifiers included),
// PRIORITY, frames of unknown types, GOAWAY, and advancing the virtual
// clock (firing every timer on the way, sometimes calling HandleTimeout
// early). The application's: respond (1xx, final, with or without
// END_STREAM), send data of random sizes, trailers, reset, consume (manual
// flow control), graceful shutdown, close, GOAWAY with a code, abort, and
// commands it must not give (misuse). Command parameters are raw random
// numbers that a command resolves against the model when it runs (which
// stream, how much the windows and the content-length allow), so every
// subsequence of a valid sequence is valid and shrinking never produces a
// client that breaks the protocol by accident. The gopter state is what the
// generator needs (the Setup, the mode, the one-off commands generated).
//
// # Properties
//
// Each property is a separate gopter property with its own seed; a run
// fails it when a watched invariant is violated after any command. Every
// property also fails on a panic or a hang (Receive making no progress, a
// timer spinning, output without end).
//
//   - OutputParses: every frame parses with x/net/http2's strict Framer,
//     no frame is larger than the client's SETTINGS_MAX_FRAME_SIZE, every
//     header block decodes with an independent HPACK decoder, and the
//     dynamic table size updates follow the client's
//     SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §4.2).
//   - DataWithinWindows: the server never sends more DATA than the
//     client's connection and stream windows allow (§6.9.1). A DATA frame
//     without payload (END_STREAM alone) consumes no window.
//   - WindowsBounded: the server's WINDOW_UPDATEs and SETTINGS never take
//     a window the client sees above 2^31-1 (§6.9.1).
//   - StreamLifecycle: no frame on an idle or even stream, no response
//     after END_STREAM or on a stream above the GOAWAY's last id, nothing
//     after either side's RST_STREAM, no PUSH_PROMISE (§5.1, §6.8).
//   - ResponseFraming: informational responses, then the final response,
//     then DATA, then trailers with END_STREAM; each header block is what
//     the application wrote (§8.1).
//   - ResponseBody: the body the client receives is, byte for byte, a
//     prefix of what WriteData accepted, and all of it when END_STREAM or
//     the trailers come; EventStreamWritable only follows a short write.
//   - SendLiveness: the Conn sends the body it accepted as far as the
//     client's windows allow, then END_STREAM or the trailers (which no
//     window holds back), and sends EventStreamWritable once a short write
//     has room again.
//   - EventsConsistent: a request's headers event comes before its data
//     events, no event follows a stream's end or reset, request body is a
//     prefix of what the client sent, a remote reset carries the client's
//     code.
//   - RequestEvents: every request under SETTINGS_MAX_CONCURRENT_STREAMS
//     reaches the application with the fields the client sent, every one
//     over it is refused (§5.1.2), all body and END_STREAM reach the
//     application, the client's RST_STREAM is reported.
//   - ConnClosedLast: EventConnClosed comes at most once, last, exactly
//     when the phase is Closed, and no output follows it.
//   - TimerProgress: after HandleTimeout at the deadline, the next
//     deadline is later or absent; HandleTimeout before the deadline
//     changes nothing.
//   - MemoryBounded: the Stats gauges stay within the Config limits after
//     every call, and no stream buffers more than StreamSendBuffer.
//   - CreditReturned: receive credit comes back as body is received (or
//     consumed, with ManualFlowControl), less than 4 KiB held back to batch
//     WINDOW_UPDATEs.
//   - ControlAnswered: every PING and SETTINGS of the client is
//     acknowledged at once, and no ACK answers nothing (§6.5.3, §6.7).
//   - GoAwayRules: the GOAWAY last stream id never increases and covers
//     every request the application got; the connection never closes
//     without GOAWAY; a connection error's code is the GOAWAY's; Shutdown
//     and the client's GOAWAY are answered with a GOAWAY (§6.8).
//   - ConformingPeers: a conforming client and application are never
//     accused: no GOAWAY or RST_STREAM with an error code other than the
//     ones they asked for, no command of theirs refused, ResetStream sends
//     RST_STREAM with its code.
//   - CommandErrors: a command the application must not give (data before
//     the response, on an unknown, reset or ended stream, after the
//     close; an invalid response header) returns the documented error and
//     sends nothing.
//   - Determinism: the same command sequence, run on two Conns side by
//     side, gives byte-identical output (as the client receives it),
//     events and deadlines.
//   - InvalidFrame: one frame from a catalogue of invalid frames (or a
//     random frame) inserted into a valid exchange gets the RST_STREAM or
//     GOAWAY code RFC 9113 requires, or is ignored where the RFC says so;
//     every property that holds for any input still holds.
//   - MutatedByte: one random byte of the client's output flipped: every
//     property that holds for any input still holds.
//
// # Showing that the properties can fail
//
// TestFaultsAreCaught puts a [FrameFilter] between the Conn's output and
// the checker that corrupts what the core emits (drops a stream
// WINDOW_UPDATE, repeats a DATA frame, reorders HEADERS after DATA) and
// checks that the guarding property (CreditReturned, ResponseBody,
// ResponseFraming) fails with the expected violation. The Conn has no fault
// switch.
//
// # Seeds and replay
//
// Every run logs its seed. Replay a failure with the line it prints:
//
//	go test ./proptest -run 'TestProperties/NAME$' -proptest.seed=SEED -proptest.n=N -proptest.len=LEN
//
// or with PROPTEST_SEED, PROPTEST_N and PROPTEST_LEN (the number of
// sequences and their length shape the sequences gopter generates, so a
// replay needs the same values; they default to those of a plain run).
// Each property derives its own seed from SEED and its name, so a
// property replays alone. A shrunk failure prints the
// shrunk command sequence and the readable frame trace of the run up to
// the violation: "##" a command, "->" a frame the client sent as the Conn
// consumed it, "<-" one the server sent (with its decoded header block),
// "ev" an event, "app" a call of the application, "!!" the violation, each
// line prefixed with the virtual time.
//
// # Long runs
//
// The default run is bounded: 200 sequences of up to 100 commands per
// property (40 of up to 50 with -short), the properties one after the
// other; on the 2-core CI machine the package takes about 2 s, and 15 s
// with -race. For a long campaign, raise the number of sequences and
// their length with PROPTEST_N and PROPTEST_LEN (or -proptest.n and
// -proptest.len), lift the test timeout, and loop over seeds (each
// iteration below takes a few minutes):
//
//	for i in $(seq 1 100); do
//		PROPTEST_SEED=$RANDOM$RANDOM PROPTEST_N=5000 PROPTEST_LEN=200 \
//			go test ./proptest -run TestProperties -count=1 -timeout 0 || break
//	done
//
// Each iteration logs its seed (use -v to see it on success); a failure
// prints the seed and the command to replay it. Add PROPTEST_KNOWN_BUGS=1
// to include the properties skipped for known bugs.
//
// # Known bugs
//
// A property that finds a bug in h2sm stays in the suite but is skipped,
// with a message starting "BUG:", until the bug is fixed (knownBugs in
// proptest_test.go). PROPTEST_KNOWN_BUGS=1 runs them anyway.
package proptest
