package h2sm

import (
	"errors"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// defaultConfig is Config{} with every default spelled out.
var defaultConfig = Config{
	MaxConcurrentStreams:   100,
	InitialWindowSize:      1 << 20,
	ConnWindowSize:         1 << 20,
	MaxFrameSize:           16384,
	MaxHeaderListSize:      65536,
	MaxHeaderFields:        100,
	HeaderTableSize:        4096,
	MaxEncoderTableSize:    4096,
	StreamSendBuffer:       65536,
	OutputHighWater:        512 << 10,
	MaxQueuedControlFrames: 1000,
	MaxSettingsEntries:     32,
	MaxEmptyFrames:         100,
	EmptyFrameRate:         10,
	MaxLocalResets:         1000,
	LocalResetRate:         33,
	MaxRemoteResets:        1000,
	RemoteResetRate:        33,
	MaxGlitches:            10000,
	GlitchRate:             330,
	StreamStallTimeout:     60 * time.Second,
	HandshakeTimeout:       10 * time.Second,
	SettingsAckTimeout:     10 * time.Second,
	HeaderBlockTimeout:     10 * time.Second,
	IdleTimeout:            3 * time.Minute,
	PingInterval:           0, // off
	PingTimeout:            15 * time.Second,
	ShutdownPingTimeout:    time.Second,
	DrainTimeout:           30 * time.Second,
	WriteStallTimeout:      30 * time.Second,
}

func TestConfigNormalizedDefaults(t *testing.T) {
	got, err := Config{}.normalized()
	if err != nil {
		t.Fatalf("Config{}.normalized() error = %v, want nil (STYLE.md §6: Config{} must be valid)", err)
	}
	if got != defaultConfig {
		t.Errorf("Config{}.normalized() = %+v, want %+v", got, defaultConfig)
	}
	// Normalizing is idempotent.
	if again, err := got.normalized(); err != nil || again != got {
		t.Errorf("normalized twice = %+v, %v, want %+v", again, err, got)
	}
	// The RFC 9113 defaults where the RFC has one (§6.5.2); the others are
	// documented choices (research/attacks.md §2).
	if got.MaxFrameSize != 16384 || got.HeaderTableSize != 4096 {
		t.Errorf("MaxFrameSize, HeaderTableSize = %d, %d, want the RFC's 16384, 4096", got.MaxFrameSize, got.HeaderTableSize)
	}
}

func TestConfigNormalizedFields(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want func(Config) bool
	}{
		{"explicit values are kept", Config{MaxConcurrentStreams: 7, InitialWindowSize: 1, MaxFrameSize: 1 << 20, StreamSendBuffer: 3},
			func(c Config) bool {
				return c.MaxConcurrentStreams == 7 && c.InitialWindowSize == 1 && c.MaxFrameSize == 1<<20 && c.StreamSendBuffer == 3
			}},
		{"ConnWindowSize below 65535 is raised", Config{ConnWindowSize: 1000}, func(c Config) bool { return c.ConnWindowSize == 65535 }},
		{"ConnWindowSize 65535 is kept", Config{ConnWindowSize: 65535}, func(c Config) bool { return c.ConnWindowSize == 65535 }},
		{"negative durations mean off and are kept",
			Config{HandshakeTimeout: -1, SettingsAckTimeout: -1, HeaderBlockTimeout: -1, IdleTimeout: -1, PingTimeout: -1,
				ShutdownPingTimeout: -1, DrainTimeout: -1, WriteStallTimeout: -1},
			func(c Config) bool {
				return c.HandshakeTimeout < 0 && c.SettingsAckTimeout < 0 && c.HeaderBlockTimeout < 0 && c.IdleTimeout < 0 &&
					c.PingTimeout < 0 && c.ShutdownPingTimeout < 0 && c.DrainTimeout < 0 && c.WriteStallTimeout < 0
			}},
		{"PingInterval stays off by default", Config{}, func(c Config) bool { return c.PingInterval == 0 }},
		{"flags are kept", Config{ManualFlowControl: true, EnableConnectProtocol: true},
			func(c Config) bool { return c.ManualFlowControl && c.EnableConnectProtocol }},
		{"largest valid windows and frame size", Config{InitialWindowSize: 1<<31 - 1, ConnWindowSize: 1<<31 - 1, MaxFrameSize: 1<<24 - 1},
			func(c Config) bool {
				return c.InitialWindowSize == 1<<31-1 && c.ConnWindowSize == 1<<31-1 && c.MaxFrameSize == 1<<24-1
			}},
	}
	for _, tt := range tests {
		got, err := tt.in.normalized()
		if err != nil || !tt.want(got) {
			t.Errorf("%s: (%+v).normalized() = %+v, %v", tt.name, tt.in, got, err)
		}
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"InitialWindowSize 2^31", Config{InitialWindowSize: 1 << 31}},
		{"ConnWindowSize 2^31", Config{ConnWindowSize: 1 << 31}},
		{"MaxFrameSize 16383", Config{MaxFrameSize: 16383}},
		{"MaxFrameSize 1", Config{MaxFrameSize: 1}},
		{"MaxFrameSize 2^24", Config{MaxFrameSize: 1 << 24}},
		{"negative MaxHeaderFields", Config{MaxHeaderFields: -1}},
		{"negative StreamSendBuffer", Config{StreamSendBuffer: -1}},
		{"negative OutputHighWater", Config{OutputHighWater: -1}},
		{"negative MaxQueuedControlFrames", Config{MaxQueuedControlFrames: -1}},
		{"negative MaxSettingsEntries", Config{MaxSettingsEntries: -1}},
		{"negative MaxEmptyFrames", Config{MaxEmptyFrames: -1}},
		{"negative MaxLocalResets", Config{MaxLocalResets: -1}},
	}
	for _, tt := range tests {
		if _, err := tt.cfg.normalized(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: normalized() error = %v, want ErrInvalidConfig", tt.name, err)
		}
		c, err := NewConn(testEpoch, tt.cfg)
		if c != nil || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: NewConn() = %v, %v, want nil, ErrInvalidConfig", tt.name, c, err)
		}
	}
}

func TestNewConnConfig(t *testing.T) {
	c, err := NewConn(testEpoch, Config{})
	if err != nil {
		t.Fatalf("NewConn(Config{}) error = %v", err)
	}
	if c.Config() != defaultConfig {
		t.Errorf("Config() = %+v, want the normalized defaults", c.Config())
	}
	if c.Phase() != PhasePreface || c.Closed() {
		t.Errorf("new Conn: Phase() = %v, Closed() = %v", c.Phase(), c.Closed())
	}
}

// TestConnInitialSettings: the SETTINGS the server opens with advertise the
// configuration (values equal to the RFC defaults are left out, and
// MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE, which have none, are
// always sent), and a WINDOW_UPDATE opens the connection window.
func TestConnInitialSettings(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		settings []http2.Setting
		connWU   uint32 // 0: none
	}{
		{"defaults", Config{}, []http2.Setting{
			{ID: http2.SettingMaxConcurrentStreams, Val: 100},
			{ID: http2.SettingInitialWindowSize, Val: 1 << 20},
			{ID: http2.SettingMaxHeaderListSize, Val: 65536},
		}, 1<<20 - 65535},
		{"RFC window, larger frames, table, CONNECT", Config{MaxConcurrentStreams: 5, InitialWindowSize: 65535, ConnWindowSize: 65535,
			MaxFrameSize: 1 << 20, MaxHeaderListSize: 1000, HeaderTableSize: 8192, EnableConnectProtocol: true}, []http2.Setting{
			{ID: http2.SettingMaxConcurrentStreams, Val: 5},
			{ID: http2.SettingMaxFrameSize, Val: 1 << 20},
			{ID: http2.SettingMaxHeaderListSize, Val: 1000},
			{ID: http2.SettingHeaderTableSize, Val: 8192},
			{ID: http2.SettingEnableConnectProtocol, Val: 1},
		}, 0},
	}
	for _, tt := range tests {
		d := newConnDriver(t, tt.cfg)
		frames := d.frames()
		if len(frames) == 0 || frames[0].Type != http2.FrameSettings || !slices.Equal(frames[0].Settings, tt.settings) {
			t.Errorf("%s: first frame %v %v, want SETTINGS %v", tt.name, frames, frames[0].Settings, tt.settings)
		}
		var wu []uint32
		for _, f := range frames[1:] {
			if f.Type == http2.FrameWindowUpdate && f.Stream == 0 {
				wu = append(wu, f.Incr)
			}
		}
		if tt.connWU == 0 && len(wu) != 0 || tt.connWU != 0 && !slices.Equal(wu, []uint32{tt.connWU}) {
			t.Errorf("%s: connection WINDOW_UPDATEs %v, want %d", tt.name, wu, tt.connWU)
		}
		d.finish()
	}
}
