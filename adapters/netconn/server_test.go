package netconn

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestGetPost(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.Method {
				case "GET":
					fmt.Fprintf(w, "hello %s", r.URL.Path)
				case "POST":
					b, err := io.ReadAll(r.Body)
					if err != nil {
						http.Error(w, err.Error(), 500)
						return
					}
					w.WriteHeader(http.StatusCreated)
					fmt.Fprintf(w, "got %q", b)
				}
			}))
			c := ts.client(t)
			if code, body := c.get(t, ts.url("/x")); code != 200 || body != "hello /x" {
				t.Errorf("GET = %d %q, want 200 %q", code, body, "hello /x")
			}
			resp, err := c.Post(ts.url("/"), "text/plain", strings.NewReader("ping"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated || string(b) != `got "ping"` {
				t.Errorf("POST = %d %q, want 201 %q", resp.StatusCode, b, `got "ping"`)
			}
			if n := c.dials.Load(); n != 1 {
				t.Errorf("client dialed %d connections, want 1", n)
			}
		})
	}
}

// TestConcurrentStreams runs 50 requests whose handlers all wait for each
// other: they can finish only if all 50 run at once on one connection.
func TestConcurrentStreams(t *testing.T) {
	const n = 50
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			var arrived atomic.Int32
			all := make(chan struct{})
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/warm" {
					return
				}
				if arrived.Add(1) == n {
					close(all)
				}
				select {
				case <-all:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, r.URL.Query().Get("i"))
			}))
			c := ts.client(t)
			// Open the connection first so that all requests share it.
			if code, _ := c.get(t, ts.url("/warm?i=x")); code != 200 {
				t.Fatalf("warm-up GET: %d", code)
			}
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := c.Get(ts.url(fmt.Sprintf("/?i=%d", i)))
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil || string(b) != fmt.Sprint(i) {
						errs <- fmt.Errorf("request %d: body %q, err %v", i, b, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if d := c.dials.Load(); d != 1 {
				t.Errorf("client dialed %d connections, want 1", d)
			}
		})
	}
}

// pattern is a deterministic pseudo-random byte stream.
func pattern(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestLargeUpload(t *testing.T) {
	data := pattern(1, 8<<20)
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				n, err := io.Copy(h, r.Body)
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			}))
			c := ts.client(t)
			resp, err := c.Post(ts.url("/"), "application/octet-stream", strings.NewReader(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("%d %s", len(data), sum(data)); string(b) != want {
				t.Errorf("server saw %q, want %q", b, want)
			}
		})
	}
}

func TestLargeDownload(t *testing.T) {
	data := pattern(2, 32<<20)
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Uneven writes, to exercise buffering and framing.
				p := data
				for k := 1; len(p) > 0; k = k*3%100_001 + 1 {
					k := min(k, len(p))
					if _, err := w.Write(p[:k]); err != nil {
						return
					}
					p = p[k:]
				}
			}))
			c := ts.client(t)
			resp, err := c.Get(ts.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(data) || sum(got) != sum(data) {
				t.Errorf("got %d bytes with sha256 %s, want %d bytes with %s", len(got), sum(got), len(data), sum(data))
			}
		})
	}
}

// http1Handler answers with the protocol it was reached over.
var http1Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
})

func TestHTTP1FallbackTLS(t *testing.T) {
	ts := startServer(t, modeTLS, http1Handler)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ts.url("/one"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/1.1 /one" || resp.ProtoMajor != 1 {
		t.Errorf("got %s %q, want HTTP/1.1 and %q", resp.Proto, b, "HTTP/1.1 /one")
	}
	// The same server still speaks h2 to an h2 client.
	if _, body := ts.client(t).get(t, ts.url("/two")); body != "HTTP/2.0 /two" {
		t.Errorf("h2 client got %q", body)
	}
}

func TestHTTP1FallbackCleartext(t *testing.T) {
	ts := startServer(t, modeH2C, http1Handler)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ts.url("/one"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/1.1 /one" {
		t.Errorf("got %q, want %q", b, "HTTP/1.1 /one")
	}
	if _, body := ts.client(t).get(t, ts.url("/two")); body != "HTTP/2.0 /two" {
		t.Errorf("h2c client got %q", body)
	}
}

func TestDisableHTTP1(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http1Handler, func(s *Server) { s.DisableHTTP1 = true })
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(ts.url("/"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("HTTP/1.1 request succeeded with DisableHTTP1: %s", resp.Status)
			}
			if _, body := ts.client(t).get(t, ts.url("/h2")); body != "HTTP/2.0 /h2" {
				t.Errorf("h2 client got %q", body)
			}
		})
	}
}

func TestH2COff(t *testing.T) {
	ts := startServer(t, modeH2C, http1Handler, func(s *Server) { s.H2C = false })
	c := ts.client(t)
	resp, err := c.Get(ts.url("/"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("prior-knowledge h2c request succeeded with H2C off: %s", resp.Status)
	}
	// HTTP/1.1 is still served.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr}).Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// listenerAddr waits until s listens, and returns the address.
func listenerAddr(t *testing.T, s *Server) string {
	t.Helper()
	var addr string
	waitFor(t, "the server to listen", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for l := range s.listeners {
			addr = (*l).Addr().String()
		}
		return addr != ""
	})
	return addr
}

func TestListenAndServe(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0", H2C: true, Handler: http1Handler}
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe() }()
	ts := &testServer{srv: s, mode: modeH2C, addr: listenerAddr(t, s)}
	if _, body := ts.client(t).get(t, ts.url("/")); body != "HTTP/2.0 /" {
		t.Errorf("got %q", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := recv(t, done, "ListenAndServe to return"); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("ListenAndServe returned %v, want ErrServerClosed", err)
	}
	checkNoServerGoroutines(t)
}

func TestListenAndServeTLS(t *testing.T) {
	cert := ecdsaCert(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: "127.0.0.1:0", Handler: http1Handler}
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServeTLS(certFile, keyFile) }()
	ts := &testServer{srv: s, mode: modeTLS, addr: listenerAddr(t, s)}
	if _, body := ts.client(t).get(t, ts.url("/")); body != "HTTP/2.0 /" {
		t.Errorf("got %q", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := recv(t, done, "ListenAndServeTLS to return"); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("ListenAndServeTLS returned %v, want ErrServerClosed", err)
	}
	checkNoServerGoroutines(t)
}

func TestServeAfterClose(t *testing.T) {
	s := &Server{H2C: true}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Close returned %v, want ErrServerClosed", err)
	}
	// As with net/http, Serve closes the listener it was given.
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("listener still accepts connections after Serve returned")
	}
	a, b := net.Pipe()
	defer b.Close()
	if err := s.ServeConn(context.Background(), a); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("ServeConn after Close returned %v, want ErrServerClosed", err)
	}
}

func TestServeConnContext(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			handlerCtx := make(chan error, 1)
			s := &Server{H2C: true, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/block" {
					w.WriteHeader(200)
					w.(http.Flusher).Flush()
					<-r.Context().Done()
					handlerCtx <- r.Context().Err()
					return
				}
				io.WriteString(w, "ok")
			})}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			cert := ecdsaCert(t)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					served <- err
					return
				}
				if m == modeTLS {
					nc = tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
				}
				served <- s.ServeConn(ctx, nc)
			}()
			ts := &testServer{srv: s, mode: m, addr: ln.Addr().String()}
			c := ts.client(t)
			if _, body := c.get(t, ts.url("/")); body != "ok" {
				t.Errorf("got %q", body)
			}
			resp, err := c.Get(ts.url("/block"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			select {
			case err := <-served:
				t.Fatalf("ServeConn returned early: %v", err)
			default:
			}
			cancel()
			recv(t, served, "ServeConn to return after cancel")
			if err := recv(t, handlerCtx, "the handler's context to end"); err == nil {
				t.Errorf("handler context not done")
			}
			// The response may end either way: the handler, whose context
			// derives from ctx, may complete it before the socket closes.
			io.Copy(io.Discard, resp.Body)
			s.Close()
			checkNoServerGoroutines(t)
		})
	}
}

// TestMaxConcurrentStreamsHandlers: with MaxConcurrentStreams m, a client
// resets m requests whose handlers ignore the reset, then opens m more,
// which the stream limit now allows. The reset streams' handlers keep their
// slots: the new requests wait, and start one by one as the first handlers
// return. At most m handlers ever run at once. (A raw client: x/net's
// Transport may send the new HEADERS before all its RST_STREAMs, and get
// REFUSED_STREAM.)
func TestMaxConcurrentStreamsHandlers(t *testing.T) {
	const m = 3
	var running, maxRunning atomic.Int32
	started := make(chan string, 2*m)
	release, stop := make(chan struct{}), make(chan struct{})
	ts := startServer(t, modeH2C, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := running.Add(1)
		defer running.Add(-1)
		for {
			old := maxRunning.Load()
			if k <= old || maxRunning.CompareAndSwap(old, k) {
				break
			}
		}
		started <- r.URL.Path
		select {
		case <-release:
		case <-stop:
		}
		io.WriteString(w, "ok")
	}), func(s *Server) { s.MaxConcurrentStreams = m })
	defer close(stop) // unblocks the handlers if the test fails

	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(safety))
	rc := newRawConn(t, nc)
	rc.handshake(t)
	pings := make(chan [8]byte, 1)
	ended := make(chan string, 2*m) // "id status" or "id RST code"
	go func() {
		dec := hpack.NewDecoder(4096, nil)
		status := map[uint32]string{}
		for {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.PingFrame:
				if f.IsAck() {
					pings <- f.Data
				}
			case *http2.HeadersFrame:
				fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
				for _, hf := range fields {
					if hf.Name == ":status" {
						status[f.StreamID] = hf.Value
					}
				}
				if f.StreamEnded() {
					ended <- fmt.Sprintf("%d %s", f.StreamID, status[f.StreamID])
				}
			case *http2.DataFrame:
				if f.StreamEnded() {
					ended <- fmt.Sprintf("%d %s", f.StreamID, status[f.StreamID])
				}
			case *http2.RSTStreamFrame:
				ended <- fmt.Sprintf("%d RST %v", f.StreamID, f.ErrCode)
			}
		}
	}()
	pingRoundTrip := func(data [8]byte) {
		t.Helper()
		if err := rc.write(func(fr *http2.Framer) error { return fr.WritePing(false, data) }); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, pings, "the PING ACK"); got != data {
			t.Fatalf("PING ACK %q, want %q", got, data)
		}
	}

	for id := uint32(1); id <= 2*m-1; id += 2 {
		if err := rc.writeRequest(id, ts.addr, fmt.Sprintf("/first/%d", id), true); err != nil {
			t.Fatal(err)
		}
	}
	for range m {
		recv(t, started, "a first handler to start")
	}
	for id := uint32(1); id <= 2*m-1; id += 2 {
		if err := rc.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }); err != nil {
			t.Fatal(err)
		}
	}
	for id := uint32(2*m + 1); id <= 4*m-1; id += 2 {
		if err := rc.writeRequest(id, ts.addr, fmt.Sprintf("/second/%d", id), true); err != nil {
			t.Fatal(err)
		}
	}
	// After a PING round trip, the server has seen all of it.
	pingRoundTrip([8]byte{'s', 'e', 'e', 'n'})
	if n := ts.handlersRunning(); n != m {
		t.Errorf("%d handler slots taken after %d resets and %d new requests, want %d", n, m, m, m)
	}
	select {
	case e := <-ended:
		t.Fatalf("a new request ended before any handler returned: %s", e)
	default:
	}
	for range m {
		release <- struct{}{} // a first handler returns...
		if p := recv(t, started, "a waiting handler to start"); !strings.HasPrefix(p, "/second/") {
			t.Errorf("started %s, want a second request", p) // ...and a second one starts
		}
	}
	for range m {
		release <- struct{}{}
	}
	for range m {
		if e := recv(t, ended, "a second response"); !strings.HasSuffix(e, " 200") {
			t.Errorf("second request ended with %q, want status 200", e)
		}
	}
	if got := maxRunning.Load(); got > m {
		t.Errorf("%d handlers ran at once, want at most %d", got, m)
	}
}

// handlersRunning is the number of handlers holding a slot, over all
// connections.
func (ts *testServer) handlersRunning() int {
	ts.srv.mu.Lock()
	conns := make([]*conn, 0, len(ts.srv.conns))
	for c := range ts.srv.conns {
		conns = append(conns, c)
	}
	ts.srv.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		n += c.bridge.Running()
		c.mu.Unlock()
	}
	return n
}

// TestRapidReset opens streams and resets them at once (CVE-2023-44487)
// against handlers that do not return: handlers never exceed
// MaxConcurrentStreams, and the client is eventually told to calm down.
func TestRapidReset(t *testing.T) {
	const m = 4
	var running, maxRunning, total atomic.Int32
	release := make(chan struct{})
	ts := startServer(t, modeH2C, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		k := running.Add(1)
		defer running.Add(-1)
		for {
			old := maxRunning.Load()
			if k <= old || maxRunning.CompareAndSwap(old, k) {
				break
			}
		}
		<-release // ignores the reset on purpose
	}), func(s *Server) { s.MaxConcurrentStreams = m })
	defer close(release) // before the server's cleanup closes it
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := newRawConn(t, nc)
	goaway := make(chan *http2.GoAwayFrame, 1)
	go func() {
		f, _ := rc.readUntilGoAway()
		goaway <- f
	}()
	const maxStreams = 100_000
	var got *http2.GoAwayFrame
	sent := 0
loop:
	for id := uint32(1); sent < maxStreams; id += 2 {
		select {
		case got = <-goaway:
			break loop
		default:
		}
		if err := rc.writeRequest(id, ts.addr, "/", true); err != nil {
			break
		}
		if err := rc.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }); err != nil {
			break
		}
		sent++
	}
	if got == nil {
		got = recv(t, goaway, "GOAWAY")
	}
	if got == nil {
		t.Fatalf("connection ended without GOAWAY after %d HEADERS+RST_STREAM (handlers started: %d)", sent, total.Load())
	}
	if got.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v after %d streams, want ENHANCE_YOUR_CALM", got.ErrCode, sent)
	}
	if mx := maxRunning.Load(); mx > m {
		t.Errorf("%d handlers ran at once, want at most %d", mx, m)
	}
	// The handler queue (4 × MaxConcurrentStreams), not the core's budget
	// of client resets, must be what stops this client.
	if debug := string(got.DebugData()); !strings.Contains(debug, "waiting for a handler") {
		t.Errorf("GOAWAY debug data %q, want the handler queue's", debug)
	}
	t.Logf("GOAWAY %v after %d HEADERS+RST_STREAM; %d handlers started", got.ErrCode, sent, total.Load())
}

// TestInadequateSecurity negotiates TLS 1.2 with a CBC cipher suite, which
// RFC 9113 §9.2.2 prohibits: the server answers with GOAWAY INADEQUATE_SECURITY.
func TestInadequateSecurity(t *testing.T) {
	ts := startServer(t, modeTLS, http1Handler, func(s *Server) {
		s.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{rsaCert(t)},
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		}
	})
	tc, err := tls.Dial("tcp", ts.addr, &tls.Config{
		InsecureSkipVerify: true,
		NextProtos:         []string{"h2"},
		MaxVersion:         tls.VersionTLS12,
		CipherSuites:       []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := tc.ConnectionState()
	if cs.NegotiatedProtocol != "h2" || cs.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA {
		t.Fatalf("negotiated %q with %s", cs.NegotiatedProtocol, tls.CipherSuiteName(cs.CipherSuite))
	}
	tc.SetDeadline(time.Now().Add(safety))
	rc := newRawConn(t, tc)
	f, err := rc.readUntilGoAway()
	if err != nil {
		t.Fatalf("no GOAWAY: %v", err)
	}
	if f.ErrCode != http2.ErrCodeInadequateSecurity {
		t.Errorf("GOAWAY %v, want INADEQUATE_SECURITY", f.ErrCode)
	}
}
