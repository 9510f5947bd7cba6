// Command grpc serves a gRPC service with adapters/netconn: grpc.Server is
// an http.Handler (ServeHTTP), and netconn serves it over cleartext HTTP/2
// with prior knowledge (h2c), which is what grpc-go's client speaks with
// insecure credentials.
//
//	go run .                   # in examples/grpc; localhost:50051, or -addr
//	go test ./...              # the client side: unary, bidi streaming, status, 4 MiB messages
//
// The service (service.go) has a unary method and a bidirectional
// streaming one, written without protoc: a hand-written grpc.ServiceDesc and
// a JSON codec. This directory is its own module, so that the main module
// does not depend on gRPC.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/h2sm/h2sm/adapters/netconn"
)

func main() {
	addr := flag.String("addr", "localhost:50051", "address to serve gRPC (h2c) on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := newServer(echoService{})
	log.Printf("serving gRPC (h2c) on %s", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Print(err)
		}
	}()
	if err := srv.Serve(ln); err != netconn.ErrServerClosed {
		log.Fatal(err)
	}
}

// newServer returns a netconn.Server that serves impl's gRPC service over
// h2c. gRPC needs no HTTP/1.1: DisableHTTP1 drops clients that do not send
// the HTTP/2 preface.
func newServer(impl EchoServer) *netconn.Server {
	return &netconn.Server{
		Handler:      newGRPCServer(impl),
		H2C:          true,
		DisableHTTP1: true,
	}
}
