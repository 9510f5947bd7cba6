package netconn_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/h2sm/h2sm/adapters/netconn"
)

// ExampleServer serves HTTP/2 over TLS (with the HTTP/1.1 fallback) and
// shuts down gracefully on interrupt.
func ExampleServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over "+r.Proto+"\n")
	})
	srv := &netconn.Server{
		Addr:                 ":8443",
		Handler:              mux,
		TLSConfig:            &tls.Config{},
		MaxConcurrentStreams: 250,
		IdleTimeout:          2 * time.Minute,
	}

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Print(err)
		}
	}()

	if err := srv.ListenAndServeTLS("cert.pem", "key.pem"); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
