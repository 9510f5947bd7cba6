package proptest

import (
	"fmt"
	"strings"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// Mode says what kind of client a run plays.
type Mode uint8

const (
	// ModeValid: a conforming client. Every property applies.
	ModeValid Mode = iota
	// ModeInject: a conforming client that sends one invalid frame at a
	// random point; the Conn must answer as the RFC requires.
	ModeInject
	// ModeMutate: a conforming client one byte of whose output is corrupted
	// at a random point; only the properties that hold for any input apply.
	ModeMutate
)

// String renders the mode for traces and failure reports.
func (m Mode) String() string {
	return [...]string{"valid", "inject", "mutate"}[m]
}

// Setup is what a run starts from: the server's Config (the fields the
// generator varies; the rest keep their defaults) and the client's first
// SETTINGS. It is a value: gopter regenerates it for every replay.
type Setup struct {
	MaxConcurrentStreams uint32
	InitialWindowSize    uint32
	ConnWindowSize       uint32
	MaxFrameSize         uint32
	StreamSendBuffer     int
	OutputHighWater      int
	HeaderTableSize      uint32
	MaxEncoderTableSize  uint32
	ManualFlowControl    bool
	PingInterval         time.Duration
	IdleTimeout          time.Duration
	Client               []http2.Setting
}

// Config returns the h2sm.Config the Conn is created with.
func (s Setup) Config() h2sm.Config {
	return h2sm.Config{
		MaxConcurrentStreams: s.MaxConcurrentStreams,
		InitialWindowSize:    s.InitialWindowSize,
		ConnWindowSize:       s.ConnWindowSize,
		MaxFrameSize:         s.MaxFrameSize,
		StreamSendBuffer:     s.StreamSendBuffer,
		OutputHighWater:      s.OutputHighWater,
		HeaderTableSize:      s.HeaderTableSize,
		MaxEncoderTableSize:  s.MaxEncoderTableSize,
		ManualFlowControl:    s.ManualFlowControl,
		PingInterval:         s.PingInterval,
		IdleTimeout:          s.IdleTimeout,
	}
}

// String renders the non-default fields, as a Go-like literal.
func (s Setup) String() string {
	var parts []string
	add := func(name string, v any, zero bool) {
		if !zero {
			parts = append(parts, fmt.Sprintf("%s:%v", name, v))
		}
	}
	add("MaxConcurrentStreams", s.MaxConcurrentStreams, s.MaxConcurrentStreams == 0)
	add("InitialWindowSize", s.InitialWindowSize, s.InitialWindowSize == 0)
	add("ConnWindowSize", s.ConnWindowSize, s.ConnWindowSize == 0)
	add("MaxFrameSize", s.MaxFrameSize, s.MaxFrameSize == 0)
	add("StreamSendBuffer", s.StreamSendBuffer, s.StreamSendBuffer == 0)
	add("OutputHighWater", s.OutputHighWater, s.OutputHighWater == 0)
	add("HeaderTableSize", s.HeaderTableSize, s.HeaderTableSize == 0)
	add("MaxEncoderTableSize", s.MaxEncoderTableSize, s.MaxEncoderTableSize == 0)
	add("ManualFlowControl", s.ManualFlowControl, !s.ManualFlowControl)
	add("PingInterval", s.PingInterval, s.PingInterval == 0)
	add("IdleTimeout", s.IdleTimeout, s.IdleTimeout == 0)
	var cs []string
	for _, c := range s.Client {
		cs = append(cs, c.String())
	}
	return fmt.Sprintf("Config{%s} client SETTINGS[%s]", strings.Join(parts, " "), strings.Join(cs, " "))
}
