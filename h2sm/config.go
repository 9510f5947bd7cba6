package h2sm

import (
	"fmt"
	"time"
)

// Config holds a connection's limits and timers. The zero Config is valid:
// every zero field means the documented default. Protocol parameters keep
// the RFC 9113 value where that costs nothing (MaxFrameSize,
// HeaderTableSize); the receive windows default to 1 MiB rather than the
// RFC's 65535, which would cap an upload at one window per round trip; the
// limits RFC 9113 leaves open follow research/attacks.md §2. For the timers,
// a negative value turns the timer off.
type Config struct {
	// MaxConcurrentStreams is advertised as SETTINGS_MAX_CONCURRENT_STREAMS.
	// A HEADERS frame that opens a stream beyond it is refused with
	// RST_STREAM REFUSED_STREAM (RFC 9113 §5.1.2). If zero, 100 is used.
	MaxConcurrentStreams uint32

	// InitialWindowSize is advertised as SETTINGS_INITIAL_WINDOW_SIZE: how many
	// bytes of request body each stream may have in flight. If zero, 1 MiB is used.
	InitialWindowSize uint32

	// ConnWindowSize is the connection-level receive window, announced with a
	// WINDOW_UPDATE on stream 0 after the SETTINGS. If zero, 1 MiB is used.
	// Values below 65535 are raised to 65535 (the RFC's initial window).
	ConnWindowSize uint32

	// MaxFrameSize is advertised as SETTINGS_MAX_FRAME_SIZE; a larger frame is a
	// connection error FRAME_SIZE_ERROR (RFC 9113 §4.2). If zero, 16384 is used.
	MaxFrameSize uint32

	// MaxHeaderListSize is advertised as SETTINGS_MAX_HEADER_LIST_SIZE. A request
	// whose decoded header list (name + value + 32 per field) is larger gets a
	// 431 response; one more than four times larger closes the connection with
	// ENHANCE_YOUR_CALM. If zero, 65536 is used.
	MaxHeaderListSize uint32

	// MaxHeaderFields caps the number of regular (non-pseudo) fields in one
	// header block; more get a 431 response. If zero, 100 is used.
	MaxHeaderFields int

	// HeaderTableSize is advertised as SETTINGS_HEADER_TABLE_SIZE and bounds the
	// HPACK decoder's dynamic table. If zero, 4096 is used.
	HeaderTableSize uint32

	// MaxEncoderTableSize bounds the HPACK encoder's dynamic table whatever the
	// peer's SETTINGS_HEADER_TABLE_SIZE says. If zero, 4096 is used.
	MaxEncoderTableSize uint32

	// StreamSendBuffer is how many bytes of response body one stream may hold
	// before WriteData accepts less than it was given. If zero, 65536 is used.
	StreamSendBuffer int

	// OutputHighWater is how many bytes of unsent output the Conn holds before
	// Receive stops consuming input and no more DATA is framed. If zero,
	// 524288 (512 KiB) is used.
	OutputHighWater int

	// MaxQueuedControlFrames bounds the control frames (SETTINGS ACK, PING ACK,
	// RST_STREAM, WINDOW_UPDATE) queued while the driver does not drain the
	// output; past it the connection closes with ENHANCE_YOUR_CALM. If zero,
	// 1000 is used.
	MaxQueuedControlFrames int

	// MaxSettingsEntries caps the settings in one SETTINGS frame; more close the
	// connection with ENHANCE_YOUR_CALM. If zero, 32 is used.
	MaxSettingsEntries int

	// MaxEmptyFrames and EmptyFrameRate are a token bucket for DATA frames
	// without payload or END_STREAM and empty CONTINUATION frames
	// (CVE-2019-9518): at most MaxEmptyFrames in a burst, refilled at
	// EmptyFrameRate a second; past it the connection closes with
	// ENHANCE_YOUR_CALM. If zero, 100 and 10 are used.
	MaxEmptyFrames int
	EmptyFrameRate float64

	// MaxLocalResets and LocalResetRate are a token bucket for the stream
	// errors this side detects, each answered with RST_STREAM (MadeYouReset,
	// CVE-2025-8671). If zero, 1000 and 33 are used.
	MaxLocalResets int
	LocalResetRate float64

	// MaxRemoteResets and RemoteResetRate are a token bucket for the
	// RST_STREAM frames the client sends (Rapid Reset, CVE-2023-44487). If
	// zero, 1000 and 33 are used.
	MaxRemoteResets int
	RemoteResetRate float64

	// MaxGlitches and GlitchRate are a token bucket for frames that cost
	// work and achieve little: PRIORITY, PING, SETTINGS after the first,
	// frames of unknown type, and WINDOW_UPDATEs of less than 1024 for a
	// window that is already open (CVE-2019-9511, -9512, -9513, -9515). If
	// zero, 10000 and 330 are used.
	MaxGlitches int
	GlitchRate  float64

	// ManualFlowControl, when true, returns receive-window credit only through
	// Consumed. When false (the default), credit returns as DATA is received,
	// and WINDOW_UPDATEs are batched.
	ManualFlowControl bool

	// EnableConnectProtocol advertises SETTINGS_ENABLE_CONNECT_PROTOCOL
	// (RFC 8441) and accepts the :protocol pseudo-header on CONNECT.
	EnableConnectProtocol bool

	// HandshakeTimeout bounds the time from NewConn to the client's preface and
	// first SETTINGS frame. If zero, 10s is used.
	HandshakeTimeout time.Duration

	// SettingsAckTimeout bounds the wait for the ACK of our SETTINGS; expiry is
	// a connection error SETTINGS_TIMEOUT (RFC 9113 §6.5.3). If zero, 10s is used.
	SettingsAckTimeout time.Duration

	// HeaderBlockTimeout bounds the time from a HEADERS frame without
	// END_HEADERS to the end of its CONTINUATION frames; expiry closes the
	// connection with ENHANCE_YOUR_CALM. If zero, 10s is used.
	HeaderBlockTimeout time.Duration

	// IdleTimeout closes the connection with GOAWAY NO_ERROR after it has had no
	// open stream for that long. If zero, 3 minutes is used.
	IdleTimeout time.Duration

	// PingInterval sends a keepalive PING after the peer has sent nothing for
	// that long. If zero, keepalive pings are off.
	PingInterval time.Duration

	// PingTimeout closes the connection when a keepalive PING is not answered
	// within it. If zero, 15s is used.
	PingTimeout time.Duration

	// ShutdownPingTimeout bounds the first phase of a graceful Shutdown: the
	// wait for the ACK of the PING sent with the first GOAWAY. If zero, 1s is used.
	ShutdownPingTimeout time.Duration

	// DrainTimeout bounds the time from the final GOAWAY to the end of the last
	// open stream; on expiry the connection closes. If zero, 30s is used.
	DrainTimeout time.Duration

	// StreamStallTimeout resets (RST_STREAM CANCEL) a stream that has had
	// response body to send and could send none of it for that long because
	// the client's flow-control windows stayed closed. If zero, 60s is used.
	StreamStallTimeout time.Duration

	// WriteStallTimeout closes the connection when output is pending and the
	// driver has taken none of it for that long. If zero, 30s is used.
	WriteStallTimeout time.Duration

	// Buffers, if set, lends the Conn the buffers it frames output and
	// encodes header blocks in, and takes them back as soon as they are
	// empty: once the driver took all output, an idle connection holds no
	// output buffer. Drivers that serve many connections share one pool
	// (see BufferPool). If nil, the Conn keeps its own buffers.
	Buffers BufferPool
}

// Limits used where a Config field is zero.
const (
	DefaultMaxConcurrentStreams   = 100
	DefaultInitialWindowSize      = 1 << 20
	DefaultConnWindowSize         = 1 << 20
	DefaultMaxFrameSize           = 16384
	DefaultMaxHeaderListSize      = 65536
	DefaultMaxHeaderFields        = 100
	DefaultHeaderTableSize        = 4096
	DefaultMaxEncoderTableSize    = 4096
	DefaultStreamSendBuffer       = 65536
	DefaultOutputHighWater        = 512 << 10
	DefaultMaxQueuedControlFrames = 1000
	DefaultMaxSettingsEntries     = 32
	DefaultMaxEmptyFrames         = 100
	DefaultEmptyFrameRate         = 10
	DefaultMaxLocalResets         = 1000
	DefaultLocalResetRate         = 33
	DefaultMaxRemoteResets        = 1000
	DefaultRemoteResetRate        = 33
	DefaultMaxGlitches            = 10000
	DefaultGlitchRate             = 330
)

// Timer durations used where a Config field is zero.
const (
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultSettingsAckTimeout  = 10 * time.Second
	DefaultHeaderBlockTimeout  = 10 * time.Second
	DefaultIdleTimeout         = 3 * time.Minute
	DefaultPingTimeout         = 15 * time.Second
	DefaultShutdownPingTimeout = time.Second
	DefaultDrainTimeout        = 30 * time.Second
	DefaultWriteStallTimeout   = 30 * time.Second
	DefaultStreamStallTimeout  = 60 * time.Second
)

// RFC 9113 constants.
const (
	initialWindowSize = 65535     // §6.9.2
	maxWindow         = 1<<31 - 1 // §6.9.1
	minMaxFrameSize   = 1 << 14   // §6.5.2
	maxMaxFrameSize   = 1<<24 - 1
	frameHeaderLen    = 9
)

// normalized returns cfg with every zero field replaced by its default, or an
// error wrapping ErrInvalidConfig.
func (cfg Config) normalized() (Config, error) {
	u32 := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	i := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	u32(&cfg.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	u32(&cfg.InitialWindowSize, DefaultInitialWindowSize)
	u32(&cfg.ConnWindowSize, DefaultConnWindowSize)
	u32(&cfg.MaxFrameSize, DefaultMaxFrameSize)
	u32(&cfg.MaxHeaderListSize, DefaultMaxHeaderListSize)
	i(&cfg.MaxHeaderFields, DefaultMaxHeaderFields)
	u32(&cfg.HeaderTableSize, DefaultHeaderTableSize)
	u32(&cfg.MaxEncoderTableSize, DefaultMaxEncoderTableSize)
	i(&cfg.StreamSendBuffer, DefaultStreamSendBuffer)
	i(&cfg.OutputHighWater, DefaultOutputHighWater)
	i(&cfg.MaxQueuedControlFrames, DefaultMaxQueuedControlFrames)
	i(&cfg.MaxSettingsEntries, DefaultMaxSettingsEntries)
	i(&cfg.MaxEmptyFrames, DefaultMaxEmptyFrames)
	i(&cfg.MaxLocalResets, DefaultMaxLocalResets)
	i(&cfg.MaxRemoteResets, DefaultMaxRemoteResets)
	i(&cfg.MaxGlitches, DefaultMaxGlitches)
	f := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	f(&cfg.EmptyFrameRate, DefaultEmptyFrameRate)
	f(&cfg.LocalResetRate, DefaultLocalResetRate)
	f(&cfg.RemoteResetRate, DefaultRemoteResetRate)
	f(&cfg.GlitchRate, DefaultGlitchRate)
	dur(&cfg.StreamStallTimeout, DefaultStreamStallTimeout)
	dur(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	dur(&cfg.SettingsAckTimeout, DefaultSettingsAckTimeout)
	dur(&cfg.HeaderBlockTimeout, DefaultHeaderBlockTimeout)
	dur(&cfg.IdleTimeout, DefaultIdleTimeout)
	dur(&cfg.PingTimeout, DefaultPingTimeout)
	dur(&cfg.ShutdownPingTimeout, DefaultShutdownPingTimeout)
	dur(&cfg.DrainTimeout, DefaultDrainTimeout)
	dur(&cfg.WriteStallTimeout, DefaultWriteStallTimeout)
	if cfg.ConnWindowSize < initialWindowSize {
		cfg.ConnWindowSize = initialWindowSize
	}
	switch {
	case cfg.InitialWindowSize > maxWindow:
		return cfg, fmt.Errorf("%w: InitialWindowSize %d > 2^31-1", ErrInvalidConfig, cfg.InitialWindowSize)
	case cfg.ConnWindowSize > maxWindow:
		return cfg, fmt.Errorf("%w: ConnWindowSize %d > 2^31-1", ErrInvalidConfig, cfg.ConnWindowSize)
	case cfg.MaxHeaderListSize > 1<<30:
		return cfg, fmt.Errorf("%w: MaxHeaderListSize %d > 2^30", ErrInvalidConfig, cfg.MaxHeaderListSize)
	case cfg.MaxFrameSize < minMaxFrameSize || cfg.MaxFrameSize > maxMaxFrameSize:
		return cfg, fmt.Errorf("%w: MaxFrameSize %d outside [16384, 2^24-1]", ErrInvalidConfig, cfg.MaxFrameSize)
	case cfg.MaxHeaderFields < 0 || cfg.StreamSendBuffer < 0 || cfg.OutputHighWater < 0 ||
		cfg.MaxQueuedControlFrames < 0 || cfg.MaxSettingsEntries < 0 || cfg.MaxEmptyFrames < 0 ||
		cfg.MaxLocalResets < 0 || cfg.MaxRemoteResets < 0 || cfg.MaxGlitches < 0 ||
		cfg.EmptyFrameRate < 0 || cfg.LocalResetRate < 0 || cfg.RemoteResetRate < 0 || cfg.GlitchRate < 0:
		return cfg, fmt.Errorf("%w: negative limit", ErrInvalidConfig)
	}
	return cfg, nil
}
