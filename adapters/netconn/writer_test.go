package netconn

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// writerCloseScenario drives one connection, over net.Pipe, to the state
// where the writer goroutine's TakeOutgoing framed the last DATA frame (with
// END_STREAM) of the last stream of a draining connection, which closed the
// core, and the writer now blocks writing it because the client stopped
// reading. net.Pipe makes it deterministic: a Write returns only once the
// client read all of it, so the client decides which Take is written last.
type writerCloseScenario struct {
	srv    *Server
	c      *conn
	cc     net.Conn
	fr     *http2.Framer
	served chan error
	quit   chan struct{} // stops the client's reader goroutine
}

func newWriterCloseScenario(t *testing.T) *writerCloseScenario {
	t.Helper()
	const bodyLen = 2*4*16384 + 100 // two Takes of four full DATA frames, then 100 bytes
	release := make(chan struct{})
	started := make(chan struct{})
	srv := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			w.Write(make([]byte, bodyLen)) // accepted whole: StreamSendBuffer is larger
		}),
		H2C: true,
	}
	// Long timers, so that no stale netconn timer fires during the test.
	srv.Config.StreamSendBuffer = 1 << 20
	srv.Config.DrainTimeout = time.Hour
	srv.Config.WriteStallTimeout = time.Hour
	srv.Config.IdleTimeout = time.Hour

	cc, sc := net.Pipe()
	s := &writerCloseScenario{srv: srv, cc: cc, fr: http2.NewFramer(cc, cc), served: make(chan error, 1), quit: make(chan struct{})}
	go func() { s.served <- srv.ServeConn(context.Background(), sc) }()
	shutdownDone := make(chan error, 1)
	t.Cleanup(func() {
		cc.Close() // a blocked Write fails; everything ends
		select {
		case <-s.served:
		case <-time.After(safety):
			t.Errorf("ServeConn did not return")
		}
		select {
		case <-shutdownDone:
		case <-time.After(safety):
			t.Errorf("Shutdown did not return")
		}
		srv.Close()
	})
	t.Cleanup(func() {
		select {
		case <-s.quit:
		default:
			close(s.quit)
		}
	})

	// The client: a reader goroutine that acknowledges SETTINGS and PING,
	// counts GOAWAYs and DATA bytes, and stops reading when told to.
	var wmu sync.Mutex
	fr := s.fr
	write := func(f func() error) {
		wmu.Lock()
		defer wmu.Unlock()
		if err := f(); err != nil {
			t.Errorf("client write: %v", err)
		}
	}
	var (
		mu        sync.Mutex
		gate      = make(chan struct{}) // closed: read
		budget    = -1                  // DATA bytes to read, then stop; -1: unlimited
		dataBytes int
	)
	goaways := make(chan struct{}, 10)
	stopped := make(chan struct{}, 1)
	close(gate)
	go func() {
		for {
			mu.Lock()
			g := gate
			mu.Unlock()
			select {
			case <-g:
			case <-s.quit:
				return
			}
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					write(fr.WriteSettingsAck)
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					d := f.Data
					write(func() error { return fr.WritePing(true, d) })
				}
			case *http2.GoAwayFrame:
				goaways <- struct{}{}
			case *http2.DataFrame:
				mu.Lock()
				dataBytes += len(f.Data())
				if budget >= 0 && dataBytes >= budget {
					gate = make(chan struct{}) // never opened again
					stopped <- struct{}{}
				}
				mu.Unlock()
			}
		}
	}()

	write(func() error { _, err := io.WriteString(cc, http2.ClientPreface); return err })
	write(func() error {
		return fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	})
	write(func() error { return fr.WriteWindowUpdate(0, 1<<30) })
	var hbuf bytesBuffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	write(func() error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hbuf, EndStream: true, EndHeaders: true})
	})
	recv(t, started, "the handler to start")
	waitFor(t, "the server to track the connection", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for k := range srv.conns {
			s.c = k
		}
		return s.c != nil
	})
	c := s.c

	// Graceful shutdown: GOAWAY and PING; the client acknowledges the PING,
	// so the final GOAWAY follows. The handler's stream keeps it draining.
	go func() { shutdownDone <- srv.Shutdown(context.Background()) }()
	recv(t, goaways, "the first GOAWAY")
	recv(t, goaways, "the final GOAWAY")

	// The client stops reading; the handler writes its whole body and
	// returns. The writer is blocked writing the HEADERS, so all the DATA
	// and the END_STREAM are left for the writer's TakeOutgoing.
	mu.Lock()
	gate = make(chan struct{})
	mu.Unlock()
	close(release)
	waitFor(t, "the handler to return", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.bridge.Running() == 0
	})
	// Read everything but the last 100 bytes: the Take holding them (and
	// END_STREAM, which ends the drain and closes the core) is written last.
	mu.Lock()
	budget = bodyLen - 100
	close(gate)
	mu.Unlock()
	recv(t, stopped, "the client to read all but the last DATA frame")
	waitFor(t, "the core to close (the writer took the last DATA frame)", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.core.Closed()
	})
	return s
}

// TestWriterTakeClosesCoreSetsDeadline: every path that can close the core
// runs flushLocked right after, which gives the last frames flushTimeout
// (the socket deadline, "closing"), dispatches EventConnClosed and re-arms
// the timer. The writer's TakeOutgoing can close the core too (the end of a
// drain), and must do the same: otherwise, while its Write of those last
// frames blocks, the connection has a closed core and no deadline, and only
// a stale timer ends it (after ~35s with the defaults instead of
// flushTimeout, 5s).
func TestWriterTakeClosesCoreSetsDeadline(t *testing.T) {
	s := newWriterCloseScenario(t)
	c := s.c
	c.mu.Lock()
	closing, done, writing := c.closing, c.done, c.writing
	c.mu.Unlock()
	if !closing && !done {
		t.Errorf("the core closed (in the writer's TakeOutgoing) but the connection set no close deadline (closing=%v, done=%v, writing=%v): a peer that stops reading holds it until a stale timer fires", closing, done, writing)
	}
}

// TestWriterTakeClosesCoreDispatchesConnClosed: same state; the client then
// reads the last frame and closes, as clients do after the final GOAWAY.
// The reader sees EOF with the core already closed and dispatches nothing,
// so the writer must have dispatched EventConnClosed after its
// TakeOutgoing; otherwise the bridge never cancels its context (a child of
// ServeConn's ctx).
func TestWriterTakeClosesCoreDispatchesConnClosed(t *testing.T) {
	s := newWriterCloseScenario(t)
	close(s.quit) // stop the paused reader goroutine; read here instead
	go func() {
		for {
			f, err := s.fr.ReadFrame()
			if err != nil {
				return
			}
			if df, ok := f.(*http2.DataFrame); ok && df.StreamEnded() {
				s.cc.Close()
				return
			}
		}
	}()
	recv(t, s.served, "ServeConn to return")
	s.served <- nil // for the cleanup
	s.c.mu.Lock()
	ev, ok := s.c.core.NextEvent()
	s.c.mu.Unlock()
	if ok {
		t.Errorf("after ServeConn returned, the core still holds an undispatched %v event", ev.Kind)
	}
}

// bytesBuffer is an io.Writer over a byte slice.
type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
