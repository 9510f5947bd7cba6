package netconn

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Safety nets: generous bounds on waits that a working server ends far
// sooner. They are never assertions about speed.
const (
	safety      = 30 * time.Second
	leakTimeout = 10 * time.Second
)

// TestMain runs the tests, then checks that no goroutine of the server, the
// bridge, the core, net/http's HTTP/1.1 server or a test client survived
// (x/net/quic's main_test.go does the same).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitGoroutines(leakTimeout, leakMarkers); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked after all tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// serverMarkers are stack frames of goroutines the server owns.
var serverMarkers = []string{
	"h2sm/adapters/netconn.(*",
	"h2sm/adapters/internal/bridge.",
	"h2sm/h2sm/h2sm.",
	"net/http.(*conn).serve",
	"net/http.(*Server).Serve",
}

// leakMarkers are serverMarkers plus the clients' goroutines and anything a
// test started.
var leakMarkers = append(append([]string(nil), serverMarkers...),
	"h2sm/adapters/netconn.Test",
	"golang.org/x/net/http2.(*ClientConn)",
	"golang.org/x/net/http2.(*clientStream)",
	"net/http.(*persistConn)",
)

// goroutines returns the stacks of the other goroutines that contain one of
// markers.
func goroutines(markers []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the calling goroutine
		}
		for _, m := range markers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// waitGoroutines waits up to timeout for the goroutines matching markers to
// end, and returns the stacks of those that did not.
func waitGoroutines(timeout time.Duration, markers []string) string {
	deadline := time.Now().Add(timeout)
	for {
		gs := goroutines(markers)
		if len(gs) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(gs, "\n\n")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkNoServerGoroutines fails t if a server goroutine survives.
func checkNoServerGoroutines(t *testing.T) {
	t.Helper()
	if leaked := waitGoroutines(leakTimeout, serverMarkers); leaked != "" {
		t.Errorf("server goroutines survived Close:\n\n%s", leaked)
	}
}

// waitFor polls cond until it holds; the bound is a safety net.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv receives from ch, failing t after the safety timeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(safety):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// ecdsaCert makes a self-signed certificate for 127.0.0.1 and localhost.
func ecdsaCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned(t, key, &key.PublicKey)
}

// rsaCert makes a self-signed RSA certificate, for the TLS_ECDHE_RSA suites.
func rsaCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned(t, key, &key.PublicKey)
}

func selfSigned(t testing.TB, key any, pub any) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// lockedBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type mode int

const (
	modeTLS mode = iota
	modeH2C
)

func (m mode) String() string {
	if m == modeTLS {
		return "TLS"
	}
	return "h2c"
}

var modes = []mode{modeTLS, modeH2C}

// testServer is a Server listening on 127.0.0.1:0, with TLS or h2c.
type testServer struct {
	srv       *Server
	mode      mode
	addr      string
	logs      *lockedBuffer
	serveDone chan error
}

// startServer starts a Server for h. The cleanup closes it, checks that
// Serve returned ErrServerClosed and that no server goroutine survived.
func startServer(t *testing.T, m mode, h http.Handler, opts ...func(*Server)) *testServer {
	t.Helper()
	logs := &lockedBuffer{}
	srv := &Server{
		Handler:   h,
		H2C:       m == modeH2C,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{ecdsaCert(t)}},
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
	}
	for _, o := range opts {
		o(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, mode: m, addr: ln.Addr().String(), logs: logs, serveDone: make(chan error, 1)}
	go func() {
		if m == modeTLS {
			ts.serveDone <- srv.ServeTLS(ln, "", "")
		} else {
			ts.serveDone <- srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-ts.serveDone:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(safety):
			t.Errorf("Serve did not return after Close")
		}
		ln.Close()
		checkNoServerGoroutines(t)
	})
	return ts
}

// url is the URL of path on the server.
func (ts *testServer) url(path string) string {
	if ts.mode == modeTLS {
		return "https://" + ts.addr + path
	}
	return "http://" + ts.addr + path
}

// testClient is an x/net/http2 client that counts its connections.
type testClient struct {
	*http.Client
	tr    *http2.Transport
	dials atomic.Int32
	local chan string // local addresses of the connections made
}

// client returns an HTTP/2 client for ts: TLS with ALPN h2, or h2c with
// prior knowledge. The cleanup closes its idle connections.
func (ts *testServer) client(t *testing.T) *testClient {
	c := &testClient{local: make(chan string, 100)}
	tr := &http2.Transport{}
	if ts.mode == modeTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}
		tr.DialTLSContext = func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
			c.dials.Add(1)
			nc, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, network, addr)
			if err == nil {
				c.noteLocal(nc)
			}
			return nc, err
		}
	} else {
		tr.AllowHTTP = true
		tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			c.dials.Add(1)
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				c.noteLocal(nc)
			}
			return nc, err
		}
	}
	c.tr = tr
	c.Client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

func (c *testClient) noteLocal(nc net.Conn) {
	select {
	case c.local <- nc.LocalAddr().String():
	default:
	}
}

// get does a GET and returns the status and body.
func (c *testClient) get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("GET %s: response proto %q, want HTTP/2.0", url, resp.Proto)
	}
	return resp.StatusCode, string(b)
}

// rawConn is a hand-driven HTTP/2 client connection for the tests that
// misbehave on purpose.
type rawConn struct {
	nc   net.Conn
	fr   *http2.Framer
	wmu  sync.Mutex // guards writes through fr, enc and hbuf
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

// newRawConn sends the client preface and an empty SETTINGS frame on nc.
func newRawConn(t *testing.T, nc net.Conn) *rawConn {
	t.Helper()
	rc := &rawConn{nc: nc, fr: http2.NewFramer(nc, nc)}
	rc.enc = hpack.NewEncoder(&rc.hbuf)
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return rc
}

// writeRequest sends a GET for path on stream id.
func (rc *rawConn) writeRequest(id uint32, authority, path string, endStream bool) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	rc.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", authority}, {":path", path}} {
		rc.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return rc.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      id,
		BlockFragment: rc.hbuf.Bytes(),
		EndStream:     endStream,
		EndHeaders:    true,
	})
}

func (rc *rawConn) write(f func(fr *http2.Framer) error) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	return f(rc.fr)
}

// readUntilGoAway reads frames, acknowledging SETTINGS and PING, until a
// GOAWAY arrives or the connection fails.
func (rc *rawConn) readUntilGoAway() (*http2.GoAwayFrame, error) {
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			return f, nil
		case *http2.SettingsFrame:
			if !f.IsAck() {
				rc.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				rc.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		}
	}
}
