package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// start serves on a free port and returns the server and its base URL. The
// cleanup shuts the server down and waits for serve to return.
func start(t *testing.T) (*server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(ln)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	t.Cleanup(func() {
		select {
		case <-s.closing:
		default:
			s.shutdown()
		}
		<-done
	})
	return s, "http://" + ln.Addr().String()
}

// client speaks h2c with prior knowledge: plain TCP where TLS would be.
func client(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// do sends a request and returns the status and body.
func do(t *testing.T, c *http.Client, method, url string, body io.Reader) (int, []byte) {
	t.Helper()
	status, got, err := send(c, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, got
}

// send sends a request over HTTP/2 and returns the status and body.
func send(c *http.Client, method, url string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: reading body: %w", method, url, err)
	}
	if resp.ProtoMajor != 2 {
		return 0, nil, fmt.Errorf("%s %s: proto %s, want HTTP/2", method, url, resp.Proto)
	}
	return resp.StatusCode, got, nil
}

func TestEmbedHello(t *testing.T) {
	_, url := start(t)
	status, body := do(t, client(t), "GET", url+"/", nil)
	if status != 200 || string(body) != "hello, world\n" {
		t.Errorf("GET / = %d %q, want 200 %q", status, body, "hello, world\n")
	}
}

// TestEmbedEcho sends a body larger than the core's per-stream send buffer
// (64 KiB), so the response needs several WriteData calls, each after an
// EventStreamWritable.
func TestEmbedEcho(t *testing.T) {
	_, url := start(t)
	c := client(t)
	want := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16)
	for range 3 { // one connection, several streams
		status, body := do(t, c, "POST", url+"/echo", bytes.NewReader(want))
		if status != 200 || !bytes.Equal(body, want) {
			t.Fatalf("POST /echo with %d bytes = %d and %d bytes, want 200 and the same bytes", len(want), status, len(body))
		}
	}
}

func TestEmbedTooLarge(t *testing.T) {
	_, url := start(t)
	status, _ := do(t, client(t), "POST", url+"/", bytes.NewReader(make([]byte, maxBody+1)))
	if status != 413 {
		t.Errorf("POST of %d bytes = %d, want 413", maxBody+1, status)
	}
}

// TestEmbedShutdown starts a request, shuts the server down while its body
// is still arriving, and checks that the request completes and serve returns.
func TestEmbedShutdown(t *testing.T) {
	s, url := start(t)
	c := client(t)
	// A first request makes sure the server has read the client's preface:
	// a connection still in its handshake is closed at once by Shutdown.
	do(t, c, "GET", url+"/", nil)
	pr, pw := io.Pipe()
	type result struct {
		status int
		body   []byte
		err    error
	}
	res := make(chan result, 1)
	go func() {
		status, body, err := send(c, "POST", url+"/", pr)
		res <- result{status, body, err}
	}()
	// The transport has read the first part of the body from the pipe, so
	// the request's HEADERS are on the wire before any reply to the
	// shutdown's PING: the server must finish this stream.
	io.WriteString(pw, "first half, ")
	s.shutdown()
	io.WriteString(pw, "second half")
	pw.Close()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := "first half, second half"; r.status != 200 || string(r.body) != want {
		t.Errorf("in-flight POST = %d %q, want 200 %q", r.status, r.body, want)
	}
	// The cleanup waits for serve to return: every connection closed.
}

func TestEmbedAfterShutdown(t *testing.T) {
	s, url := start(t)
	s.shutdown()
	req, _ := http.NewRequest("GET", url+"/", strings.NewReader(""))
	if resp, err := client(t).Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("GET after shutdown succeeded, want a connection error")
	}
}
