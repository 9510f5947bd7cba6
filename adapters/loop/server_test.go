package loop

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// testMux is the handler set of the examples, as an http.Handler.
func testMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello world\n") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write(bytes.Repeat([]byte("x"), n))
	})
	return mux
}

// testAsync is the same handler set on the non-blocking API.
func testAsync() Handler {
	return HandlerFunc(func(st *Stream) {
		path, query, _ := strings.Cut(st.Path, "?")
		switch path {
		case "/echo":
			var body []byte
			st.OnData(func(p []byte, end bool) {
				body = append(body, p...)
				if end {
					st.Respond(200, nil, body)
				}
			})
			if st.ContentLength == 0 {
				st.Respond(200, nil, nil)
			}
		case "/bytes":
			n, _ := strconv.Atoi(strings.TrimPrefix(query, "n="))
			st.Respond(200, nil, bytes.Repeat([]byte("x"), n))
		case "/later":
			go func() {
				time.Sleep(10 * time.Millisecond)
				st.Do(func() { st.Respond(200, nil, []byte("later\n")) })
			}()
		default:
			st.Respond(200, http.Header{"Content-Type": {"text/plain"}}, []byte("hello world\n"))
		}
	})
}

func startServer(t *testing.T, s *Server) string {
	t.Helper()
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	if s.NumEventLoops == 0 {
		s.NumEventLoops = 2
	}
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return addr.String()
}

func h2cClient(t *testing.T) *http.Client {
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

func get(t *testing.T, cl *http.Client, url string) string {
	t.Helper()
	res, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", url, res.StatusCode)
	}
	return string(b)
}

func testBasics(t *testing.T, s *Server, extra func(cl *http.Client, base string)) {
	base := "http://" + startServer(t, s)
	cl := h2cClient(t)
	if got := get(t, cl, base+"/"); got != "hello world\n" {
		t.Errorf("GET / = %q", got)
	}
	for _, n := range []int{0, 1, 100000, 3 << 20} {
		if got := get(t, cl, base+"/bytes?n="+strconv.Itoa(n)); len(got) != n {
			t.Errorf("GET /bytes?n=%d: got %d bytes", n, len(got))
		}
	}
	for _, n := range []int{0, 10, 200000} {
		body := bytes.Repeat([]byte("y"), n)
		res, err := cl.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("POST /echo %d bytes: got %d bytes, err %v", n, len(got), err)
		}
	}
	// Many concurrent requests on one connection and on several.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cl
			if i%5 == 0 {
				c = h2cClient(t)
			}
			if got := get(t, c, base+"/bytes?n=70000"); len(got) != 70000 {
				t.Errorf("concurrent GET: %d bytes", len(got))
			}
		}()
	}
	wg.Wait()
	if extra != nil {
		extra(cl, base)
	}
}

func TestServerHTTPHandler(t *testing.T) {
	testBasics(t, &Server{Handler: testMux(), MaxWorkers: 8}, nil)
}

func TestServerAsyncHandler(t *testing.T) {
	testBasics(t, &Server{AsyncHandler: testAsync()}, func(cl *http.Client, base string) {
		if got := get(t, cl, base+"/later"); got != "later\n" {
			t.Errorf("GET /later = %q", got)
		}
	})
}

func TestServerShutdownGraceful(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})}
	base := "http://" + startServer(t, s)
	cl := h2cClient(t)
	got := make(chan string, 1)
	go func() {
		res, err := cl.Get(base + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a handler running", err)
	default:
	}
	close(release)
	if g := <-got; g != "done" {
		t.Errorf("in-flight request got %q", g)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if leaked := waitLeaks(2 * time.Second); strings.Contains(leaked, "adapters/loop") || strings.Contains(leaked, "gnet") {
		t.Errorf("goroutines left after Shutdown:\n%s", leaked)
	}
}

func TestServerCloseCancelsHandlers(t *testing.T) {
	started := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})}
	base := "http://" + startServer(t, s)
	cl := h2cClient(t)
	go func() {
		if res, err := cl.Get(base + "/"); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

func TestServerShutdownTimeout(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})}
	base := "http://" + startServer(t, s)
	cl := h2cClient(t)
	go func() {
		if res, err := cl.Get(base + "/"); err == nil {
			res.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
}
