package memory

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// failRecorder is a testing.TB that records failures, for the oracle's own
// failure paths.
type failRecorder struct {
	testing.TB
	errs []string
}

func (r *failRecorder) Helper()          {}
func (r *failRecorder) Failed() bool     { return len(r.errs) > 0 }
func (r *failRecorder) Log(...any)       {}
func (r *failRecorder) Cleanup(f func()) {}
func (r *failRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *failRecorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// serverSends runs a Peer after a handshake, lets the test add bytes as if
// the server had sent them, and returns the failures the oracle reported.
func serverSends(t *testing.T, setup func(p *Peer), frames func(fr *http2.Framer)) []string {
	t.Helper()
	r := &failRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := NewPeer(r)
		p.Handshake()
		if setup != nil {
			setup(p)
		}
		var buf strings.Builder
		fr := http2.NewFramer(&buf, nil)
		fr.AllowIllegalWrites = true
		frames(fr)
		p.raw = append(p.raw, buf.String()...)
		p.decodeOutput()
	}()
	<-done
	return r.errs
}

// writeData writes n bytes of DATA on stream id in frames of 16384 bytes.
func writeData(fr *http2.Framer, id uint32, n int) {
	for n > 0 {
		k := min(n, 16384)
		fr.WriteData(id, false, make([]byte, k))
		n -= k
	}
}

// twoUpdates returns two header blocks from an encoder whose table size
// went down and up between them: the second opens with two updates.
func twoUpdates() (block1, block2 []byte) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	enc.WriteField(hpack.HeaderField{Name: "x-a", Value: "1"})
	block1 = bytes.Clone(buf.Bytes())
	buf.Reset()
	enc.SetMaxDynamicTableSize(1000)
	enc.SetMaxDynamicTableSize(4096)
	enc.WriteField(hpack.HeaderField{Name: "x-a", Value: "1"})
	return block1, bytes.Clone(buf.Bytes())
}

func TestOracle(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(p *Peer)
		frames func(fr *http2.Framer)
		want   string // "" for no failure
	}{{
		name:   "legal DATA",
		setup:  func(p *Peer) { p.WriteHeaders(1, GET("/"), EndStream); p.Discard() },
		frames: func(fr *http2.Framer) { writeData(fr, 1, 65535) },
	}, {
		name:   "frame over the client's SETTINGS_MAX_FRAME_SIZE",
		frames: func(fr *http2.Framer) { fr.WriteRawFrame(0xfa, 0, 0, make([]byte, 16385)) },
		want:   "client allows 16384",
	}, {
		name: "larger frame after the client raised SETTINGS_MAX_FRAME_SIZE",
		setup: func(p *Peer) {
			p.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000})
			p.Discard()
		},
		frames: func(fr *http2.Framer) { fr.WriteRawFrame(0xfa, 0, 0, make([]byte, 20000)) },
	}, {
		name:   "stream window overrun",
		setup:  func(p *Peer) { p.WriteHeaders(1, GET("/"), EndStream); p.Discard() },
		frames: func(fr *http2.Framer) { writeData(fr, 1, 65536) },
		want:   "overran the connection window",
	}, {
		name: "window granted by WINDOW_UPDATE",
		setup: func(p *Peer) {
			p.WriteHeaders(1, GET("/"), EndStream)
			p.WriteWindowUpdate(0, 10)
			p.WriteWindowUpdate(1, 10)
			p.Discard()
		},
		frames: func(fr *http2.Framer) { writeData(fr, 1, 65545) },
	}, {
		name: "a lowered stream window before the server acknowledged it",
		setup: func(p *Peer) {
			p.WriteHeaders(1, GET("/"), EndStream)
			p.Discard()
			// As if sent, but not yet answered by the server.
			var buf strings.Builder
			http2.NewFramer(&buf, nil).WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
			p.limits.granted(parseFrame([]byte(buf.String())))
		},
		frames: func(fr *http2.Framer) { writeData(fr, 1, 100) },
	}, {
		name: "stream window smaller than the connection's",
		setup: func(p *Peer) {
			p.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
			p.WriteHeaders(1, GET("/"), EndStream)
			p.Discard()
		},
		frames: func(fr *http2.Framer) { fr.WriteData(1, false, make([]byte, 11)) },
		want:   "overran the window of stream 1",
	}, {
		name: "CONTINUATION interrupted",
		frames: func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x88}})
			fr.WritePing(true, [8]byte{})
		},
		want: "malformed frame",
	}, {
		name: "undecodable header block",
		frames: func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff}, EndHeaders: true})
		},
		want: "cannot decode",
	}, {
		name: "two table size updates, table not empty (RFC 7541 §4.2)",
		frames: func(fr *http2.Framer) {
			block1, block2 := twoUpdates()
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block1, EndHeaders: true})
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block2, EndHeaders: true})
		},
	}, {
		name: "three table size updates",
		frames: func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x20, 0x20, 0x20, 0x88}, EndHeaders: true})
		},
		want: "more than two",
	}, {
		name:   "malformed PING",
		frames: func(fr *http2.Framer) { fr.WriteRawFrame(http2.FramePing, 0, 0, []byte{1}) },
		want:   "malformed frame",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := serverSends(t, tt.setup, tt.frames)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("oracle failed a legal server: %q", errs)
			case tt.want != "" && (len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), tt.want)):
				t.Errorf("oracle failures %q, want one mentioning %q", errs, tt.want)
			}
		})
	}
}
