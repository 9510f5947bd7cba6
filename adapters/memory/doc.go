// Package memory runs h2sm in memory, for tests. It has two tools:
//
//   - [Peer], the deterministic frame-level harness: the test plays the
//     HTTP/2 client, frame by frame, and an [h2sm.Conn] is the server.
//   - [Server], an in-memory HTTP/2 client for any http.Handler, like
//     net/http/httptest but with HTTP/2 semantics (see "In-memory client").
//
// A [Peer] owns a Conn, a virtual [Clock] that starts at [Epoch], and an
// independent client codec: frames are encoded with golang.org/x/net/http2's
// Framer and hpack.Encoder, and the server's output is decoded with a second
// Framer and hpack.Decoder, so that a symmetrical bug in h2sm's own codec
// cannot cancel itself out.
//
//	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxConcurrentStreams = 1 }))
//	tc.Handshake()
//	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
//	tc.WantEvent("request reaches the application", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
//	tc.WriteHeaders(3, memory.GET("/"), memory.EndStream)
//	tc.WantRSTStream("over the stream limit", 3, h2sm.ErrCodeRefusedStream)
//
// # Driving
//
// The Peer is the reference driver of a Conn. After every input (each Write*
// method, [Peer.Advance], [Peer.AdvanceToTimer]) and every command wrapper
// ([Peer.Respond], [Peer.SendData], [Peer.Reset], ...), it drains the Conn as
// an adapter must: Receive on the input not yet consumed, then
// AppendOutgoing, Deadline and NextEvent until no event is left; input that
// Receive did not take (backpressure) is offered again after the drain. With
// [Peer.SetReading](false) the client stops reading: AppendOutgoing is not
// called, the server's output piles up inside the Conn, and input the Conn
// refuses stays queued until reading resumes. Input written after the
// connection closed is dropped.
//
// Frames and events the Conn produced wait in the Peer until the test reads
// them with the Want* methods, [Peer.ReadFrame] or [Peer.NextEvent]. At the
// end of the test (t.Cleanup) any frame or event nobody read fails the test;
// call [Peer.Discard] to drop what a test deliberately leaves.
//
// # Oracles
//
// Besides the explicit expectations, the Peer checks every frame the server
// sends: it must parse with x/net/http2's strict Framer (so HEADERS and
// CONTINUATION are contiguous); header blocks must decode with the client's
// hpack.Decoder; no frame may be larger than the SETTINGS_MAX_FRAME_SIZE
// the client advertised (16384 by default); no DATA frame may overrun the
// flow-control windows the client granted. Until the server acknowledges a
// SETTINGS frame, the larger of the old and new values is allowed, so a
// correct server never fails these checks. No event may follow
// [h2sm.EventConnClosed], and an event kind the harness does not know fails
// the test (it must be taught the new kind).
//
// # Trace
//
// The Peer keeps a trace of everything that happened, one line per frame,
// event, command or timer, each prefixed with the virtual time since Epoch:
//
//	+0.000s  <- SETTINGS MAX_CONCURRENT_STREAMS=100 INITIAL_WINDOW_SIZE=1048576 MAX_HEADER_LIST_SIZE=65536
//	+0.000s  -> PREFACE
//	+0.000s  -> HEADERS stream=1 END_STREAM END_HEADERS len=13 :method=GET :scheme=https :authority=example.com :path=/
//	+0.000s  ev Request stream=1 END_STREAM method=GET scheme=https authority=example.com path=/
//	+0.000s  app WriteHeaders stream=1 :status=200
//	+0.000s     deadline +180.000s
//	+180.000s timer fired
//
// "->" is a frame the client sent, "<-" one the server sent (header blocks
// decoded on the frame that ends them), "ev" an event, "app" a command the
// application gave the Conn, "deadline" a change of the Conn's Deadline and
// "#" a Note. The trace is printed with t.Log when the test fails, and
// [Peer.Trace] returns it for golden tests: the rendering is deterministic
// (settings sorted by identifier, no pointers, no wall-clock time).
//
// # In-memory client
//
// [NewServer] serves an http.Handler over HTTP/2 with no socket, and
// [Server.Client] returns the *http.Client to test it with:
//
//	srv := memory.NewServer(handler)
//	defer srv.Close()
//	resp, err := srv.Client().Get(srv.URL() + "/hello")
//
// Both sides are real: the client is net/http's own HTTP/2 client (an
// *http.Transport speaking cleartext HTTP/2, [Server.Transport]), and each
// of its connections is served by an [h2sm.Conn] through the same bridge to
// net/http that adapters/netconn and adapters/loop use. So a test sees what
// a client of those servers sees: streams multiplexed on one connection,
// response and request trailers, RST_STREAM when a handler panics with
// http.ErrAbortHandler or the client cancels a request (the handler's
// r.Context() is cancelled), flow control that holds a handler's Write
// back until the client reads, GOAWAY on Shutdown. [Server.Stats] returns
// each connection's phase and h2sm.Stats, the handlers running and the
// bytes the client has not read yet.
//
// The connection is a pair of in-memory ends. Bytes the client writes are
// consumed by the server's core inside the client's Write, so when a
// client call that sent something returns, the server has processed it.
// The server's output waits for the client's reader in a buffer the
// client's flow-control windows bound. The client dials one connection at
// a time (MaxConnsPerHost 1, as a browser keeps one connection per origin)
// and opens another when the server's MaxConcurrentStreams is reached or
// the connection closed. The server has no goroutine of its own: handlers
// run in goroutines, as with net/http, and Close waits for them.
//
// With [WithClock], the cores take their time from a virtual [Clock] and
// their timers (idle timeout, graceful shutdown, stalled streams,
// keepalive PINGs) fire inside [Clock.Advance], in time order, before it
// returns; a test of a three-minute timeout takes no time:
//
//	clock := memory.NewClock()
//	srv := memory.NewServer(handler, memory.WithClock(clock))
//	... // a request
//	clock.Advance(srv.Config().IdleTimeout) // GOAWAY; the connection is closed
//
// The client, though, runs in its own goroutines in real time: what it
// sends in answer to a timer's frames (a PING ACK) arrives when it does, so
// advance the clock by amounts that hold whether or not the answer has
// arrived yet. Without WithClock the server uses real time, and it also
// works inside a testing/synctest bubble.
package memory
