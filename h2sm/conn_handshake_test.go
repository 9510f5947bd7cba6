package h2sm_test

import (
	"errors"
	"testing"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// clientPreface is the connection preface of RFC 9113 §3.4.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// defaultServerSettings are the SETTINGS a Conn with the zero Config sends.
var defaultServerSettings = []http2.Setting{
	{ID: http2.SettingMaxConcurrentStreams, Val: h2sm.DefaultMaxConcurrentStreams},
	{ID: http2.SettingInitialWindowSize, Val: h2sm.DefaultInitialWindowSize},
	{ID: http2.SettingMaxHeaderListSize, Val: h2sm.DefaultMaxHeaderListSize},
}

// wantDefaultServerPreface reads the SETTINGS and the connection
// WINDOW_UPDATE a Conn with the zero Config sends when it is created.
func wantDefaultServerPreface(tc *memory.Peer) {
	tc.WantFrame("server SETTINGS, queued by NewConn", memory.Settings{Values: defaultServerSettings})
	tc.WantFrame("server opens the connection window to 1 MiB",
		memory.WindowUpdate{Stream: 0, Incr: h2sm.DefaultConnWindowSize - 65535})
}

// wantPhase fails the test unless the Conn is in phase want.
func wantPhase(t *testing.T, tc *memory.Peer, why string, want h2sm.Phase) {
	t.Helper()
	if got := tc.Conn().Phase(); got != want {
		t.Fatalf("%s: Phase() = %v, want %v", why, got, want)
	}
}

// wantLocalConnErr fails the test unless err is a locally detected
// *h2sm.ConnError with code.
func wantLocalConnErr(t *testing.T, why string, err error, code h2sm.ErrCode) *h2sm.ConnError {
	t.Helper()
	var ce *h2sm.ConnError
	if !errors.As(err, &ce) || ce.Code != code || ce.Remote {
		t.Fatalf("%s: error = %v, want a local *h2sm.ConnError with code %v", why, err, code)
	}
	return ce
}

// wantConnErrorClose expects the answer to a connection error: GOAWAY with
// last and code, then EventConnClosed carrying a local *ConnError with the
// same code, and nothing more.
func wantConnErrorClose(t *testing.T, tc *memory.Peer, why string, last h2sm.StreamID, code h2sm.ErrCode) {
	t.Helper()
	tc.WantGoAway(why, last, code)
	wantLocalConnErr(t, why, tc.WantClosed(why), code)
	tc.WantIdle(why + ": nothing after the GOAWAY")
}

func TestConnHandshakePhases(t *testing.T) {
	tc := memory.NewPeer(t)
	wantPhase(t, tc, "before any byte", h2sm.PhasePreface)
	wantDefaultServerPreface(tc)
	tc.WantIdle("the server speaks first only with its SETTINGS")

	tc.Preface()
	wantPhase(t, tc, "after the preface", h2sm.PhaseSettings)
	tc.WantIdle("the preface alone is not answered")

	tc.WriteSettings()
	wantPhase(t, tc, "after the client's SETTINGS", h2sm.PhaseOpen)
	tc.WantFrame("§6.5.3: the client's SETTINGS are acknowledged", memory.Settings{Ack: true})

	tc.WriteSettingsAck()
	wantPhase(t, tc, "after the ACK of the server's SETTINGS", h2sm.PhaseOpen)
	tc.WantIdle("an ACK is not answered")

	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("requests are served once open", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/"})
}

func TestConnHandshakePrefaceByteByByte(t *testing.T) {
	tc := memory.NewPeer(t)
	wantDefaultServerPreface(tc)
	for i := range len(clientPreface) {
		wantPhase(t, tc, "inside the preface", h2sm.PhasePreface)
		tc.WriteRaw([]byte{clientPreface[i]})
		tc.WantIdle("a partial preface is not answered")
	}
	wantPhase(t, tc, "after the last preface byte", h2sm.PhaseSettings)

	// SETTINGS MAX_CONCURRENT_STREAMS=10, also one byte at a time.
	settings := []byte{0, 0, 6, byte(http2.FrameSettings), 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 10}
	for i, b := range settings {
		wantPhase(t, tc, "inside the first SETTINGS", h2sm.PhaseSettings)
		tc.WriteRaw([]byte{b})
		if i < len(settings)-1 {
			tc.WantIdle("a partial frame is not answered")
		}
	}
	tc.WantFrame("SETTINGS acknowledged once complete", memory.Settings{Ack: true})
	wantPhase(t, tc, "after the first SETTINGS", h2sm.PhaseOpen)
	tc.WantIdle("one ACK")
}

func TestConnHandshakePrefaceAndFramesInOneWrite(t *testing.T) {
	tc := memory.NewPeer(t)
	wantDefaultServerPreface(tc)
	b := []byte(clientPreface)
	b = append(b, 0, 0, 0, byte(http2.FrameSettings), 0, 0, 0, 0, 0)                     // SETTINGS
	b = append(b, 0, 0, 8, byte(http2.FramePing), 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8) // PING
	tc.WriteRaw(b)
	tc.WantFrame("SETTINGS right after the preface", memory.Settings{Ack: true})
	tc.WantFrame("PING in the same write", memory.Ping{Ack: true, Data: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}})
	wantPhase(t, tc, "open", h2sm.PhaseOpen)
}

func TestConnHandshakeInvalidPreface(t *testing.T) {
	for _, tt := range []struct {
		name   string
		writes []string
	}{
		{"HTTP/1.1 request", []string{"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"}},
		{"HTTP/1.1 in the PRI line", []string{"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n"}},
		{"last byte wrong", []string{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r"}},
		{"wrong in a later write", []string{"PRI * HTTP/2.0\r\n", "\r\nXM\r\n\r\n"}},
		{"one byte", []string{"\x00"}},
		{"a SETTINGS frame without preface", []string{"\x00\x00\x00\x04\x00\x00\x00\x00\x00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			wantDefaultServerPreface(tc)
			for _, w := range tt.writes[:len(tt.writes)-1] {
				tc.WriteRaw([]byte(w))
				tc.WantIdle("the preface so far is valid")
				wantPhase(t, tc, "valid so far", h2sm.PhasePreface)
			}
			tc.WriteRaw([]byte(tt.writes[len(tt.writes)-1]))
			// §3.4: "Clients and servers MUST treat an invalid connection
			// preface as a connection error ... of type PROTOCOL_ERROR."
			wantConnErrorClose(t, tc, "§3.4: invalid preface", 0, h2sm.ErrCodeProtocol)
			if got := tc.Conn().Stats().BytesIn; got > uint64(len(clientPreface)) {
				t.Errorf("Stats().BytesIn = %d after an invalid preface", got)
			}
		})
	}
}

func TestConnHandshakeFirstFrameNotSettings(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(tc *memory.Peer)
	}{
		{"PING", func(tc *memory.Peer) { tc.WritePing(false, [8]byte{1}) }},
		{"PING ACK", func(tc *memory.Peer) { tc.WritePing(true, [8]byte{1}) }},
		{"DATA", func(tc *memory.Peer) { tc.WriteData(1, []byte("x"), true) }},
		{"SETTINGS ACK", func(tc *memory.Peer) { tc.WriteSettingsAck() }},
		{"HEADERS", func(tc *memory.Peer) { tc.WriteHeaders(1, memory.GET("/"), memory.EndStream) }},
		{"WINDOW_UPDATE", func(tc *memory.Peer) { tc.WriteWindowUpdate(0, 100) }},
		{"PRIORITY", func(tc *memory.Peer) { tc.WritePriority(1, 0, 15, false) }},
		{"RST_STREAM", func(tc *memory.Peer) { tc.WriteRSTStream(1, h2sm.ErrCodeCancel) }},
		{"GOAWAY", func(tc *memory.Peer) { tc.WriteGoAway(0, h2sm.ErrCodeNo, "") }},
		{"unknown type", func(tc *memory.Peer) { tc.WriteRawFrame(0xfa, 0, 0, []byte("x")) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			wantDefaultServerPreface(tc)
			tc.Preface()
			tt.write(tc)
			// §3.4: "This sequence MUST be followed by a SETTINGS frame".
			wantConnErrorClose(t, tc, "§3.4: the first frame must be SETTINGS", 0, h2sm.ErrCodeProtocol)
		})
	}
}

func TestConnHandshakeServerSettingsFollowConfig(t *testing.T) {
	for _, tt := range []struct {
		name   string
		config func(*h2sm.Config)
		want   []http2.Setting
		incr   uint32 // connection WINDOW_UPDATE increment; 0 = none
	}{
		{
			name:   "zero Config",
			config: func(*h2sm.Config) {},
			want:   defaultServerSettings,
			incr:   h2sm.DefaultConnWindowSize - 65535,
		},
		{
			name: "every setting",
			config: func(c *h2sm.Config) {
				c.MaxConcurrentStreams = 7
				c.InitialWindowSize = 100000
				c.MaxFrameSize = 1 << 20
				c.MaxHeaderListSize = 8000
				c.HeaderTableSize = 8192
				c.EnableConnectProtocol = true
				c.ConnWindowSize = 200000
			},
			want: []http2.Setting{
				{ID: http2.SettingHeaderTableSize, Val: 8192},
				{ID: http2.SettingMaxConcurrentStreams, Val: 7},
				{ID: http2.SettingInitialWindowSize, Val: 100000},
				{ID: http2.SettingMaxFrameSize, Val: 1 << 20},
				{ID: http2.SettingMaxHeaderListSize, Val: 8000},
				{ID: http2.SettingEnableConnectProtocol, Val: 1},
			},
			incr: 200000 - 65535,
		},
		{
			name: "RFC defaults are not repeated",
			config: func(c *h2sm.Config) {
				c.InitialWindowSize = 65535
				c.MaxFrameSize = 16384
				c.HeaderTableSize = 4096
				c.ConnWindowSize = 65535
			},
			want: []http2.Setting{
				{ID: http2.SettingMaxConcurrentStreams, Val: h2sm.DefaultMaxConcurrentStreams},
				{ID: http2.SettingMaxHeaderListSize, Val: h2sm.DefaultMaxHeaderListSize},
			},
		},
		{
			name: "largest values",
			config: func(c *h2sm.Config) {
				c.MaxConcurrentStreams = 1<<32 - 1
				c.InitialWindowSize = 1<<31 - 1
				c.MaxFrameSize = 1<<24 - 1
				c.ConnWindowSize = 1<<31 - 1
			},
			want: []http2.Setting{
				{ID: http2.SettingMaxConcurrentStreams, Val: 1<<32 - 1},
				{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1},
				{ID: http2.SettingMaxFrameSize, Val: 1<<24 - 1},
				{ID: http2.SettingMaxHeaderListSize, Val: h2sm.DefaultMaxHeaderListSize},
			},
			incr: 1<<31 - 1 - 65535,
		},
		{
			name:   "ConnWindowSize below 65535 is raised, no WINDOW_UPDATE",
			config: func(c *h2sm.Config) { c.ConnWindowSize = 1000 },
			want:   defaultServerSettings,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t, memory.WithConfig(tt.config))
			tc.WantFrame("SETTINGS reflect the Config", memory.Settings{Values: tt.want})
			if tt.incr != 0 {
				tc.WantFrame("§6.9.2: the connection window grows only by WINDOW_UPDATE",
					memory.WindowUpdate{Stream: 0, Incr: tt.incr})
			}
			tc.WantIdle("nothing else before the client speaks")
			tc.Preface()
			tc.WriteSettings()
			tc.WantFrame("ACK", memory.Settings{Ack: true})
			tc.WriteSettingsAck()
			tc.WantIdle("handshake done")
		})
	}
}
