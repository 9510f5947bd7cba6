// Command loop serves h2c (HTTP/2 with prior knowledge) on gnet event loops
// with package adapters/loop.
//
//	go run ./examples/loop              # non-blocking handlers, localhost:8080
//	go run ./examples/loop -http        # the same as an http.Handler on the worker pool
//	curl --http2-prior-knowledge http://localhost:8080/
//
// It serves / (hello world), POST /echo (the body back) and GET /bytes?n=N
// (N bytes).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/h2sm/h2sm/adapters/loop"
	"github.com/h2sm/h2sm/internal/debugserver"
	"github.com/h2sm/h2sm/internal/demo"
)

// maxBytes bounds /bytes and /echo.
const maxBytes = 64 << 20

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	useHTTP := flag.Bool("http", false, "serve an http.Handler on the worker pool instead of the non-blocking API")
	debug := flag.String("debug", "", "serve expvar and pprof over HTTP/1.1 on this address (e.g. 127.0.0.1:6060)")
	flag.Parse()

	if *debug != "" {
		a, err := debugserver.Start(*debug)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("debug (expvar, pprof) on http://%s/debug/", a)
	}

	s := &loop.Server{Addr: *addr}
	if *useHTTP {
		s.Handler = demo.Handler("")
	} else {
		s.AsyncHandler = asyncHandler()
	}
	a, err := s.Start()
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving h2c on %v", a)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(sctx)
}

// asyncHandler answers on the event loop.
func asyncHandler() loop.Handler {
	return loop.HandlerFunc(func(st *loop.Stream) {
		path, query, _ := strings.Cut(st.Path, "?")
		switch path {
		case "/echo":
			echo(st)
		case "/bytes":
			vals := parseQuery(query)
			n, err := strconv.Atoi(vals["n"])
			if err != nil || n < 0 || n > 1<<30 {
				st.Respond(400, nil, []byte("n must be an integer in [0, 2^30]\n"))
				return
			}
			sendBytes(st, n)
		default:
			st.Respond(200, textPlain, helloWorld)
		}
	})
}

// Respond only reads the header and body it is given, so constant ones are
// shared by every request.
var (
	textPlain  = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	helloWorld = []byte("hello world\n")
)

// letters is the pattern /bytes serves ('a' to 'z' over and over, as
// examples/server does), shared by all requests: 26 more bytes than the
// largest write, so that a write may start at any letter.
var letters = func() []byte {
	b := make([]byte, 26*2520+26)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

// sendBytes streams n bytes of the pattern, as fast as the client's flow
// control allows: Write takes what the stream's send buffer has room for,
// and OnWritable resumes.
func sendBytes(st *loop.Stream, n int) {
	h := http.Header{"Content-Type": {"application/octet-stream"}, "Content-Length": {strconv.Itoa(n)}}
	if err := st.WriteHeader(200, h); err != nil {
		return
	}
	sent := 0
	pump := func() {
		for sent < n {
			off := sent % 26
			k, err := st.Write(letters[off : off+min(n-sent, len(letters)-26)])
			if err != nil || k == 0 {
				return // reset, or full: OnWritable calls pump again
			}
			sent += k
		}
		st.End(nil)
	}
	st.OnWritable(pump)
	pump()
}

// echo streams the request body back as it arrives: what the stream's send
// buffer cannot take yet waits in pending until OnWritable.
func echo(st *loop.Stream) {
	if err := st.WriteHeader(200, nil); err != nil {
		return
	}
	var pending []byte
	ended := false
	flush := func() {
		for len(pending) > 0 {
			n, err := st.Write(pending)
			if err != nil || n == 0 {
				return // reset, or full: OnWritable calls flush again
			}
			pending = pending[n:]
		}
		pending = nil
		if ended {
			st.End(nil)
		}
	}
	st.OnWritable(flush)
	st.OnData(func(p []byte, end bool) {
		ended = end
		if len(pending) == 0 && len(p) > 0 {
			n, err := st.Write(p) // copies what fits
			if err != nil {
				return
			}
			p = p[n:]
		}
		if len(pending)+len(p) > maxBytes {
			st.Reset()
			return
		}
		pending = append(pending, p...)
		flush()
	})
}

func parseQuery(q string) map[string]string {
	m := make(map[string]string)
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
