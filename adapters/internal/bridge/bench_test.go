package bridge

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/h2sm/h2sm/h2sm"
)

// syncDriver drives one core and its bridge on the calling goroutine:
// handlers are queued by Go and run by runHandlers, outside Dispatch.
type syncDriver struct {
	core    *h2sm.Conn
	bridge  *Conn
	pending []func()
	out     []byte
	sent    int // output bytes taken
}

func (d *syncDriver) Run(f func(c *h2sm.Conn, now time.Time)) {
	now := time.Now()
	f(d.core, now)
	d.drain(now)
}

func (d *syncDriver) drain(now time.Time) {
	for ev, ok := d.core.NextEvent(); ok; ev, ok = d.core.NextEvent() {
		d.bridge.Dispatch(d.core, now, ev)
	}
	d.out = d.core.AppendOutgoing(d.out[:0])
	d.sent += len(d.out)
}

func (d *syncDriver) runHandlers() {
	for len(d.pending) > 0 {
		f := d.pending[0]
		d.pending = d.pending[1:]
		f()
	}
}

func frame(typ, flags byte, id uint32, p []byte) []byte {
	b := []byte{byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p)), typ, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], id)
	return append(b, p...)
}

// BenchmarkBridgeGET: one GET answered by an http.Handler writing 12 bytes,
// through the core and the bridge, without sockets or goroutines: what the
// bridge costs per request (net/http's Request, Header and ResponseWriter
// are most of its allocations).
func BenchmarkBridgeGET(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello world\n") })
	now := time.Now()
	core, err := h2sm.NewConn(now, CoreConfig(h2sm.Config{}, 0, 0))
	if err != nil {
		b.Fatal(err)
	}
	d := &syncDriver{core: core}
	d.bridge = NewConn(d, Config{Handler: h, Go: func(f func()) { d.pending = append(d.pending, f) }})
	in := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(0x4, 0, 0, nil)...)
	in = append(in, frame(0x4, 1, 0, nil)...)
	core.Receive(now, in)
	d.drain(now)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", "/"}, {"user-agent", "bench"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		id := uint32(2*i + 1)
		now := time.Now()
		sent := d.sent
		req := frame(0x1, 0x5, id, hb.Bytes())
		if i%4096 == 0 {
			// Return connection-level credit for the response bodies.
			req = append(req, frame(0x8, 0, 0, []byte{0, 1, 0, 0})...)
		}
		core.Receive(now, req)
		d.drain(now)
		d.runHandlers()
		if d.sent == sent {
			b.Fatalf("no response at %d: %+v, pending %d, running %d", i, core.Stats(), len(d.pending), d.bridge.running)
		}
		if id > 1<<30 {
			b.Fatal("stream ids exhausted")
		}
	}
}
