package netconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// seenRequest is what a handler saw of its request.
type seenRequest struct {
	Method, Path, RawQuery, Proto, Host, RemoteAddr string
	ProtoMajor, ProtoMinor                          int
	Header                                          http.Header
	ContentLength                                   int64
	Body                                            string
	TLS                                             *tls.ConnectionState
	Cookies                                         []*http.Cookie
}

func TestRequestFields(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			seen := make(chan seenRequest, 1)
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				seen <- seenRequest{
					Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
					Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
					Host: r.Host, RemoteAddr: r.RemoteAddr, Header: r.Header.Clone(),
					ContentLength: r.ContentLength, Body: string(b), TLS: r.TLS, Cookies: r.Cookies(),
				}
			}))
			c := ts.client(t)
			req, _ := http.NewRequest("POST", ts.url("/a/b?x=1&y=2"), strings.NewReader("12345"))
			req.Host = "example.com:8443"
			req.Header.Add("Cookie", "a=1; b=2")
			req.Header.Add("Cookie", "c=3")
			req.Header.Add("X-Multi", "one")
			req.Header.Add("X-Multi", "two")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			local := recv(t, c.local, "the client's address")
			r := recv(t, seen, "the request")
			for _, check := range []struct {
				name      string
				got, want any
			}{
				{"Method", r.Method, "POST"},
				{"URL.Path", r.Path, "/a/b"},
				{"URL.RawQuery", r.RawQuery, "x=1&y=2"},
				{"Proto", r.Proto, "HTTP/2.0"},
				{"ProtoMajor", r.ProtoMajor, 2},
				{"ProtoMinor", r.ProtoMinor, 0},
				{"Host", r.Host, "example.com:8443"},
				{"RemoteAddr", r.RemoteAddr, local},
				{"ContentLength", r.ContentLength, int64(5)},
				{"Body", r.Body, "12345"},
				{"Header[Cookie]", fmt.Sprint(r.Header["Cookie"]), "[a=1; b=2; c=3]"},
				{"Cookies", len(r.Cookies), 3},
				{"Header[X-Multi]", fmt.Sprint(r.Header["X-Multi"]), "[one two]"},
				{"TLS != nil", r.TLS != nil, m == modeTLS},
			} {
				if check.got != check.want {
					t.Errorf("%s = %v, want %v", check.name, check.got, check.want)
				}
			}
			if _, ok := r.Header["Host"]; ok {
				t.Errorf("Header has Host: %q", r.Header["Host"])
			}
			if r.TLS != nil && (r.TLS.NegotiatedProtocol != "h2" || !r.TLS.HandshakeComplete) {
				t.Errorf("TLS: protocol %q, handshake complete %v", r.TLS.NegotiatedProtocol, r.TLS.HandshakeComplete)
			}

			// A GET has ContentLength 0; a body of unknown length, -1.
			if code, _ := c.get(t, ts.url("/get")); code != 200 {
				t.Errorf("GET: %d", code)
			}
			if r := recv(t, seen, "the GET"); r.ContentLength != 0 || r.Method != "GET" {
				t.Errorf("GET: method %s, ContentLength %d, want 0", r.Method, r.ContentLength)
			}
			req, _ = http.NewRequest("PUT", ts.url("/chunked"), io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")))
			resp, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if r := recv(t, seen, "the PUT"); r.ContentLength != -1 || r.Body != "abcdef" {
				t.Errorf("body of unknown length: ContentLength %d body %q, want -1 %q", r.ContentLength, r.Body, "abcdef")
			}
		})
	}
}

func TestRequestTrailers(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, declared := r.Trailer["X-Sum"]
				before := r.Trailer.Get("X-Sum")
				b, err := io.ReadAll(r.Body)
				fmt.Fprintf(w, "declared=%v before=%q body=%q err=%v after=%q", declared, before, b, err, r.Trailer.Get("X-Sum"))
			}))
			c := ts.client(t)
			req, _ := http.NewRequest("POST", ts.url("/"), strings.NewReader("data"))
			req.Trailer = http.Header{"X-Sum": {"42"}}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := `declared=true before="" body="data" err=<nil> after="42"`; string(b) != want {
				t.Errorf("handler saw %s\nwant          %s", b, want)
			}
		})
	}
}

func TestResponseTrailers(t *testing.T) {
	big := strings.Repeat("x", 10000)
	for _, tc := range []struct {
		name    string
		handler func(w http.ResponseWriter)
		body    string
		want    http.Header
	}{{
		name: "declared",
		handler: func(w http.ResponseWriter) {
			w.Header().Set("Trailer", "X-Sum, X-Other")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "s1")
			w.Header().Set("X-Other", "o1")
		},
		body: "body",
		want: http.Header{"X-Sum": {"s1"}, "X-Other": {"o1"}},
	}, {
		name: "declared and prefix",
		handler: func(w http.ResponseWriter) {
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "s1")
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		},
		body: "body",
		want: http.Header{"X-Sum": {"s1"}, "X-Late": {"late"}},
	}, {
		name: "prefix after flush",
		handler: func(w http.ResponseWriter) {
			io.WriteString(w, big)
			w.(http.Flusher).Flush()
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		},
		body: big,
		want: http.Header{"X-Late": {"late"}},
	}, {
		name: "prefix with small unflushed body",
		handler: func(w http.ResponseWriter) {
			io.WriteString(w, "body")
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		},
		body: "body",
		want: http.Header{"X-Late": {"late"}},
	}, {
		name: "prefix without body",
		handler: func(w http.ResponseWriter) {
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		},
		body: "",
		want: http.Header{"X-Late": {"late"}},
	}} {
		for _, m := range modes {
			t.Run(tc.name+"/"+m.String(), func(t *testing.T) {
				ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.handler(w) }))
				resp, err := ts.client(t).Get(ts.url("/"))
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != tc.body {
					t.Errorf("body %d bytes, err %v; want %d bytes", len(b), err, len(tc.body))
				}
				for k, v := range tc.want {
					if got := resp.Trailer[k]; fmt.Sprint(got) != fmt.Sprint(v) {
						t.Errorf("trailer %s = %q, want %q (all trailers: %v)", k, got, v, resp.Trailer)
					}
				}
			})
		}
	}
}

// TestClientCancelResponse cancels a request while its handler is writing
// a response the client does not read: the handler's context ends and its
// blocked Write fails.
func TestClientCancelResponse(t *testing.T) {
	type result struct {
		writeErr, ctxErr error
		written          int
	}
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			done := make(chan result, 1)
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				chunk := make([]byte, 64<<10)
				total := 0
				for {
					n, err := w.Write(chunk)
					total += n
					if err != nil {
						done <- result{err, r.Context().Err(), total}
						return
					}
				}
			}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", ts.url("/"), nil)
			resp, err := ts.client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			cancel()
			res := recv(t, done, "the handler's Write to fail")
			if res.writeErr == nil || res.ctxErr == nil {
				t.Errorf("after cancel: Write error %v, context error %v; want both non-nil", res.writeErr, res.ctxErr)
			}
			t.Logf("handler wrote %d bytes; Write: %v", res.written, res.writeErr)
		})
	}
}

// TestClientCancelRequestBody cancels a request while its handler reads the
// body: the Read fails and the handler's context ends.
func TestClientCancelRequestBody(t *testing.T) {
	type result struct {
		readErr, ctxErr error
	}
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			first := make(chan struct{})
			done := make(chan result, 1)
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				buf := make([]byte, 5)
				if _, err := io.ReadFull(r.Body, buf); err != nil {
					done <- result{err, nil}
					return
				}
				close(first)
				_, err := io.ReadAll(r.Body)
				done <- result{err, r.Context().Err()}
			}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			defer pw.Close()
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.url("/"), pr)
			rtDone := make(chan error, 1)
			go func() {
				resp, err := ts.client(t).Do(req)
				if err == nil {
					resp.Body.Close()
				}
				rtDone <- err
			}()
			if _, err := pw.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			recv(t, first, "the handler to read the first bytes")
			cancel()
			res := recv(t, done, "the handler's Read to fail")
			if res.readErr == nil || res.ctxErr == nil {
				t.Errorf("after cancel: Read error %v, context error %v; want both non-nil", res.readErr, res.ctxErr)
			}
			if err := recv(t, rtDone, "RoundTrip to return"); err == nil {
				t.Errorf("RoundTrip succeeded after cancel")
			}
		})
	}
}

// TestFlusher checks that a flushed chunk reaches the client while the
// handler waits for the client to have read it.
func TestFlusher(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			next := make(chan struct{})
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "first")
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "second")
			}))
			resp, err := ts.client(t).Get(ts.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, len("first"))
			if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
				t.Fatalf("first chunk %q, %v", buf, err)
			}
			close(next)
			rest, err := io.ReadAll(resp.Body)
			if err != nil || string(rest) != "second" {
				t.Errorf("rest %q, %v; want %q", rest, err, "second")
			}
			if resp.ContentLength != -1 {
				t.Errorf("ContentLength %d for a flushed response, want -1", resp.ContentLength)
			}
		})
	}
}

// TestEarlyHints sends 103 and waits until the client has seen it before
// sending the final response.
func TestEarlyHints(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			seen := make(chan struct{})
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</style.css>; rel=preload; as=style")
				w.WriteHeader(http.StatusEarlyHints)
				select {
				case <-seen:
				case <-r.Context().Done():
					return
				}
				w.Header().Set("X-Final", "yes")
				io.WriteString(w, "done")
			}))
			var once sync.Once
			var hints textproto.MIMEHeader
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				if code == http.StatusEarlyHints {
					once.Do(func() {
						hints = h
						close(seen)
					})
				}
				return nil
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", ts.url("/"), nil)
			resp, err := ts.client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "done" || resp.Header.Get("X-Final") != "yes" {
				t.Errorf("final response %d %q %v", resp.StatusCode, b, resp.Header)
			}
			if got := hints.Get("Link"); got != "</style.css>; rel=preload; as=style" {
				t.Errorf("103 Link = %q", got)
			}
		})
	}
}

// TestExpectContinue uses a client that waits (an hour, far beyond the
// test's safety net) for 100 Continue before sending the body: the server
// sends it on the handler's first Body read, and never when the handler
// does not read.
func TestExpectContinue(t *testing.T) {
	ts := startServer(t, modeTLS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			http.Error(w, "no thanks", http.StatusExpectationFailed)
			return
		}
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "expect=%q body=%q err=%v", r.Header.Get("Expect"), b, err)
	}))
	t1 := &http.Transport{
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true},
		ExpectContinueTimeout: time.Hour,
	}
	if _, err := http2.ConfigureTransports(t1); err != nil {
		t.Fatal(err)
	}
	defer t1.CloseIdleConnections()
	client := &http.Client{Transport: t1}
	do := func(path string) (*http.Response, string, bool, *countingReader) {
		var got100 atomic.Bool
		trace := &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}
		body := &countingReader{r: strings.NewReader("payload")}
		ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), safety)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.url(path), body)
		req.ContentLength = int64(len("payload"))
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b), got100.Load(), body
	}
	resp, b, got100, _ := do("/")
	if resp.ProtoMajor != 2 {
		t.Fatalf("not HTTP/2: %s", resp.Proto)
	}
	if want := `expect="100-continue" body="payload" err=<nil>`; b != want || !got100 {
		t.Errorf("got 100: %v, handler saw %s, want %s", got100, b, want)
	}
	resp, _, got100, body := do("/reject")
	if resp.StatusCode != http.StatusExpectationFailed || got100 || body.n.Load() != 0 {
		t.Errorf("rejected: status %d, got 100 %v, body bytes sent %d; want 417, no 100, none", resp.StatusCode, got100, body.n.Load())
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestSniffAndContentLength(t *testing.T) {
	html := "<html><body>hi</body></html>"
	big := bytes.Repeat([]byte{0, 1, 2, 3}, 2000) // 8000 bytes: more than is buffered
	ts := startServer(t, modeTLS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			io.WriteString(w, html)
		case "/typed":
			w.Header().Set("Content-Type", "text/x-custom")
			io.WriteString(w, html)
		case "/big":
			w.Write(big)
		case "/empty":
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	c := ts.client(t)
	for _, tc := range []struct {
		path   string
		status int
		ctype  string
		length int64
	}{
		{"/html", 200, "text/html; charset=utf-8", int64(len(html))},
		{"/typed", 200, "text/x-custom", int64(len(html))},
		{"/big", 200, "application/octet-stream", -1}, // sniffed from the first write
		{"/empty", 200, "", 0},
		{"/nocontent", 204, "", 0},
	} {
		resp, err := c.Get(ts.url(tc.path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.ctype || resp.ContentLength != tc.length {
			t.Errorf("%s: %d, Content-Type %q, ContentLength %d (%d bytes); want %d, %q, %d",
				tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength, len(b), tc.status, tc.ctype, tc.length)
		}
		if resp.Header.Get("Date") == "" {
			t.Errorf("%s: no Date header", tc.path)
		}
	}
	// HEAD gets the headers of the GET, without the body.
	resp, err := c.Head(ts.url("/html"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.ContentLength != int64(len(html)) || len(b) != 0 {
		t.Errorf("HEAD: Content-Type %q, ContentLength %d, %d body bytes; want %q, %d, none",
			resp.Header.Get("Content-Type"), resp.ContentLength, len(b), "text/html; charset=utf-8", len(html))
	}
}

func TestPanic(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/panic":
					panic("boom")
				case "/panic-after-body":
					io.WriteString(w, "partial")
					w.(http.Flusher).Flush()
					panic("boom after body")
				case "/abort":
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "ok")
			}))
			c := ts.client(t)
			isInternal := func(err error) bool {
				var se http2.StreamError
				return errors.As(err, &se) && se.Code == http2.ErrCodeInternal
			}

			_, err := c.Get(ts.url("/panic"))
			if !isInternal(err) {
				t.Errorf("panic before the response: %v, want a stream error INTERNAL_ERROR", err)
			}
			resp, err := c.Get(ts.url("/panic-after-body"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			// The flushed body may or may not have left before the reset:
			// RST_STREAM drops what is still queued.
			if !isInternal(err) || !strings.HasPrefix("partial", string(b)) {
				t.Errorf("panic after the body: read %q, %v; want a prefix of %q and a stream error INTERNAL_ERROR", b, err, "partial")
			}
			// The connection is still usable.
			if code, body := c.get(t, ts.url("/")); code != 200 || body != "ok" {
				t.Errorf("after panics: %d %q", code, body)
			}
			if d := c.dials.Load(); d != 1 {
				t.Errorf("client dialed %d connections, want 1", d)
			}
			logs := ts.logs.String()
			if !strings.Contains(logs, "boom") || !strings.Contains(logs, "boom after body") {
				t.Errorf("panics not logged:\n%s", logs)
			}

			// ErrAbortHandler aborts the stream without a log line.
			before := ts.logs.String()
			_, err = c.Get(ts.url("/abort"))
			if !isInternal(err) {
				t.Errorf("ErrAbortHandler: %v, want a stream error INTERNAL_ERROR", err)
			}
			if code, _ := c.get(t, ts.url("/")); code != 200 { // the handler has returned
				t.Errorf("after ErrAbortHandler: %d", code)
			}
			if after := ts.logs.String(); after != before {
				t.Errorf("ErrAbortHandler was logged:\n%s", strings.TrimPrefix(after, before))
			}
		})
	}
}

// TestUnreadBody checks that request body a handler did not read does not
// stall the connection.
func TestUnreadBody(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ignored")
			}), func(s *Server) {
				// Small windows: unread body that kept its credit would
				// block the connection after a few requests.
				s.Config.InitialWindowSize = 65535
				s.Config.ConnWindowSize = 65535
			})
			c := ts.client(t)
			small := strings.Repeat("s", 40<<10)
			for i := range 5 {
				resp, err := c.Post(ts.url("/"), "text/plain", strings.NewReader(small))
				if err != nil {
					t.Fatalf("POST %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ignored" {
					t.Fatalf("POST %d: %q", i, b)
				}
			}
			// A large upload to the same handler completes, or is reset
			// with NO_ERROR once the response is complete.
			body := &countingReader{r: bytes.NewReader(pattern(3, 8<<20))}
			ctx, cancel := context.WithTimeout(context.Background(), safety)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.url("/"), body)
			req.ContentLength = 8 << 20
			resp, err := c.Do(req)
			if err != nil {
				var se http2.StreamError
				if !errors.As(err, &se) || se.Code != http2.ErrCodeNo {
					t.Fatalf("large upload: %v", err)
				}
			} else {
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ignored" || err != nil {
					t.Errorf("large upload: %q, %v", b, err)
				}
			}
			t.Logf("large upload: client sent %d of %d bytes", body.n.Load(), 8<<20)
			// An endless upload ends as well.
			endless := &countingReader{r: endlessReader{}}
			req, _ = http.NewRequestWithContext(ctx, "POST", ts.url("/"), endless)
			resp, err = c.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			} else {
				var se http2.StreamError
				if !errors.As(err, &se) || se.Code != http2.ErrCodeNo {
					t.Fatalf("endless upload: %v", err)
				}
			}
			if code, body := c.get(t, ts.url("/")); code != 200 || body != "ignored" {
				t.Errorf("after uploads: %d %q", code, body)
			}
			if d := c.dials.Load(); d != 1 {
				t.Errorf("client dialed %d connections, want 1", d)
			}
		})
	}
}

type endlessReader struct{}

func (endlessReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestWriteDeadline writes to a client that never reads: the blocked Write
// fails once the deadline passes.
func TestWriteDeadline(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			done := make(chan error, 1)
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				if err := rc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
					done <- fmt.Errorf("SetWriteDeadline: %w", err)
					return
				}
				chunk := make([]byte, 64<<10)
				for {
					if _, err := w.Write(chunk); err != nil {
						done <- err
						return
					}
				}
			}))
			resp, err := ts.client(t).Get(ts.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if err := recv(t, done, "the Write to fail"); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Write after the deadline: %v, want os.ErrDeadlineExceeded", err)
			}
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Errorf("response ended cleanly, want a reset")
			}
		})
	}
}

// TestReadDeadline reads a body the client does not send: the Read fails
// once the deadline passes, and the handler can still respond.
func TestReadDeadline(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				if err := rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
					t.Errorf("SetReadDeadline: %v", err)
				}
				_, err := r.Body.Read(make([]byte, 10))
				fmt.Fprintf(w, "deadline exceeded: %v", errors.Is(err, os.ErrDeadlineExceeded))
			}))
			pr, pw := io.Pipe()
			defer pw.Close()
			req, _ := http.NewRequest("POST", ts.url("/"), pr)
			resp, err := ts.client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "deadline exceeded: true" {
				t.Errorf("handler: %s", b)
			}
		})
	}
}

// TestFullDuplex echoes the body back as it arrives; the client waits for
// each echo before sending more.
func TestFullDuplex(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				if err := rc.EnableFullDuplex(); err != nil {
					t.Errorf("EnableFullDuplex: %v", err)
				}
				w.WriteHeader(200)
				rc.Flush()
				buf := make([]byte, 1024)
				for {
					n, err := r.Body.Read(buf)
					if n > 0 {
						w.Write(buf[:n])
						if err := rc.Flush(); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}))
			pr, pw := io.Pipe()
			req, _ := http.NewRequest("POST", ts.url("/"), pr)
			resp, err := ts.client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			for i := range 20 {
				msg := fmt.Sprintf("message %d;", i)
				if _, err := pw.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, len(msg))
				if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != msg {
					t.Fatalf("echo %d: %q, %v", i, buf, err)
				}
			}
			pw.Close()
			if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
				t.Errorf("after the body: %q, %v", rest, err)
			}
		})
	}
}

// TestRequestBodyFlowControl: credit for request body returns to the client
// only as the handler reads it.
func TestRequestBodyFlowControl(t *testing.T) {
	const window = 16384
	proceed := make(chan struct{})
	ts := startServer(t, modeH2C, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-proceed:
		case <-r.Context().Done():
			return
		}
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v", len(b), err)
	}), func(s *Server) {
		s.Config.InitialWindowSize = window
		s.Config.ConnWindowSize = 65535
	})
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(safety))
	rc := newRawConn(t, nc)
	rc.handshake(t)
	rc.hbuf.Reset()
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", ts.addr}, {":path", "/"}} {
		rc.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.hbuf.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteData(1, false, make([]byte, window)); err != nil {
		t.Fatal(err)
	}
	ping := [8]byte{'f', 'l', 'o', 'w'}
	if err := rc.fr.WritePing(false, ping); err != nil {
		t.Fatal(err)
	}
	// Until the PING is answered, every frame sent before it was received:
	// the stream's window is spent, and no credit may come back while the
	// handler has not read.
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 1 {
			t.Fatalf("WINDOW_UPDATE for %d bytes before the handler read", wu.Increment)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && p.Data == ping {
			break
		}
	}
	close(proceed)
	// As the handler reads, credit returns; the core batches small
	// increments, but holds back less than the window it leaves open.
	credit := uint32(0)
	for credit < window/2 {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for WINDOW_UPDATE: %v", err)
		}
		if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 1 {
			credit += wu.Increment
		}
	}
	if err := rc.fr.WriteData(1, true, []byte("end")); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			if got, want := string(d.Data()), fmt.Sprintf("%d <nil>", window+3); got != want {
				t.Errorf("handler read %q, want %q", got, want)
			}
			return
		}
	}
}
