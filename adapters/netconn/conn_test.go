package netconn

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// connCount is the number of HTTP/2 connections the server tracks.
func (ts *testServer) connCount() int {
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	return len(ts.srv.conns)
}

// handshake reads the server's first SETTINGS and acknowledges it.
func (rc *rawConn) handshake(t *testing.T) {
	t.Helper()
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			if err := rc.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestIdleTimeoutSilentClient: the idle timer closes a connection whose
// client reads everything but never closes its side; the server must not
// wait for the client forever.
func TestIdleTimeoutSilentClient(t *testing.T) {
	ts := startServer(t, modeH2C, http1Handler, func(s *Server) { s.IdleTimeout = 50 * time.Millisecond })
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := newRawConn(t, nc)
	rc.handshake(t)
	waitFor(t, "the server to track the connection", func() bool { return ts.connCount() == 1 })
	go io.Copy(io.Discard, nc) // read the GOAWAY, never close
	waitFor(t, "the server to drop the idle connection", func() bool { return ts.connCount() == 0 })
}

// TestWriteStallClosesConn: a client that opens its windows wide and then
// never reads makes the server's socket writes block; the core's write-stall
// timer closes the connection, and the blocked writer must not keep the
// socket (and the handler's connection) alive.
func TestWriteStallClosesConn(t *testing.T) {
	handlerDone := make(chan error, 1)
	ts := startServer(t, modeH2C, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				handlerDone <- err
				return
			}
		}
	}), func(s *Server) { s.Config.WriteStallTimeout = 200 * time.Millisecond })
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.(*net.TCPConn).SetReadBuffer(4096)
	rc := newRawConn(t, nc)
	if err := rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1}); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteWindowUpdate(0, 1<<31-1-65535); err != nil {
		t.Fatal(err)
	}
	rc.handshake(t)
	if err := rc.writeRequest(1, ts.addr, "/", true); err != nil {
		t.Fatal(err)
	}
	// Read nothing more.
	recv(t, handlerDone, "the handler's Write to fail")
	waitFor(t, "the server to drop the stalled connection", func() bool { return ts.connCount() == 0 })
}

// TestConnLossCancelsHandler: when the client's connection drops, the
// handlers' contexts end.
func TestConnLossCancelsHandler(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	ts := startServer(t, modeH2C, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		ended <- r.Context().Err()
	}))
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := newRawConn(t, nc)
	rc.handshake(t)
	if err := rc.writeRequest(1, ts.addr, "/", true); err != nil {
		t.Fatal(err)
	}
	recv(t, started, "the handler to start")
	nc.Close()
	if err := recv(t, ended, "the handler's context to end"); err == nil {
		t.Errorf("handler context not done")
	}
	waitFor(t, "the server to drop the connection", func() bool { return ts.connCount() == 0 })
}
