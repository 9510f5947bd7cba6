package h2sm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// TestConnGlitchBudget: PRIORITY frames spend the glitch budget; when it
// is gone the connection closes with ENHANCE_YOUR_CALM, and time refills it.
func TestConnGlitchBudget(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxGlitches, c.GlitchRate = 20, 10 }))
	tc.Handshake()
	for i := 0; i < 20; i++ {
		tc.WritePriority(1, 0, 16, false)
	}
	tc.WantNoFrame("20 PRIORITY frames fit the burst")
	tc.Advance(time.Second) // +10 tokens
	for i := 0; i < 10; i++ {
		tc.WritePriority(1, 0, 16, false)
	}
	tc.WantNoFrame("the refill allows 10 more")
	tc.WritePriority(1, 0, 16, false)
	tc.WantGoAway("the 31st within a second", 0, h2sm.ErrCodeEnhanceYourCalm)
	tc.WantClosed("closed")
}

// TestConnGlitchUnknownAndPing: unknown frame types and PINGs count too.
func TestConnGlitchUnknownAndPing(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxGlitches, c.GlitchRate = 4, 1 }))
	tc.Handshake()
	tc.WriteRawFrame(0xfa, 0, 0, []byte("x"))
	tc.WriteRawFrame(0xfa, 0, 0, []byte("y"))
	tc.WritePing(false, [8]byte{1})
	tc.WantFrame("PING answered", memory.Ping{Ack: true, Data: [8]byte{1}})
	tc.WritePing(false, [8]byte{2})
	tc.WantFrame("PING answered", memory.Ping{Ack: true, Data: [8]byte{2}})
	tc.WriteRawFrame(0xfa, 0, 0, nil)
	tc.WantGoAway("fifth glitch", 0, h2sm.ErrCodeEnhanceYourCalm)
	tc.WantClosed("closed")
}

// TestConnRapidResetBudget: HEADERS + RST_STREAM in a loop (CVE-2023-44487)
// ends with GOAWAY ENHANCE_YOUR_CALM once the client-reset budget is spent;
// the last stream id is the last one processed.
func TestConnRapidResetBudget(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxRemoteResets, c.RemoteResetRate = 10, 1 }))
	tc.Handshake()
	id := h2sm.StreamID(1)
	for i := 0; i < 10; i++ {
		tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
		tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
		tc.WantEvent("reset", h2sm.Event{Kind: h2sm.EventStreamReset, Stream: id,
			Err: &h2sm.StreamError{Code: h2sm.ErrCodeCancel, Remote: true}})
		id += 2
	}
	tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
	tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
	tc.WantGoAway("11th reset", id, h2sm.ErrCodeEnhanceYourCalm)
	err := tc.WantClosed("closed")
	if !errors.Is(err, &h2sm.ConnError{Code: h2sm.ErrCodeEnhanceYourCalm}) {
		t.Errorf("close error = %v", err)
	}
}

// TestConnLocalResetBudget: requests that draw RST_STREAM (MadeYouReset)
// spend the local-reset budget.
func TestConnLocalResetBudget(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxLocalResets, c.LocalResetRate = 5, 1 }))
	tc.Handshake()
	id := h2sm.StreamID(1)
	bad := memory.Request("GET", "/", h2sm.HeaderField{Name: "connection", Value: "close"})
	for i := 0; i < 5; i++ {
		tc.WriteHeaders(id, bad, memory.EndStream)
		tc.WantRSTStream("malformed", id, h2sm.ErrCodeProtocol)
		id += 2
	}
	tc.WriteHeaders(id, bad, memory.EndStream)
	tc.WantGoAway("sixth stream error", id, h2sm.ErrCodeEnhanceYourCalm)
	tc.WantClosed("closed")
}

// TestConnEmptyFrameBudget: empty DATA frames without END_STREAM
// (CVE-2019-9518) spend their own budget.
func TestConnEmptyFrameBudget(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxEmptyFrames, c.EmptyFrameRate = 3, 1 }))
	tc.Handshake()
	tc.WriteHeaders(1, memory.POST("/"))
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1})
	for i := 0; i < 3; i++ {
		tc.WriteData(1, nil, false)
	}
	tc.WantNoFrame("three empty frames fit")
	tc.WriteData(1, nil, false)
	tc.WantGoAway("fourth", 1, h2sm.ErrCodeEnhanceYourCalm)
	tc.WantClosed("closed")
}

// TestConnStreamStall: a client that never opens its window gets the
// stream reset with CANCEL after StreamStallTimeout; a stream that makes
// progress is not reset.
func TestConnStreamStall(t *testing.T) {
	tc := memory.NewPeer(t,
		memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}),
		memory.WithConfig(func(c *h2sm.Config) { c.StreamStallTimeout = 30 * time.Second }))
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.Respond(1, 200, false)
	tc.WantHeaders("response headers", 1, false)
	tc.SendData(1, []byte("body that cannot be sent"), true)
	tc.WantNoFrame("window 0: nothing to send")
	tc.Advance(20 * time.Second)
	tc.WriteWindowUpdate(1, 4)
	tc.WantFrame("4 bytes", memory.Data{Stream: 1, Data: []byte("body")})
	tc.Advance(29 * time.Second)
	tc.WantNoFrame("progress 29s ago: not stalled")
	if d := tc.AdvanceToTimer(); d != time.Second {
		t.Errorf("stall timer fired after %v, want 1s", d)
	}
	tc.WantRSTStream("stalled 30s", 1, h2sm.ErrCodeCancel)
	tc.WantEvent("the application learns", h2sm.Event{Kind: h2sm.EventStreamReset, Stream: 1,
		Err: &h2sm.StreamError{Code: h2sm.ErrCodeCancel}})
	if s := tc.Conn().Stats(); s.ActiveStreams != 0 || s.BufferedSendBytes != 0 {
		t.Errorf("after the reset: %d active streams, %d buffered bytes", s.ActiveStreams, s.BufferedSendBytes)
	}
}

// TestConnPriorityErrorAfterClientReset: a malformed PRIORITY on a stream
// the client reset draws nothing (§5.4.2: no RST_STREAM in response to a
// RST_STREAM), while on a stream closed by END_STREAM both ways it draws
// RST_STREAM FRAME_SIZE_ERROR (h2spec 6.3/2).
func TestConnPriorityErrorAfterClientReset(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.POST("/"))
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1})
	tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
	tc.WantEvent("reset", h2sm.Event{Kind: h2sm.EventStreamReset, Stream: 1,
		Err: &h2sm.StreamError{Code: h2sm.ErrCodeCancel, Remote: true}})
	tc.WriteRawFrame(http2.FramePriority, 0, 1, make([]byte, 4))
	tc.WantIdle("no RST_STREAM after the client's")

	tc.WriteHeaders(3, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true})
	tc.Respond(3, 204, true)
	tc.WantHeaders("response", 3, true)
	tc.WriteRawFrame(http2.FramePriority, 0, 3, make([]byte, 4))
	tc.WantRSTStream("stream error on a stream closed normally", 3, h2sm.ErrCodeFrameSize)
}
