package h2sm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
)

// TestConnResetOldStream: we reset a long-lived stream after the client
// opened 600 newer ones (beyond the 1024-id window); DATA the client had
// already sent on it is discarded, not a connection error (RFC 9113 §5.1).
func TestConnResetOldStream(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.POST("/upload"))
	tc.WantEvent("upload", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1})
	for id := h2sm.StreamID(3); id <= 1201; id += 2 {
		tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
		tc.Respond(id, 204, true)
		tc.WantHeaders("response", id, true)
	}
	tc.Reset(1, h2sm.ErrCodeCancel)
	tc.WantRSTStream("the application resets the upload", 1, h2sm.ErrCodeCancel)
	tc.WriteData(1, []byte("in flight"), false)
	tc.WriteHeaders(1, memory.Fields("x-trailer", "t"), memory.EndStream)
	tc.WantIdle("frames sent before our RST_STREAM are discarded")
	tc.WriteHeaders(1203, memory.GET("/"), memory.EndStream)
	tc.WantEvent("the connection still works", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1203, EndStream: true})
	tc.Respond(1203, 204, true)
	tc.WantHeaders("response", 1203, true)
}

// TestConnIdleDuringHeaderBlock: the idle timer does not close the
// connection while a request's header block is arriving.
func TestConnIdleDuringHeaderBlock(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.IdleTimeout = 10 * time.Second
		c.HeaderBlockTimeout = 30 * time.Second
	}))
	tc.Handshake()
	tc.Advance(9 * time.Second)
	block := tc.EncodeHeaders(memory.GET("/late"))
	tc.WriteRawFrame(0x1, 0x1, 1, block[:3]) // HEADERS, END_STREAM, no END_HEADERS
	tc.Advance(2 * time.Second)
	tc.WantNoFrame("a request is arriving: not idle")
	tc.WriteContinuation(1, true, block[3:])
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/late"})
	tc.Respond(1, 204, true)
	tc.WantHeaders("response", 1, true)
}

// TestConnRepeatedGoAway: GOAWAY frames after the first spend the glitch
// budget, and the debug data kept in the event is bounded.
func TestConnRepeatedGoAway(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxGlitches, c.GlitchRate = 2, 1 }))
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	debug := strings.Repeat("d", 4000)
	tc.WriteGoAway(1, h2sm.ErrCodeNo, debug)
	ev := tc.WantEvent("first GOAWAY", h2sm.Event{Kind: h2sm.EventGoAwayReceived, Stream: 1})
	if ce, ok := ev.Err.(*h2sm.ConnError); !ok || len(ce.Reason) != 256 {
		t.Errorf("event error = %v, want a ConnError with the debug data cut to 256 bytes", ev.Err)
	}
	tc.WantGoAway("we drain too", 1, h2sm.ErrCodeNo)
	for i := 0; i < 2; i++ {
		tc.WriteGoAway(1, h2sm.ErrCodeNo, debug)
		tc.WantEvent("repeat", h2sm.Event{Kind: h2sm.EventGoAwayReceived, Stream: 1})
	}
	tc.WriteGoAway(1, h2sm.ErrCodeNo, debug)
	tc.WantGoAway("the third repeat is one too many", 1, h2sm.ErrCodeEnhanceYourCalm)
	tc.WantClosed("closed")
}
