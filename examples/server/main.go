// Command server is an HTTP/2 server built on netconn: HTTPS on -addr with a
// self-signed certificate made at start (or -cert/-key), optional cleartext
// HTTP/2 with prior knowledge on -h2c, and these handlers:
//
//	/             hello world
//	/echo         the request body streamed back
//	/bytes?n=N    N bytes
//	everything else, with -dir DIR: files from DIR (http.FileServer)
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/h2sm/h2sm/adapters/netconn"
	"github.com/h2sm/h2sm/internal/debugserver"
	"github.com/h2sm/h2sm/internal/demo"
)

func main() {
	addr := flag.String("addr", "localhost:8443", "HTTPS address")
	h2c := flag.String("h2c", "", "also serve cleartext HTTP/2 (prior knowledge) on this address")
	cert := flag.String("cert", "", "certificate file (default: a self-signed certificate)")
	key := flag.String("key", "", "key file")
	dir := flag.String("dir", "", "serve files from this directory")
	debug := flag.String("debug", "", "serve expvar and pprof over HTTP/1.1 on this address (e.g. 127.0.0.1:6060)")
	flag.Parse()

	if *debug != "" {
		a, err := debugserver.Start(*debug)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("debug (expvar, pprof) on http://%s/debug/", a)
	}

	srv := &netconn.Server{Handler: demo.Handler(*dir), H2C: true}
	tlsCfg := &tls.Config{}
	if *cert == "" {
		c, err := selfSigned()
		if err != nil {
			log.Fatal(err)
		}
		tlsCfg.Certificates = []tls.Certificate{c}
	}
	srv.TLSConfig = tlsCfg

	errc := make(chan error, 2)
	if *addr != "" {
		l, err := net.Listen("tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("serving https://%s", l.Addr())
		go func() { errc <- srv.ServeTLS(l, *cert, *key) }()
	}
	if *h2c != "" {
		l, err := net.Listen("tcp", *h2c)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("serving h2c (prior knowledge) on http://%s", l.Addr())
		go func() { errc <- srv.Serve(l) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		log.Fatal(err)
	case <-sig:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Print(err)
		}
	}
}

// selfSigned makes a certificate for localhost valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
