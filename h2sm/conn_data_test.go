package h2sm_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// Frame-level scenarios for received DATA (RFC 9113 §6.1): padding, stream
// 0, empty frames and content-length (§8.1.1).

func TestConnDataPadding(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.ManualFlowControl = true // only padding credit returns on its own
		c.InitialWindowSize = 65535
		c.ConnWindowSize = 65535
	}))
	scPost(t, tc, 1)
	tc.WriteDataPadded(1, []byte("hello"), false, 200)
	tc.WantEvent("the application sees only the data (§6.1)", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("hello")})
	tc.WriteDataPadded(1, nil, false, 0)
	tc.WriteDataPadded(1, []byte("!"), false, 0)
	tc.WantEvent("PADDED with no padding", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("!")})
	tc.WantIdle("padding credit is batched")
	// §6.9: "The entire DATA frame payload is included in flow control,
	// including the Pad Length and Padding fields if present." The padding
	// and its length octet are never the application's to consume: their
	// credit comes back without Consumed. 20 frames of 1 + 255 padding octets
	// return 20×256 = 5120 octets: one batch of at least 4096.
	for i := 0; i < 20; i++ {
		tc.WriteDataPadded(1, []byte{'a' + byte(i)}, false, 255)
		tc.WantEvent("one data octet", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte{'a' + byte(i)}})
	}
	// 201 + 1 + 1 (the first three frames) + 16×256 = 4299 ≥ 4096 after the
	// 16th frame.
	tc.WantFrame("connection credit for the padding", memory.WindowUpdate{Stream: 0, Incr: 203 + 16*256})
	tc.WantFrame("stream credit for the padding", memory.WindowUpdate{Stream: 1, Incr: 203 + 16*256})
	tc.WantIdle("the data octets wait for Consumed")
	tc.Consumed(1, 5+1+20)
	tc.WantIdle("26 octets of data plus 4×256 of padding are still below the batch size")
	tc.Consumed(1, 10000)
	tc.WantIdle("credit beyond what was received is ignored")
}

func TestConnDataPaddingAutomatic(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.InitialWindowSize = 65535
		c.ConnWindowSize = 65535
	}))
	scPost(t, tc, 1)
	for i := 0; i < 16; i++ {
		tc.WriteDataPadded(1, []byte("0123456789"), false, 245) // 256 octets of payload
		tc.WantEvent("data", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("0123456789")})
	}
	tc.WantFrame("padding and data credit, connection", memory.WindowUpdate{Stream: 0, Incr: 4096})
	tc.WantFrame("padding and data credit, stream", memory.WindowUpdate{Stream: 1, Incr: 4096})
	tc.WantIdle("nothing else")
}

func TestConnDataPaddingTooLong(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		code    h2sm.ErrCode
	}{
		// §6.1: "If the length of the padding is the length of the frame
		// payload or greater, the recipient MUST treat this as a connection
		// error ... of type PROTOCOL_ERROR."
		{"pad length equals payload", []byte{4, 'a', 'b', 'c'}, h2sm.ErrCodeProtocol},
		{"pad length beyond payload", []byte{200, 'a'}, h2sm.ErrCodeProtocol},
		{"pad length only", []byte{1}, h2sm.ErrCodeProtocol},
		// §4.2: too small to hold the Pad Length.
		{"no pad length octet", nil, h2sm.ErrCodeFrameSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scPost(t, tc, 1)
			tc.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, tt.payload)
			scWantConnError(t, tc, "DATA padding (§6.1)", 1, tt.code)
		})
	}
}

func TestConnDataStreamZero(t *testing.T) {
	tc := scPeer(t)
	tc.WriteData(0, []byte("x"), false)
	// §6.1: "If a DATA frame is received whose Stream Identifier field is
	// 0x00, the recipient MUST respond with a connection error ...
	// PROTOCOL_ERROR."
	scWantConnError(t, tc, "DATA on stream 0", 0, h2sm.ErrCodeProtocol)
}

func TestConnDataEmptyFrames(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxEmptyFrames = 5 }))
	scPost(t, tc, 1)
	for i := 0; i < 3; i++ {
		tc.WriteData(1, nil, false)
	}
	tc.WriteDataPadded(1, nil, false, 10) // padding only: empty too
	tc.WriteDataPadded(1, nil, false, 0)
	tc.WantIdle("MaxEmptyFrames empty DATA frames: no event, no frame")
	scPost(t, tc, 3)
	tc.WriteData(3, nil, true)
	tc.WantEvent("an empty DATA with END_STREAM is not empty: it ends the body", h2sm.Event{
		Kind: h2sm.EventData, Stream: 3, Data: []byte{}, EndStream: true,
	})
	tc.WriteData(1, nil, false)
	// CVE-2019-9518: empty frames cost work and carry nothing.
	scWantConnError(t, tc, "one empty DATA frame too many", 3, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnDataContentLength(t *testing.T) {
	cl5 := scField("content-length", "5")
	t.Run("exact, in pieces", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1, cl5)
		tc.WriteData(1, []byte("he"), false)
		tc.WantEvent("first piece", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("he")})
		tc.WriteDataPadded(1, []byte("llo"), false, 50)
		tc.WantEvent("padding does not count toward content-length", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("llo")})
		tc.WriteData(1, nil, true)
		tc.WantEvent("END_STREAM on an empty frame", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte{}, EndStream: true})
		tc.WantIdle("no RST_STREAM")
	})
	t.Run("exact, then trailers", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1, cl5)
		tc.WriteData(1, []byte("hello"), false)
		tc.WantEvent("body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("hello")})
		tc.WriteHeaders(1, memory.Fields("x-t", "1"), memory.EndStream)
		tc.WantEvent("trailers", h2sm.Event{Kind: h2sm.EventTrailers, Stream: 1, EndStream: true})
		tc.WantIdle("no RST_STREAM")
	})
	// §8.1.1: "A request or response is also malformed if the value of a
	// content-length header field does not equal the sum of the DATA frame
	// payload lengths that form the content".
	t.Run("too much in one frame", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1, cl5)
		tc.WriteData(1, []byte("hello!"), false)
		scWantStreamReset(t, tc, "6 octets for content-length 5", 1, h2sm.ErrCodeProtocol)
		tc.WantIdle("the excess is never delivered")
		scWantUsable(t, tc, 3)
	})
	t.Run("too much over two frames", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1, cl5)
		tc.WriteData(1, []byte("hel"), false)
		tc.WantEvent("within the length", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("hel")})
		tc.WriteData(1, []byte("lo!"), true)
		scWantStreamReset(t, tc, "the second frame goes past content-length", 1, h2sm.ErrCodeProtocol)
		scWantUsable(t, tc, 3)
	})
	t.Run("too little with END_STREAM", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1, cl5)
		tc.WriteData(1, []byte("hell"), true)
		// The application gets an error, not a short body and EOF.
		scWantStreamReset(t, tc, "4 octets and END_STREAM for content-length 5", 1, h2sm.ErrCodeProtocol)
		tc.WantIdle("no EventData with EndStream")
		scWantUsable(t, tc, 3)
	})
	t.Run("too little, then trailers", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1, cl5)
		tc.WriteData(1, []byte("hell"), false)
		tc.WantEvent("body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("hell")})
		tc.WriteHeaders(1, memory.Fields("x-t", "1"), memory.EndStream)
		scWantStreamReset(t, tc, "trailers end a short body", 1, h2sm.ErrCodeProtocol)
		tc.WantIdle("no trailers event")
	})
	t.Run("content-length 0 and a body", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1, scField("content-length", "0"))
		tc.WriteData(1, []byte("x"), true)
		scWantStreamReset(t, tc, "one octet for content-length 0", 1, h2sm.ErrCodeProtocol)
	})
	t.Run("connection credit of rejected DATA", func(t *testing.T) {
		tc := scPeer(t, scConfig(func(c *h2sm.Config) {
			c.ConnWindowSize = 65535
			c.InitialWindowSize = 65535
		}))
		scPost(t, tc, 1, scField("content-length", "10"))
		tc.WriteData(1, bytes.Repeat([]byte{'x'}, 5000), false)
		tc.WantFrame("the rejected octets still return connection credit", memory.WindowUpdate{Stream: 0, Incr: 5000})
		scWantStreamReset(t, tc, "too much body", 1, h2sm.ErrCodeProtocol)
		tc.WantIdle("nothing else")
	})
}

func TestConnDataAfterEndStreamKeepsCredit(t *testing.T) {
	// DATA that draws a stream error still counts toward, and returns,
	// connection credit: the client's connection window must not shrink.
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.ConnWindowSize = 65535
		c.InitialWindowSize = 65535
	}))
	scGet(t, tc, 1, "/")
	tc.WriteData(1, bytes.Repeat([]byte{'x'}, 8000), false)
	tc.WantFrame("its connection credit", memory.WindowUpdate{Stream: 0, Incr: 8000})
	scWantStreamReset(t, tc, "DATA on a half-closed (remote) stream", 1, h2sm.ErrCodeStreamClosed)
	tc.WantIdle("nothing else")
}

func TestConnDataEventBackpressure(t *testing.T) {
	// Receive stops consuming while too many events wait for the
	// application, and goes on once they are read.
	tc := scPeer(t)
	scPost(t, tc, 1)
	var wire bytes.Buffer
	fr := http2.NewFramer(&wire, nil)
	const frames = 1500
	for i := 0; i < frames; i++ {
		_ = fr.WriteData(1, false, []byte{byte(i)})
	}
	p := wire.Bytes()
	const frameLen = 9 + 1
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		n := c.Receive(now, p)
		if n >= len(p) || n%frameLen != 0 || n < 100*frameLen {
			t.Fatalf("Receive took %d of %d octets with no event read, want it to stop at a frame boundary", n, len(p))
		}
		queued := c.Stats().QueuedEvents
		if queued != n/frameLen {
			t.Fatalf("%d events queued for %d frames", queued, n/frameLen)
		}
		for i := 0; i < queued; i++ {
			ev, ok := c.NextEvent()
			if !ok || ev.Kind != h2sm.EventData || len(ev.Data) != 1 || ev.Data[0] != byte(i) {
				t.Fatalf("event %d: %+v, %v", i, ev, ok)
			}
		}
		if m := c.Receive(now, p[n:]); m != len(p)-n {
			t.Fatalf("after the events were read, Receive took %d of the %d octets left", m, len(p)-n)
		}
		for i := n / frameLen; i < frames; i++ {
			ev, ok := c.NextEvent()
			if !ok || ev.Kind != h2sm.EventData || ev.Data[0] != byte(i) {
				t.Fatalf("event %d: %+v, %v", i, ev, ok)
			}
		}
	})
	tc.Discard() // WINDOW_UPDATEs
	tc.WantIdle("nothing else")
}

func TestConnDataBufferedBodyBackpressure(t *testing.T) {
	// The request body held in events not yet read is bounded too.
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.InitialWindowSize = 4 << 20
		c.ConnWindowSize = 4 << 20
	}))
	scPost(t, tc, 1)
	var wire bytes.Buffer
	fr := http2.NewFramer(&wire, nil)
	chunk := bytes.Repeat([]byte{'b'}, 16384)
	for i := 0; i < 128; i++ { // 2 MiB
		_ = fr.WriteData(1, false, chunk)
	}
	p := wire.Bytes()
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		n := c.Receive(now, p)
		if n >= len(p) {
			t.Fatalf("Receive took all of 2 MiB of body with no event read")
		}
		if held := c.Stats().QueuedEventBytes; held > 1<<20+16384 {
			t.Errorf("%d octets of body held in events, want about 1 MiB at most", held)
		}
		for ev, ok := c.NextEvent(); ok; ev, ok = c.NextEvent() {
			if ev.Kind != h2sm.EventData {
				t.Fatalf("event %v", ev.Kind)
			}
		}
		p = p[n:]
		for len(p) > 0 {
			m := c.Receive(now, p)
			if m == 0 {
				t.Fatalf("no progress with every event read")
			}
			p = p[m:]
			for _, ok := c.NextEvent(); ok; _, ok = c.NextEvent() {
			}
		}
	})
	tc.Discard()
	tc.WantIdle("nothing else")
}
