package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
)

func TestServerGet(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Proto", r.Proto)
		fmt.Fprintf(w, "%s %s host=%s remote=%s q=%s", r.Method, r.URL.Path, r.Host, r.RemoteAddr, r.URL.Query().Get("q"))
	})
	resp, body := get(t, srv, "/hello?q=1")
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || resp.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Errorf("status %d, proto %s, server saw %s; want 200 over HTTP/2.0 both ways",
			resp.StatusCode, resp.Proto, resp.Header.Get("X-Proto"))
	}
	if want := "GET /hello host=h2sm.memory remote=client:1 q=1"; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("Content-Type %q, want text/plain", got)
	}
	// A second request reuses the connection.
	get(t, srv, "/again")
	if st := srv.Stats(); len(st) != 1 || st[0].Core.StreamsOpened != 2 {
		t.Errorf("Stats = %+v, want one connection that opened 2 streams", st)
	}
}

func TestServerPost(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Full duplex: the response streams while the body arrives.
		w.Header().Set("X-Content-Length", fmt.Sprint(r.ContentLength))
		io.Copy(w, r.Body)
	})
	// Larger than the server's receive windows (1 MiB by default): the
	// client is paced by the handler's reads.
	want := bytes.Repeat([]byte("0123456789abcdef"), 200_000)
	resp, err := srv.Client().Post(srv.URL()+"/echo", "application/octet-stream", bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("echoed %d bytes, want the %d sent", len(got), len(want))
	}
	if cl := resp.Header.Get("X-Content-Length"); cl != fmt.Sprint(len(want)) {
		t.Errorf("handler saw ContentLength %s, want %d", cl, len(want))
	}
}

func TestServerResponseTrailers(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "c0ffee")
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "late") // known only at the end
	})
	resp, body := get(t, srv, "/")
	if body != "body" {
		t.Errorf("body %q, want %q", body, "body")
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "c0ffee" {
		t.Errorf("trailer X-Checksum = %q, want c0ffee (trailers %v)", got, resp.Trailer)
	}
	if got := resp.Trailer.Get("X-Undeclared"); got != "late" {
		t.Errorf("trailer X-Undeclared = %q, want late (trailers %v)", got, resp.Trailer)
	}
}

func TestServerRequestTrailers(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // trailers are in r.Trailer after EOF
		fmt.Fprintf(w, "%s sig=%s", body, r.Trailer.Get("X-Signature"))
	})
	req, _ := http.NewRequest("POST", srv.URL()+"/upload", strings.NewReader("payload"))
	req.Trailer = http.Header{"X-Signature": {"signed"}}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if want := "payload sig=signed"; string(got) != want {
		t.Errorf("response %q, want %q", got, want)
	}
}

// wantStreamError checks that err is a stream error with code, received
// from the server.
func wantStreamError(t *testing.T, err error, code http2.ErrCode) {
	t.Helper()
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != code {
		t.Errorf("error %v, want a stream error %v", err, code)
	}
}

func TestServerAbortHandlerResetsStream(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		panic(http.ErrAbortHandler)
	})
	t.Run("before headers", func(t *testing.T) {
		_, err := srv.Client().Get(srv.URL() + "/early")
		wantStreamError(t, err, http2.ErrCodeInternal)
	})
	t.Run("after headers", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL() + "/late")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if string(body) != "partial" {
			t.Errorf("body %q before the reset, want %q", body, "partial")
		}
		wantStreamError(t, err, http2.ErrCodeInternal)
	})
	if st := srv.Stats(); st[0].Core.StreamsResetLocal != 2 {
		t.Errorf("server reset %d streams, want 2", st[0].Core.StreamsResetLocal)
	}
}

func TestServerClientCancelResetsStream(t *testing.T) {
	started := make(chan struct{})
	cause := make(chan error, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		cause <- context.Cause(r.Context())
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL()+"/wait", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	recv(t, started, "the handler to start")
	cancel()
	if err := recv(t, errc, "the request to fail"); !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	err := recv(t, cause, "the handler to see its context cancelled")
	var se *h2sm.StreamError
	if !errors.As(err, &se) || se.Code != h2sm.ErrCodeCancel || !se.Remote {
		t.Errorf("handler's context cause %v, want the client's RST_STREAM CANCEL", err)
	}
	if st := srv.Stats(); st[0].Core.StreamsResetRemote != 1 {
		t.Errorf("server saw %d resets, want 1", st[0].Core.StreamsResetRemote)
	}
}

// TestServerConcurrentStreams runs many requests at once on one
// connection: every handler waits until all have started, so the test
// passes only if the streams are truly concurrent.
func TestServerConcurrentStreams(t *testing.T) {
	const n = 64
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/warmup" {
			return
		}
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		<-all
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s:%s", r.URL.Path, body)
	})
	get(t, srv, "/warmup") // one connection, which the requests share
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			path, body := fmt.Sprintf("/%d", i), strings.Repeat("x", i*1000)
			resp, err := srv.Client().Post(srv.URL()+path, "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if want := path + ":" + body; err != nil || string(got) != want {
				errs <- fmt.Errorf("%s: got %d bytes (%v), want %d", path, len(got), err, len(want))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := srv.Stats(); len(st) != 1 || st[0].Core.StreamsOpened != n+1 {
		t.Errorf("%d connections, first opened %d streams; want 1 connection with %d", len(st), st[0].Core.StreamsOpened, n+1)
	}
}

// TestServerStreamLimitOpensConnections saturates the server's
// MaxConcurrentStreams: the client, which dials one connection at a time,
// opens more rather than wait.
func TestServerStreamLimitOpensConnections(t *testing.T) {
	const n = 6
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		<-all // all n at once: 3 connections of 2 streams
	}, memory.WithServerConfig(func(c *h2sm.Config) { c.MaxConcurrentStreams = 2 }))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL())
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	total := uint64(0)
	for _, c := range srv.Stats() {
		total += c.Core.StreamsOpened
		if c.Core.StreamsOpened > 2 {
			t.Errorf("a connection opened %d streams, over the limit of 2", c.Core.StreamsOpened)
		}
	}
	if total != n {
		t.Errorf("%d streams opened in all, want %d", total, n)
	}
}

// TestServerShutdownLetsStreamsFinish starts a graceful shutdown while a
// request is in flight: the request completes, new ones are refused.
func TestServerShutdownLetsStreamsFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL() + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	recv(t, started, "the handler to start")
	// A context already done: Shutdown starts the shutdown and returns.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Shutdown(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown(done) = %v, want context.Canceled", err)
	}
	if st := srv.Stats(); st[0].Phase != h2sm.PhaseGoAway {
		t.Errorf("phase %v after Shutdown, want GoAway", st[0].Phase)
	}
	close(release)
	if r := recv(t, res, "the response"); r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v; want it to finish", r.body, r.err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown = %v, want nil once drained", err)
	}
	if _, err := srv.Client().Get(srv.URL() + "/new"); !errors.Is(err, memory.ErrServerClosed) {
		t.Errorf("request after Shutdown: %v, want ErrServerClosed", err)
	}
}

// TestServerCloseLeavesNoGoroutines closes a server with a handler blocked
// on its context and a request body still being sent: Close cancels both,
// and no goroutine of the server or its client survives it.
func TestServerCloseLeavesNoGoroutines(t *testing.T) {
	started := make(chan struct{}, 2)
	srv := memory.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		if r.Method == "POST" {
			io.Copy(io.Discard, r.Body)
			return
		}
		<-r.Context().Done()
	}))
	errs := make(chan error, 2)
	do := func(req *http.Request) {
		resp, err := srv.Client().Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errs <- err
	}
	get, _ := http.NewRequest("GET", srv.URL()+"/wait", nil)
	go do(get)
	pr, pw := io.Pipe() // never closed: the body is still being sent
	defer pw.Close()
	post, _ := http.NewRequest("POST", srv.URL()+"/upload", pr)
	go do(post)
	recv(t, started, "the first handler")
	recv(t, started, "the second handler")

	if err := srv.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	for range 2 {
		if err := recv(t, errs, "the requests to fail"); err == nil {
			t.Error("a request in flight succeeded across Close")
		}
	}
	if st := srv.Stats(); st[0].Handlers != 0 || st[0].Phase != h2sm.PhaseClosed || !st[0].Closed {
		t.Errorf("after Close: %+v, want closed, no handler", st[0])
	}
	if leaked := waitGoroutines(leakTimeout); leaked != "" {
		t.Errorf("goroutines survived Close:\n\n%s", leaked)
	}
}
