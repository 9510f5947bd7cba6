package h2sm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

func TestConnPingEcho(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	for _, data := range [][8]byte{{}, {1, 2, 3, 4, 5, 6, 7, 8}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		tc.WritePing(false, data)
		// §6.7: "Receivers of a PING frame that does not include an ACK flag
		// MUST send a PING frame with the ACK flag set in response, with an
		// identical frame payload."
		tc.WantFrame("§6.7: PING echoed with ACK", memory.Ping{Ack: true, Data: data})
		tc.WantIdle("one answer")
	}
	// Several in one write: answered in order.
	var b []byte
	for i := range 3 {
		b = append(b, 0, 0, 8, byte(http2.FramePing), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i))
	}
	tc.WriteRaw(b)
	for i := range 3 {
		tc.WantFrame("in order", memory.Ping{Ack: true, Data: [8]byte{7: byte(i)}})
	}
	tc.WantIdle("three answers")
}

func TestConnPingAckNotAnswered(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	// §6.7: "An endpoint MUST NOT respond to PING frames containing this flag."
	tc.WritePing(true, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	tc.WritePing(true, [8]byte{})
	tc.WantIdle("§6.7: an unsolicited PING ACK is ignored")
	wantPhase(t, tc, "still open", h2sm.PhaseOpen)
}

func TestConnPingErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		flags   http2.Flags
		stream  h2sm.StreamID
		payload []byte
		code    h2sm.ErrCode
	}{
		// §6.7: "Receipt of a PING frame with a length field value other than
		// 8 MUST be treated as a connection error ... of type FRAME_SIZE_ERROR."
		{"length 0", 0, 0, nil, h2sm.ErrCodeFrameSize},
		{"length 7", 0, 0, make([]byte, 7), h2sm.ErrCodeFrameSize},
		{"length 9", 0, 0, make([]byte, 9), h2sm.ErrCodeFrameSize},
		{"ACK length 7", http2.FlagPingAck, 0, make([]byte, 7), h2sm.ErrCodeFrameSize},
		// §6.7: "If a PING frame is received with a Stream Identifier field
		// value other than 0x00, the recipient MUST respond with a connection
		// error ... of type PROTOCOL_ERROR."
		{"stream 1", 0, 1, make([]byte, 8), h2sm.ErrCodeProtocol},
		{"stream 2^31-1", 0, 1<<31 - 1, make([]byte, 8), h2sm.ErrCodeProtocol},
		{"ACK on stream 1", http2.FlagPingAck, 1, make([]byte, 8), h2sm.ErrCodeProtocol},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			tc.Handshake()
			tc.WriteRawFrame(http2.FramePing, tt.flags, tt.stream, tt.payload)
			wantConnErrorClose(t, tc, "§6.7: bad PING, no echo", 0, tt.code)
		})
	}
}

func TestConnPingKeepaliveAnswered(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.PingInterval = 10 * time.Second
		c.PingTimeout = 5 * time.Second
	}))
	tc.Handshake()
	for i := byte(1); i <= 3; i++ {
		if d := tc.AdvanceToTimer(); d != 10*time.Second {
			t.Fatalf("keepalive %d after %v of silence, want 10s", i, d)
		}
		data := [8]byte{7: i} // payloads come from a counter
		tc.WantFrame("keepalive PING after PingInterval of silence", memory.Ping{Data: data})
		tc.WantIdle("one PING")
		tc.Advance(4 * time.Second)
		tc.WantIdle("4s: the answer is not late yet")
		tc.WritePing(true, data)
		tc.WantIdle("the ACK is not answered")
		wantPhase(t, tc, "answered keepalive keeps the connection", h2sm.PhaseOpen)
	}
	// An ACK with the wrong payload does not count.
	tc.AdvanceToTimer()
	tc.WantFrame("fourth keepalive", memory.Ping{Data: [8]byte{7: 4}})
	tc.WritePing(true, [8]byte{7: 99})
	if d := tc.AdvanceToTimer(); d != 5*time.Second {
		t.Errorf("closed %v after the wrong ACK, want at the PING's timeout (5s after it)", d)
	}
	tc.WantFrame("unanswered keepalive", memory.GoAway{Code: h2sm.ErrCodeNo, Debug: "keepalive PING not answered"})
	wantLocalConnErr(t, "keepalive timeout", tc.WantClosed("keepalive timeout"), h2sm.ErrCodeNo)
}

func TestConnPingKeepaliveUnanswered(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.PingInterval = 10 * time.Second
		c.PingTimeout = 5 * time.Second
	}))
	tc.Handshake()
	tc.AdvanceToTimer()
	tc.WantFrame("keepalive", memory.Ping{Data: [8]byte{7: 1}})
	tc.Advance(5*time.Second - time.Nanosecond)
	tc.WantIdle("1ns before PingTimeout")
	wantPhase(t, tc, "still open", h2sm.PhaseOpen)
	tc.Advance(time.Nanosecond)
	tc.WantFrame("PingTimeout after the PING", memory.GoAway{LastStream: 0, Code: h2sm.ErrCodeNo, Debug: "keepalive PING not answered"})
	wantLocalConnErr(t, "keepalive timeout", tc.WantClosed("closed"), h2sm.ErrCodeNo)
	if tc.Elapsed() != 15*time.Second {
		t.Errorf("closed at %v, want 15s", tc.Elapsed())
	}
}

func TestConnPingKeepaliveDefaultTimeout(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.PingInterval = time.Second }))
	tc.Handshake()
	tc.AdvanceToTimer()
	tc.WantFrame("keepalive", memory.Ping{Data: [8]byte{7: 1}})
	if d := tc.AdvanceToTimer(); d != h2sm.DefaultPingTimeout {
		t.Errorf("closed %v after the PING, want DefaultPingTimeout %v", d, h2sm.DefaultPingTimeout)
	}
	tc.WantFrame("closed", memory.GoAway{Code: h2sm.ErrCodeNo})
	tc.WantClosed("closed")
}

func TestConnPingKeepalivePostponedByTraffic(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.PingInterval = 10 * time.Second }))
	tc.Handshake()
	// Any frame from the client restarts the silence.
	tc.Advance(6 * time.Second)
	tc.WritePing(false, [8]byte{9})
	tc.WantFrame("echo", memory.Ping{Ack: true, Data: [8]byte{9}})
	tc.Advance(6 * time.Second)
	tc.WriteWindowUpdate(0, 1)
	tc.Advance(9 * time.Second)
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.WantIdle("21s in, never 10s of silence")
	if d := tc.AdvanceToTimer(); d != 10*time.Second {
		t.Errorf("keepalive %v after the last frame, want 10s", d)
	}
	if tc.Elapsed() != 31*time.Second {
		t.Errorf("keepalive at %v, want 31s", tc.Elapsed())
	}
	tc.WantFrame("keepalive after 10s of silence", memory.Ping{Data: [8]byte{7: 1}})
	tc.WantIdle("one PING")
	tc.Reset(1, h2sm.ErrCodeCancel)
	tc.WantRSTStream("reset", 1, h2sm.ErrCodeCancel)
}

func TestConnPingKeepaliveOffByDefault(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.IdleTimeout = time.Hour }))
	tc.Handshake()
	tc.Advance(time.Hour - time.Second)
	tc.WantIdle("PingInterval zero: no keepalive")
	tc.AdvanceToTimer()
	tc.WantGoAway("only the idle timer", 0, h2sm.ErrCodeNo)
	tc.WantClosed("idle")
	if strings.Contains(tc.Trace(), "<- PING") {
		t.Errorf("trace shows a PING:\n%s", tc.Trace())
	}
}
