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
	"bytes"
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
			var body []byte
			st.OnData(func(p []byte, end bool) {
				if len(body)+len(p) > maxBytes {
					st.Reset()
					return
				}
				body = append(body, p...)
				if end {
					st.Respond(200, nil, body)
				}
			})
			if st.ContentLength == 0 {
				st.Respond(200, nil, nil)
			}
		case "/bytes":
			vals := parseQuery(query)
			n, _ := strconv.Atoi(vals["n"])
			st.Respond(200, nil, bytes.Repeat([]byte("x"), min(max(n, 0), maxBytes)))
		default:
			st.Respond(200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte("hello world\n"))
		}
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
