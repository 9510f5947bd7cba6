package h2sm_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Frame-level scenarios for stream identifiers and states (RFC 9113 §5.1),
// RST_STREAM, PRIORITY, concurrency, unknown frames and frame sizes.

func TestConnStreamsEvenID(t *testing.T) {
	tc := scPeer(t)
	scGet(t, tc, 1, "/")
	tc.WriteHeaders(2, memory.GET("/"), memory.EndStream)
	scWantConnError(t, tc, "client streams are odd (§5.1.1)", 1, h2sm.ErrCodeProtocol)
}

func TestConnStreamsHeadersOnStreamZero(t *testing.T) {
	tc := scPeer(t)
	tc.WriteHeaders(0, memory.GET("/"), memory.EndStream)
	scWantConnError(t, tc, "HEADERS on stream 0 (§6.2)", 0, h2sm.ErrCodeProtocol)
}

func TestConnStreamsDecreasingID(t *testing.T) {
	// §5.1.1: "An endpoint that receives an unexpected stream identifier MUST
	// respond with a connection error ... of type PROTOCOL_ERROR" (h2spec
	// 5.1.1/2): stream 3 was skipped, never opened.
	tc := scPeer(t)
	tc.WriteHeaders(5, memory.GET("/"), memory.EndStream)
	tc.WantEvent("stream 5", h2sm.Event{Kind: h2sm.EventRequest, Stream: 5, EndStream: true})
	tc.WriteHeaders(3, memory.GET("/"), memory.EndStream)
	scWantConnError(t, tc, "a lower, never used stream id", 5, h2sm.ErrCodeProtocol)
}

func TestConnStreamsDecreasingIDWhileOpen(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 7)
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	scWantConnError(t, tc, "a lower id while a higher stream is open", 7, h2sm.ErrCodeProtocol)
}

func TestConnStreamsHeadersOnClosedStream(t *testing.T) {
	// §5.1 closed: "An endpoint MAY treat receipt of any other type of frame
	// on a closed stream as a connection error ... of type STREAM_CLOSED"
	// (h2spec 5.1/12).
	tc := scPeer(t)
	scGet(t, tc, 1, "/")
	tc.Respond(1, 200, true)
	tc.WantFrame("stream 1 ends both ways", memory.Headers{Stream: 1, EndStream: true})
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	scWantConnError(t, tc, "HEADERS reusing a closed stream", 1, h2sm.ErrCodeStreamClosed)
}

func TestConnStreamsHeadersOnStreamClientReset(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1)
	tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
	tc.WantEvent("client reset", h2sm.Event{Kind: h2sm.EventStreamReset, Stream: 1})
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	scWantConnError(t, tc, "HEADERS on a stream the client reset", 1, h2sm.ErrCodeStreamClosed)
}

func TestConnStreamsIdleFrames(t *testing.T) {
	tests := []struct {
		name string
		send func(tc *memory.Peer)
	}{
		{"DATA on an idle stream", func(tc *memory.Peer) { tc.WriteData(3, []byte("x"), false) }},
		{"DATA on an even stream", func(tc *memory.Peer) { tc.WriteData(2, []byte("x"), false) }},
		{"empty DATA with END_STREAM on an idle stream", func(tc *memory.Peer) { tc.WriteData(5, nil, true) }},
		{"RST_STREAM on an idle stream", func(tc *memory.Peer) { tc.WriteRSTStream(3, h2sm.ErrCodeCancel) }},
		{"RST_STREAM on an even stream", func(tc *memory.Peer) { tc.WriteRSTStream(2, h2sm.ErrCodeCancel) }},
		{"WINDOW_UPDATE on an idle stream", func(tc *memory.Peer) { tc.WriteWindowUpdate(3, 100) }},
		{"WINDOW_UPDATE on an even stream", func(tc *memory.Peer) { tc.WriteWindowUpdate(2, 100) }},
		{"CONTINUATION on an idle stream", func(tc *memory.Peer) { tc.WriteContinuation(3, true, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scGet(t, tc, 1, "/")
			tt.send(tc)
			// §5.1 idle: "Receiving any frame other than HEADERS or PRIORITY on a
			// stream in this state MUST be treated as a connection error ... of
			// type PROTOCOL_ERROR."
			scWantConnError(t, tc, tt.name+" (§5.1)", 1, h2sm.ErrCodeProtocol)
		})
	}
}

func TestConnStreamsPriorityOnIdleStream(t *testing.T) {
	tc := scPeer(t)
	tc.WritePriority(5, 0, 15, false)
	tc.WritePriority(9, 5, 200, true)
	tc.WritePriority(2, 0, 15, false) // even: a stream we could have pushed
	tc.WantIdle("PRIORITY may be sent on idle streams (§5.1, §6.3)")
	// The idle streams are still idle: lower ids may still be opened.
	scGet(t, tc, 3, "/three")
	scGet(t, tc, 5, "/five")
	tc.WantIdle("nothing else")
}

func TestConnStreamsHalfClosedRemote(t *testing.T) {
	// §5.1 half-closed (remote): "If an endpoint receives additional frames,
	// other than WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is
	// in this state, it MUST respond with a stream error ... STREAM_CLOSED."
	tests := []struct {
		name string
		send func(tc *memory.Peer)
	}{
		{"DATA", func(tc *memory.Peer) { tc.WriteData(1, []byte("late"), false) }},
		{"DATA with END_STREAM", func(tc *memory.Peer) { tc.WriteData(1, []byte("late"), true) }},
		{"empty DATA with END_STREAM", func(tc *memory.Peer) { tc.WriteData(1, nil, true) }},
		{"HEADERS with END_STREAM", func(tc *memory.Peer) { tc.WriteHeaders(1, memory.Fields("x-t", "1"), memory.EndStream) }},
		{"HEADERS without END_STREAM", func(tc *memory.Peer) { tc.WriteHeaders(1, memory.Fields("x-t", "1")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scGet(t, tc, 1, "/")
			tc.WriteWindowUpdate(1, 1000)
			tc.WritePriority(1, 0, 7, false)
			tc.WantIdle("WINDOW_UPDATE and PRIORITY are fine in half-closed (remote)")
			tt.send(tc)
			scWantStreamReset(t, tc, tt.name+" after END_STREAM", 1, h2sm.ErrCodeStreamClosed)
			tc.WantIdle("nothing else")
			tc.Do(func(c *h2sm.Conn, now time.Time) {
				if err := c.WriteHeaders(now, 1, memory.Fields(":status", "200"), true); !errors.Is(err, h2sm.ErrStreamClosed) {
					t.Errorf("WriteHeaders on the reset stream = %v, want ErrStreamClosed", err)
				}
			})
			scWantUsable(t, tc, 3)
		})
	}
}

func TestConnStreamsHalfClosedRemoteHPACKSync(t *testing.T) {
	// The rejected HEADERS is decoded anyway: the next block refers to the
	// entry it added.
	tc := scPeer(t)
	scGet(t, tc, 1, "/")
	fields := memory.Fields("x-new-entry", "value-1")
	tc.WriteHeaders(1, fields, memory.EndStream)
	scWantStreamReset(t, tc, "HEADERS after END_STREAM", 1, h2sm.ErrCodeStreamClosed)
	tc.WriteHeaders(3, memory.Request("GET", "/", fields...), memory.EndStream)
	tc.WantEvent("the next request decodes", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Fields: fields})
}

func TestConnStreamsClosed(t *testing.T) {
	// A stream that ended both ways and is no longer tracked.
	closed := func(t *testing.T) *memory.Peer {
		tc := scPeer(t)
		scGet(t, tc, 1, "/")
		tc.Respond(1, 200, true)
		tc.WantFrame("response", memory.Headers{Stream: 1, EndStream: true})
		scGet(t, tc, 3, "/")
		return tc
	}
	t.Run("WINDOW_UPDATE, RST_STREAM and PRIORITY are ignored", func(t *testing.T) {
		tc := closed(t)
		// §5.1 closed: WINDOW_UPDATE or RST_STREAM may arrive "in the time
		// before the peer receives and processes the frame that closes the
		// stream"; PRIORITY "can be sent and received in any stream state".
		tc.WriteWindowUpdate(1, 100)
		tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
		tc.WritePriority(1, 3, 15, false)
		tc.WantIdle("frames allowed on a closed stream change nothing")
		scWantUsable(t, tc, 5)
	})
	t.Run("DATA", func(t *testing.T) {
		tc := closed(t)
		tc.WriteData(1, []byte("late"), false)
		// §5.1 closed: "An endpoint MAY treat receipt of any other type of
		// frame on a closed stream as a connection error ... STREAM_CLOSED".
		scWantConnError(t, tc, "DATA after both sides ended (h2spec 5.1/11)", 3, h2sm.ErrCodeStreamClosed)
	})
	t.Run("HEADERS", func(t *testing.T) {
		tc := closed(t)
		tc.WriteHeaders(1, memory.Fields("x-t", "1"), memory.EndStream)
		scWantConnError(t, tc, "HEADERS on a closed stream (h2spec 5.1/12)", 3, h2sm.ErrCodeStreamClosed)
	})
}

func TestConnStreamsFramesAfterOurReset(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.ConnWindowSize = 65535
		c.InitialWindowSize = 65535
	}))
	scPost(t, tc, 1)
	tc.Reset(1, h2sm.ErrCodeCancel)
	tc.WantFrame("our RST_STREAM", memory.RSTStream{Stream: 1, Code: h2sm.ErrCodeCancel})
	tc.WantIdle("no event for a stream the application reset")
	// §5.1 closed: after sending RST_STREAM, "An endpoint MUST minimally
	// process and then discard any frames it receives in this state ... the
	// content of DATA frames counts toward the connection flow-control window."
	for i := 0; i < 4; i++ {
		tc.WriteData(1, bytes.Repeat([]byte{'x'}, 1000), false)
	}
	tc.WantIdle("DATA on a stream we reset: no RST_STREAM storm, credit batched")
	tc.WriteData(1, bytes.Repeat([]byte{'x'}, 1000), false)
	tc.WantFrame("the connection credit of discarded DATA comes back", memory.WindowUpdate{Stream: 0, Incr: 5000})
	tc.WriteDataPadded(1, []byte("y"), false, 200)
	tc.WriteHeaders(1, memory.Fields("x-trailer", "1"), memory.EndStream)
	tc.WriteWindowUpdate(1, 10)
	tc.WritePriority(1, 0, 1, false)
	tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
	tc.WantIdle("every frame on the reset stream is discarded")
	// The discarded trailers were decoded: HPACK is in sync.
	tc.WriteHeaders(3, memory.Request("GET", "/", memory.Fields("x-trailer", "1")...), memory.EndStream)
	tc.WantEvent("next request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Fields: memory.Fields("x-trailer", "1")})
	if s := tc.Conn().Stats(); s.StreamsResetLocal != 1 {
		t.Errorf("StreamsResetLocal = %d, want 1", s.StreamsResetLocal)
	}
}

func TestConnStreamsFramesAfterStreamError(t *testing.T) {
	// The same after a stream error the server detected.
	tc := scPeer(t)
	tc.WriteHeaders(1, memory.Request("POST", "/", scField("X-Bad", "1")))
	scWantMalformed(t, tc, "malformed request", 1)
	tc.WriteData(1, []byte("body"), false)
	tc.WriteData(1, []byte("more"), true)
	tc.WantIdle("DATA on the rejected stream is discarded")
	scWantUsable(t, tc, 3)
}

func TestConnStreamsClientReset(t *testing.T) {
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
	scPost(t, tc, 1)
	tc.Respond(1, 200, false)
	tc.WantFrame("response headers", memory.Headers{Stream: 1})
	if n := tc.SendData(1, []byte("buffered, the window is 0"), false); n != 25 {
		t.Fatalf("SendData accepted %d bytes, want 25", n)
	}
	tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
	ev := tc.WantEvent("the application learns of the client's reset", h2sm.Event{
		Kind: h2sm.EventStreamReset, Stream: 1,
		Err: &h2sm.StreamError{Code: h2sm.ErrCodeCancel, Remote: true},
	})
	var se *h2sm.StreamError
	if !errors.As(ev.Err, &se) || se.Stream != 1 || !se.Remote {
		t.Fatalf("reset error = %#v, want a remote *StreamError on stream 1", ev.Err)
	}
	tc.WantIdle("no RST_STREAM in answer to RST_STREAM (§5.4.2)")
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if err := c.WriteHeaders(now, 1, memory.Fields("x-a", "1"), true); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("WriteHeaders after the client's reset = %v, want ErrStreamClosed", err)
		}
		if _, err := c.WriteData(now, 1, []byte("x"), true); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("WriteData after the client's reset = %v, want ErrStreamClosed", err)
		}
		if err := c.ResetStream(now, 1, h2sm.ErrCodeCancel); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("ResetStream after the client's reset = %v, want ErrStreamClosed", err)
		}
	})
	tc.WriteWindowUpdate(1, 1000)
	tc.WriteWindowUpdate(0, 1000)
	tc.WantIdle("the buffered body was dropped")
	s := tc.Conn().Stats()
	if s.ActiveStreams != 0 || s.BufferedSendBytes != 0 || s.StreamsResetRemote != 1 {
		t.Errorf("Stats: ActiveStreams %d, BufferedSendBytes %d, StreamsResetRemote %d; want 0, 0, 1",
			s.ActiveStreams, s.BufferedSendBytes, s.StreamsResetRemote)
	}
	scWantUsable(t, tc, 3)
}

func TestConnStreamsClientResetUnknownCode(t *testing.T) {
	tc := scPeer(t)
	scGet(t, tc, 1, "/")
	tc.WriteRSTStream(1, 0xabcdef)
	tc.WantEvent("an unknown code is passed on as is", h2sm.Event{
		Kind: h2sm.EventStreamReset, Stream: 1, Err: &h2sm.StreamError{Code: 0xabcdef, Remote: true},
	})
	tc.WantIdle("nothing else")
}

func TestConnStreamsRSTStreamFrameErrors(t *testing.T) {
	tests := []struct {
		name    string
		id      h2sm.StreamID
		payload []byte
		code    h2sm.ErrCode
	}{
		// §6.4: "A RST_STREAM frame with a length other than 4 octets MUST be
		// treated as a connection error ... FRAME_SIZE_ERROR."
		{"3 octets", 1, []byte{0, 0, 0}, h2sm.ErrCodeFrameSize},
		{"5 octets", 1, []byte{0, 0, 0, 8, 0}, h2sm.ErrCodeFrameSize},
		{"empty", 1, nil, h2sm.ErrCodeFrameSize},
		// §6.4: "If a RST_STREAM frame is received with a stream identifier of
		// 0x00, the recipient MUST treat this as a connection error ...
		// PROTOCOL_ERROR."
		{"stream 0", 0, []byte{0, 0, 0, 8}, h2sm.ErrCodeProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scPost(t, tc, 1)
			tc.WriteRawFrame(http2.FrameRSTStream, 0, tt.id, tt.payload)
			scWantConnError(t, tc, "bad RST_STREAM (§6.4)", 1, tt.code)
		})
	}
}

func TestConnStreamsPriorityFrameErrors(t *testing.T) {
	t.Run("length on an open stream", func(t *testing.T) {
		for _, n := range []int{0, 4, 6} {
			tc := scPeer(t)
			scPost(t, tc, 1)
			tc.WriteRawFrame(http2.FramePriority, 0, 1, make([]byte, n))
			// §6.3: "A PRIORITY frame with a length other than 5 octets MUST
			// be treated as a stream error ... of type FRAME_SIZE_ERROR."
			scWantStreamReset(t, tc, "PRIORITY of "+strconv.Itoa(n)+" octets", 1, h2sm.ErrCodeFrameSize)
			scWantUsable(t, tc, 3)
		}
	})
	t.Run("length on a closed stream", func(t *testing.T) {
		tc := scPeer(t)
		scGet(t, tc, 1, "/")
		tc.Respond(1, 204, true)
		tc.WantFrame("response", memory.Headers{Stream: 1, EndStream: true})
		tc.WriteRawFrame(http2.FramePriority, 0, 1, make([]byte, 4))
		// §6.3: a stream error FRAME_SIZE_ERROR, answered with RST_STREAM on
		// the closed stream (h2spec 6.3/2 sends it after END_STREAM, so a
		// fast response closes the stream first).
		tc.WantFrame("stream error on a closed stream", memory.RSTStream{Stream: 1, Code: h2sm.ErrCodeFrameSize})
		tc.WantIdle("no event: the application is done with the stream")
		scWantUsable(t, tc, 3)
	})
	t.Run("stream 0", func(t *testing.T) {
		tc := scPeer(t)
		tc.WritePriority(0, 1, 15, false)
		// §6.3: "If a PRIORITY frame is received with a stream identifier of
		// 0x00, the recipient MUST respond with a connection error ...
		// PROTOCOL_ERROR."
		scWantConnError(t, tc, "PRIORITY on stream 0 (§6.3)", 0, h2sm.ErrCodeProtocol)
	})
	t.Run("stream 0 and a bad length", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteRawFrame(http2.FramePriority, 0, 0, make([]byte, 4))
		scWantConnError(t, tc, "the connection error wins", 0, h2sm.ErrCodeProtocol)
	})
	t.Run("self-dependency", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WritePriority(1, 1, 15, false)
		// §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat
		// this as a stream error ... of type PROTOCOL_ERROR."
		scWantStreamReset(t, tc, "PRIORITY depending on its own stream", 1, h2sm.ErrCodeProtocol)
		scWantUsable(t, tc, 3)
	})
	t.Run("reprioritization of open streams", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		scPost(t, tc, 3)
		for i := 0; i < 100; i++ {
			tc.WritePriority(1, 3, uint8(i), true)
			tc.WritePriority(3, 1, uint8(i), true)
		}
		tc.WantIdle("dependency cycles through reprioritization are ignored")
	})
}

func TestConnStreamsMaxConcurrent(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxConcurrentStreams = 2 }))
	scPost(t, tc, 1)
	scGet(t, tc, 3, "/")
	// §5.1.2: a HEADERS frame past the advertised limit is a stream error
	// "of type PROTOCOL_ERROR or REFUSED_STREAM"; REFUSED_STREAM tells the
	// client it may retry (§8.7).
	tc.WriteHeaders(5, memory.GET("/"), memory.EndStream)
	tc.WantFrame("the third concurrent stream is refused", memory.RSTStream{Stream: 5, Code: h2sm.ErrCodeRefusedStream})
	tc.WantIdle("no event for a refused stream")
	tc.WriteHeaders(7, memory.POST("/"), memory.SplitAt(3))
	tc.WantFrame("still at the limit", memory.RSTStream{Stream: 7, Code: h2sm.ErrCodeRefusedStream})
	tc.WriteData(7, []byte("body the client sent before it saw the RST"), true)
	tc.WantIdle("no event, no second RST_STREAM")
	if s := tc.Conn().Stats(); s.StreamsRefused != 2 || s.ActiveStreams != 2 {
		t.Errorf("StreamsRefused = %d, ActiveStreams = %d; want 2, 2", s.StreamsRefused, s.ActiveStreams)
	}

	// Half-closing (one side ended) does not free a slot: half-closed
	// streams count (§5.1.2).
	tc.Respond(1, 200, true)
	tc.WantFrame("stream 1 half-closed (local)", memory.Headers{Stream: 1, EndStream: true})
	tc.WriteHeaders(9, memory.GET("/"), memory.EndStream)
	tc.WantFrame("half-closed streams count toward the limit", memory.RSTStream{Stream: 9, Code: h2sm.ErrCodeRefusedStream})

	// Finishing stream 3 frees a slot.
	tc.Respond(3, 200, true)
	tc.WantFrame("stream 3 done", memory.Headers{Stream: 3, EndStream: true})
	scGet(t, tc, 11, "/after")
	tc.WriteHeaders(13, memory.GET("/"), memory.EndStream)
	tc.WantFrame("full again", memory.RSTStream{Stream: 13, Code: h2sm.ErrCodeRefusedStream})

	// A client reset frees a slot too.
	tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
	tc.WantEvent("reset", h2sm.Event{Kind: h2sm.EventStreamReset, Stream: 1})
	scGet(t, tc, 15, "/after-reset")
	tc.WantIdle("nothing else")
}

func TestConnStreamsPushPromise(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1)
	tc.WritePushPromise(1, 2, memory.GET("/pushed"))
	// §8.4: "servers MUST treat the receipt of a PUSH_PROMISE frame as a
	// connection error ... of type PROTOCOL_ERROR."
	scWantConnError(t, tc, "PUSH_PROMISE from a client", 1, h2sm.ErrCodeProtocol)
}

func TestConnStreamsUnknownFrames(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1)
	// §4.1: "Implementations MUST ignore and discard frames of unknown types."
	// §5.1: the stream state rules "only apply to frames defined in this
	// document", so an unknown frame on an idle stream opens nothing.
	tc.WriteRawFrame(0xfa, 0xff, 0, []byte("on the connection"))
	tc.WriteRawFrame(0x0a, 0, 1, []byte("ALTSERV-like on an open stream"))
	tc.WriteRawFrame(0xff, 0x01, 99, nil)
	tc.WriteRawFrame(0x10, 0, 2, bytes.Repeat([]byte{0xee}, 16384))
	tc.WantIdle("unknown frames are ignored")
	tc.WriteData(1, []byte("x"), true)
	tc.WantEvent("the open stream goes on", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("x"), EndStream: true})
	scWantUsable(t, tc, 3) // 3 < 99: the unknown frame did not open 99
	if got := tc.Conn().Stats().FramesInUnknown; got != 4 {
		t.Errorf("FramesInUnknown = %d, want 4", got)
	}
}

func TestConnStreamsUnknownFlags(t *testing.T) {
	tc := scPeer(t)
	// §4.1: "Unused flags MUST be ignored on receipt".
	block := tc.EncodeHeaders(memory.POST("/flags"))
	const hdrUnknown = 0x02 | 0x10 | 0x40 | 0x80
	tc.WriteRawFrame(http2.FrameHeaders, hdrUnknown|http2.FlagHeadersEndHeaders, 1, block)
	tc.WantEvent("HEADERS with unknown flags", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, Method: "POST", Path: "/flags"})
	tc.WriteRawFrame(http2.FrameData, 0x02|0x04|0x10|0x20|0x40|0x80, 1, []byte("data"))
	tc.WantEvent("DATA with unknown flags", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("data")})
	tc.WriteRawFrame(http2.FramePriority, 0xff, 1, []byte{0, 0, 0, 0, 15})
	tc.WriteRawFrame(http2.FrameWindowUpdate, 0xff, 1, []byte{0, 0, 0, 1})
	tc.WriteRawFrame(http2.FrameWindowUpdate, 0xff, 0, []byte{0, 0, 0, 1})
	tc.WantIdle("PRIORITY and WINDOW_UPDATE with every flag set")
	block = tc.EncodeHeaders(memory.GET("/cont"))
	tc.WriteRawFrame(http2.FrameHeaders, hdrUnknown|http2.FlagHeadersEndStream, 3, block[:2])
	tc.WriteRawFrame(http2.FrameContinuation, 0xff&^http2.FlagContinuationEndHeaders, 3, block[2:4])
	tc.WriteRawFrame(http2.FrameContinuation, 0xff, 3, block[4:])
	tc.WantEvent("CONTINUATION with unknown flags", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Path: "/cont"})
	tc.WriteRawFrame(http2.FrameRSTStream, 0xff, 1, []byte{0, 0, 0, 8})
	tc.WantEvent("RST_STREAM with every flag set", h2sm.Event{
		Kind: h2sm.EventStreamReset, Stream: 1, Err: &h2sm.StreamError{Code: h2sm.ErrCodeCancel, Remote: true},
	})
	tc.WantIdle("nothing else")
}

func TestConnStreamsFrameTooLarge(t *testing.T) {
	t.Run("DATA", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WriteData(1, make([]byte, 16385), false)
		// §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a
		// frame exceeds the size defined in SETTINGS_MAX_FRAME_SIZE".
		scWantConnError(t, tc, "DATA of 16385 octets", 1, h2sm.ErrCodeFrameSize)
	})
	t.Run("HEADERS", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteHeaders(1, memory.Request("GET", "/", scField("x-big", strings.Repeat("~", 20000))),
			memory.EndStream, memory.MaxFragment(1<<20))
		scWantConnError(t, tc, "HEADERS over SETTINGS_MAX_FRAME_SIZE", 0, h2sm.ErrCodeFrameSize)
	})
	t.Run("unknown type", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteRawFrame(0xfa, 0, 0, make([]byte, 16385))
		scWantConnError(t, tc, "the size limit applies to every type", 0, h2sm.ErrCodeFrameSize)
	})
	t.Run("payload not read", func(t *testing.T) {
		tc := scPeer(t)
		frame := []byte{0x00, 0x40, 0x01, byte(http2.FrameData), 0, 0, 0, 0, 1}
		frame = append(frame, make([]byte, 100)...) // the rest is never needed
		tc.Do(func(c *h2sm.Conn, now time.Time) {
			if n := c.Receive(now, frame); n != 9 {
				t.Errorf("Receive consumed %d bytes of an oversized frame, want only its 9-byte header", n)
			}
		})
		scWantConnError(t, tc, "oversized frame", 0, h2sm.ErrCodeFrameSize)
	})
	t.Run("larger MaxFrameSize", func(t *testing.T) {
		tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxFrameSize = 1 << 16 }))
		scPost(t, tc, 1)
		tc.WriteData(1, make([]byte, 1<<16), false)
		ev := tc.WantEvent("a frame of MaxFrameSize is accepted", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
		if len(ev.Data) != 1<<16 {
			t.Errorf("got %d bytes, want %d", len(ev.Data), 1<<16)
		}
		tc.Discard() // WINDOW_UPDATEs
		tc.WriteData(1, make([]byte, 1<<16+1), false)
		scWantConnError(t, tc, "one octet more", 1, h2sm.ErrCodeFrameSize)
	})
}

func TestConnStreamsMaxLocalResets(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxLocalResets = 3 }))
	bad := scBase(scField("X-Bad", "1"))
	for id := h2sm.StreamID(1); id <= 5; id += 2 {
		tc.WriteHeaders(id, bad, memory.EndStream)
		scWantMalformed(t, tc, "a reset within the budget", id)
	}
	tc.WriteHeaders(7, bad, memory.EndStream)
	// MadeYouReset (CVE-2025-8671): the stream errors the client provokes are
	// budgeted per connection.
	scWantConnError(t, tc, "the fourth provoked stream error", 7, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnStreamsMaxLocalResetsCountsEveryKind(t *testing.T) {
	// Refused streams, flow-control and state errors all draw on the budget;
	// resets the application asks for do not.
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.MaxLocalResets = 3
		c.MaxConcurrentStreams = 1
	}))
	scPost(t, tc, 1)
	tc.Reset(1, h2sm.ErrCodeCancel)
	tc.WantFrame("application reset", memory.RSTStream{Stream: 1, Code: h2sm.ErrCodeCancel})
	scPost(t, tc, 3)
	tc.WriteHeaders(5, memory.GET("/"), memory.EndStream)
	tc.WantFrame("refused (1)", memory.RSTStream{Stream: 5, Code: h2sm.ErrCodeRefusedStream})
	tc.WritePriority(3, 3, 0, false)
	scWantStreamReset(t, tc, "self-dependency (2)", 3, h2sm.ErrCodeProtocol)
	scGet(t, tc, 7, "/")
	tc.WriteData(7, []byte("x"), false)
	scWantStreamReset(t, tc, "DATA after END_STREAM (3)", 7, h2sm.ErrCodeStreamClosed)
	tc.WriteHeaders(9, memory.GET("/"), memory.EndStream, memory.Priority(9, 0, false))
	scWantConnError(t, tc, "the fourth provoked stream error", 9, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnStreamsManyStreamsConstantState(t *testing.T) {
	tc := scPeer(t)
	for id := h2sm.StreamID(1); id < 2*2000; id += 2 {
		tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
		tc.Respond(id, 204, true)
		tc.WantFrame("response", memory.Headers{Stream: id, EndStream: true, Fields: memory.Fields(":status", "204")})
	}
	if s := tc.Conn().Stats(); s.ActiveStreams != 0 || s.StreamsOpened != 2000 {
		t.Errorf("ActiveStreams = %d, StreamsOpened = %d; want 0, 2000", s.ActiveStreams, s.StreamsOpened)
	}
	tc.WantIdle("nothing else")
}

// scRawConn drives a Conn without the harness, so that allocations can be
// counted: the client's bytes are built with x/net/http2 once.
type scRawConn struct {
	t   *testing.T
	c   *h2sm.Conn
	now time.Time
	out []byte
	req []byte // HEADERS, all fields indexed; the stream id is patched in
}

func newScRawConn(t *testing.T) *scRawConn {
	t.Helper()
	c, err := h2sm.NewConn(memory.Epoch, h2sm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := &scRawConn{t: t, c: c, now: memory.Epoch}
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	_ = fr.WriteSettings()
	_ = fr.WriteSettingsAck()
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	fields := []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/steady"},
		{Name: "user-agent", Value: "h2sm-test"}, {Name: "accept", Value: "*/*"},
	}
	encode := func() []byte {
		blk.Reset()
		for _, f := range fields {
			_ = enc.WriteField(f)
		}
		return bytes.Clone(blk.Bytes())
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: encode(), EndStream: true, EndHeaders: true})
	r.feed(buf.Bytes())
	r.answer(1)
	buf.Reset()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: encode(), EndStream: true, EndHeaders: true})
	r.req = bytes.Clone(buf.Bytes())
	return r
}

func (r *scRawConn) feed(p []byte) {
	for len(p) > 0 {
		n := r.c.Receive(r.now, p)
		if n == 0 {
			r.t.Fatalf("Receive made no progress (phase %v)", r.c.Phase())
		}
		p = p[n:]
		r.out = r.c.AppendOutgoing(r.out[:0])
	}
}

var scNoContent = []h2sm.HeaderField{{Name: ":status", Value: "204"}}

// answer reads the request event on id and ends the stream with a 204.
func (r *scRawConn) answer(id h2sm.StreamID) {
	ev, ok := r.c.NextEvent()
	if !ok || ev.Kind != h2sm.EventRequest || ev.Stream != id {
		r.t.Fatalf("NextEvent = %v %v, want the request on stream %d", ev.Kind, ok, id)
	}
	if err := r.c.WriteHeaders(r.now, id, scNoContent, true); err != nil {
		r.t.Fatal(err)
	}
	r.out = r.c.AppendOutgoing(r.out[:0])
	if _, ok := r.c.NextEvent(); ok {
		r.t.Fatalf("unexpected event after the response on stream %d", id)
	}
}

// cycle is one steady-state request and response on stream id.
func (r *scRawConn) cycle(id h2sm.StreamID) {
	binary.BigEndian.PutUint32(r.req[5:9], uint32(id))
	r.feed(r.req)
	r.answer(id)
}

func TestConnStreamsClosedStateIsConstant(t *testing.T) {
	r := newScRawConn(t)
	id := h2sm.StreamID(1)
	for i := 0; i < 10000; i++ {
		id += 2
		r.cycle(id)
	}
	s := r.c.Stats()
	if s.ActiveStreams != 0 || s.StreamsOpened != 10001 || s.StreamErrors != 0 || s.ConnErrors != 0 {
		t.Fatalf("after 10001 streams: ActiveStreams %d, StreamsOpened %d, StreamErrors %d, ConnErrors %d; want 0, 10001, 0, 0",
			s.ActiveStreams, s.StreamsOpened, s.StreamErrors, s.ConnErrors)
	}
	// Closed streams leave nothing behind: the steady cycle allocates nothing,
	// counted over batches of 100 streams so that a slow leak shows.
	allocs := testing.AllocsPerRun(50, func() {
		for i := 0; i < 100; i++ {
			id += 2
			r.cycle(id)
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations per 100 request/response cycles after 10 000 streams, want at most 1", allocs)
	}
	if s := r.c.Stats(); s.ActiveStreams != 0 || r.c.Phase() != h2sm.PhaseOpen {
		t.Errorf("ActiveStreams = %d, Phase = %v; want 0, Open", s.ActiveStreams, r.c.Phase())
	}
}
