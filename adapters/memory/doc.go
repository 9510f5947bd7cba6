// Package memory is the deterministic, in-memory test harness for h2sm: the
// test plays the HTTP/2 client and an [h2sm.Conn] is the server.
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
package memory
