package loop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/h2sm/h2sm/h2sm"
)

// streamingHandler streams n bytes (from the query "n") in 10000-byte
// writes paced by OnWritable, then ends with a trailer counting the writes
// that took less than offered; /echo-trailers answers with the request's
// trailers.
func streamingHandler(t *testing.T) Handler {
	return HandlerFunc(func(st *Stream) {
		path, query, _ := strings.Cut(st.Path, "?")
		switch path {
		case "/echo-trailers":
			st.OnData(func(p []byte, end bool) {
				if !end {
					return
				}
				if err := st.WriteHeader(200, http.Header{"Trailer": {"X-Got"}}); err != nil {
					t.Errorf("WriteHeader: %v", err)
					return
				}
				st.End(http.Header{"X-Got": {st.Trailer.Get("X-Sum")}})
			})
			return
		case "/head":
			st.WriteHeader(200, nil)
			if n, err := st.Write([]byte("ignored")); n != 7 || err != nil {
				t.Errorf("Write on a HEAD response = %d, %v; want 7, nil (discarded)", n, err)
			}
			st.End(nil)
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(query, "n="))
		if _, err := st.Write([]byte("x")); !errors.Is(err, h2sm.ErrHeadersNotSent) {
			t.Errorf("Write before WriteHeader: %v, want ErrHeadersNotSent", err)
		}
		if err := st.WriteHeader(200, http.Header{"Trailer": {"X-Short-Writes"}}); err != nil {
			t.Errorf("WriteHeader: %v", err)
			return
		}
		chunk := bytes.Repeat([]byte("0123456789"), 1000)
		left, short := n, 0
		var pump func()
		pump = func() {
			for left > 0 {
				k, err := st.Write(chunk[:min(left, len(chunk))])
				if err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				left -= k
				if k < min(left+k, len(chunk)) {
					short++
					return // OnWritable calls pump again
				}
			}
			if err := st.End(http.Header{"X-Short-Writes": {strconv.Itoa(short)}}); err != nil {
				t.Errorf("End: %v", err)
			}
			if err := st.End(nil); !errors.Is(err, h2sm.ErrStreamClosed) {
				t.Errorf("a second End: %v, want ErrStreamClosed", err)
			}
		}
		st.OnWritable(pump)
		pump()
	})
}

// TestAsyncStreamingResponse: a response of unknown length written in parts
// larger in total than the stream's send buffer arrives whole, with its
// trailer; Write takes less than offered when the buffer is full, and
// OnWritable resumes it.
func TestAsyncStreamingResponse(t *testing.T) {
	base := "http://" + startServer(t, &Server{AsyncHandler: streamingHandler(t)})
	cl := h2cClient(t)
	for _, n := range []int{0, 5, 10000, 3 << 20} {
		res, err := cl.Get(base + "/stream?n=" + strconv.Itoa(n))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || len(body) != n {
			t.Fatalf("n=%d: got %d bytes, err %v", n, len(body), err)
		}
		if res.ContentLength != -1 {
			t.Errorf("n=%d: ContentLength %d, want -1 (streamed)", n, res.ContentLength)
		}
		short := res.Trailer.Get("X-Short-Writes")
		if short == "" {
			t.Errorf("n=%d: no X-Short-Writes trailer: %v", n, res.Trailer)
		}
		if n == 3<<20 && short == "0" {
			t.Errorf("3 MiB through a 64 KiB send buffer: no Write took less than offered")
		}
	}
}

// TestAsyncRequestTrailers: the request's trailers reach the handler.
func TestAsyncRequestTrailers(t *testing.T) {
	base := "http://" + startServer(t, &Server{AsyncHandler: streamingHandler(t)})
	cl := h2cClient(t)
	req, _ := http.NewRequest("POST", base+"/echo-trailers", io.NopCloser(strings.NewReader("body")))
	req.Trailer = http.Header{"X-Sum": {"42"}}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if got := res.Trailer.Get("X-Got"); got != "42" {
		t.Errorf("echoed trailer = %q, want 42", got)
	}
	res, err = cl.Head(base + "/head")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", res, err)
	}
	res.Body.Close()
}

// TestDoInsideDoAfterClose: once the connection is gone, Stream.Do still
// runs its function, and a Do inside it runs too (it used to deadlock on
// the connection's mutex).
func TestDoInsideDoAfterClose(t *testing.T) {
	got := make(chan *Stream, 1)
	addr := startServer(t, &Server{AsyncHandler: HandlerFunc(func(st *Stream) { got <- st })})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nc, nc)
	nc.Write([]byte(http2.ClientPreface))
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", addr}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	var st *Stream
	select {
	case st = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no request")
	}
	nc.Close()
	// Wait until the server saw the close: Respond then fails.
	deadline := time.Now().Add(10 * time.Second)
	for {
		closed := make(chan bool, 1)
		st.Do(func() { closed <- st.Respond(200, nil, nil) != nil })
		if <-closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not see the connection close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go st.Do(func() { st.Do(func() { close(done) }) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a Do inside a Do after the connection closed never ran")
	}
}

// TestHandlerWritesAfterClose: an http.Handler that keeps writing after the
// client went away gets errors, not a hang: each write is a Driver.Run
// that the handler's goroutine runs itself once the loop let go of the
// connection (a pooled task used to keep a stale signal and block the
// next one).
func TestHandlerWritesAfterClose(t *testing.T) {
	finished := make(chan error, 1)
	addr := startServer(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		var err error
		for range 5 {
			if _, err = w.Write(make([]byte, 10000)); err == nil {
				w.(http.Flusher).Flush()
			}
		}
		finished <- err
	})})
	cl := h2cClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
		cl.CloseIdleConnections()
	}()
	if res, err := cl.Do(req); err == nil {
		res.Body.Close()
	}
	cl.Transport.(*http2.Transport).CloseIdleConnections()
	select {
	case err := <-finished:
		if err == nil {
			t.Errorf("writes after the client went away succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's writes after the client went away never returned")
	}
}
