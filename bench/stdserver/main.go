// Command stdserver is the benchmarks' reference: the Go standard library's
// own HTTP/2 server (net/http with http.Server.Protocols set to unencrypted
// HTTP/2, that is h2c with prior knowledge) serving the same demo handlers
// as examples/server and examples/loop -http.
//
//	go run ./bench/stdserver -addr 127.0.0.1:18080 -debug 127.0.0.1:16060
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/h2sm/h2sm/internal/debugserver"
	"github.com/h2sm/h2sm/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "address to serve h2c (prior knowledge) on")
	debug := flag.String("debug", "", "serve expvar and pprof over HTTP/1.1 on this address")
	flag.Parse()
	if *debug != "" {
		if _, err := debugserver.Start(*debug); err != nil {
			log.Fatal(err)
		}
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Addr: *addr, Handler: demo.Handler(""), Protocols: &protocols}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("serving h2c (prior knowledge) on http://%s", *addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		log.Fatal(err)
	case <-sig:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}
