package netconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/h2sm/h2sm/adapters/internal/bridge"
	"github.com/h2sm/h2sm/h2sm"
)

// Server serves HTTP/2 over net.Conn with an http.Handler, in the manner of
// net/http's Server. The zero value is usable: it serves
// http.DefaultServeMux. Fields must not change once a Serve method runs.
type Server struct {
	// Addr is the TCP address to listen on, ":https" (TLS) or ":http" if empty.
	Addr string

	// Handler serves requests; nil means http.DefaultServeMux.
	Handler http.Handler

	// TLSConfig is cloned for TLS listeners; NextProtos gets "h2" (and
	// "http/1.1" unless DisableHTTP1).
	TLSConfig *tls.Config

	// Config holds the HTTP/2 limits and timers of each connection (see
	// h2sm.Config). ManualFlowControl is always on: the client is paced by
	// how fast handlers read request bodies.
	Config h2sm.Config

	// MaxConcurrentStreams, if non-zero, overrides Config.MaxConcurrentStreams:
	// the streams a client may open and the handlers that run at once on a
	// connection. Further requests wait, up to four times as many; beyond
	// that the connection is closed with GOAWAY ENHANCE_YOUR_CALM.
	MaxConcurrentStreams uint32

	// TLSHandshakeTimeout bounds the TLS handshake; zero means 10s.
	TLSHandshakeTimeout time.Duration

	// IdleTimeout, if non-zero, overrides Config.IdleTimeout.
	IdleTimeout time.Duration

	// WriteTimeout bounds each write to the socket; zero means none (the
	// core's write-stall timer still applies).
	WriteTimeout time.Duration

	// H2C serves cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3) on
	// non-TLS listeners. Upgrade: h2c is never supported.
	H2C bool

	// DisableHTTP1 turns off the HTTP/1.1 fallback: a TLS client that does
	// not pick h2 by ALPN, or a cleartext client that does not send the
	// HTTP/2 preface, is disconnected. By default net/http serves them with
	// the same Handler.
	DisableHTTP1 bool

	// Logger receives handler panics and connection errors; nil means slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	shutdown  bool
	h1        *http.Server
	h1ln      *chanListener
	wg        sync.WaitGroup    // connection and accept goroutines
	workers   bridge.WorkerPool // handler goroutines, reused under load
}

// ErrServerClosed is http.ErrServerClosed, returned by the Serve methods
// after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// coreConfig is the core's configuration for each connection.
func (s *Server) coreConfig() h2sm.Config {
	return bridge.CoreConfig(s.Config, s.MaxConcurrentStreams, s.IdleTimeout)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// ListenAndServe listens on Addr without TLS and serves h2c (when H2C is
// set) and HTTP/1.1 (unless DisableHTTP1).
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = ":http"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("netconn: listen %v: %w", addr, err)
	}
	return s.Serve(l)
}

// ListenAndServeTLS listens on Addr and serves TLS with the certificate and
// key in the given files (or TLSConfig's certificates when both are empty).
func (s *Server) ListenAndServeTLS(certFile, keyFile string) error {
	addr := s.Addr
	if addr == "" {
		addr = ":https"
	}
	cfg, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("netconn: listen %v: %w", addr, err)
	}
	return s.Serve(tls.NewListener(l, cfg))
}

// ServeTLS serves TLS on l with the certificate and key in the given files
// (or TLSConfig's certificates when both are empty).
func (s *Server) ServeTLS(l net.Listener, certFile, keyFile string) error {
	cfg, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		return err
	}
	return s.Serve(tls.NewListener(l, cfg))
}

// tlsConfig prepares the TLS configuration: ALPN h2 (and http/1.1), TLS 1.2
// at least (RFC 9113 §9.2).
func (s *Server) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("netconn: load key pair: %w", err)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	cfg.NextProtos = []string{"h2"}
	if !s.DisableHTTP1 {
		cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg, nil
}

// Serve accepts connections on l and serves each in its own goroutines. A
// listener made by tls.NewListener gets TLS; any other is cleartext. It
// returns ErrServerClosed after Shutdown or Close. Like net/http's, it
// always closes l before returning.
func (s *Server) Serve(l net.Listener) error {
	// Without this, a listener passed after Close (or one whose Accept
	// failed) stayed open: clients connected to it and hung in its backlog.
	defer l.Close()
	if !s.track(&l, true) {
		return ErrServerClosed
	}
	defer s.track(&l, false)
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("netconn: accept: %w", err)
		}
		delay = 0
		if !s.addGoroutine() {
			nc.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.wg.Done()
			s.handle(context.Background(), nc)
		}()
	}
}

// ServeConn serves one connection and returns when it is closed; cancelling
// ctx closes it. The connection is TLS if nc is a *tls.Conn.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	if !s.addGoroutine() {
		nc.Close()
		return ErrServerClosed
	}
	defer s.wg.Done()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	s.handle(ctx, nc)
	return nil
}

// handle serves one accepted connection: TLS handshake and ALPN, or the
// cleartext preface check, then HTTP/2 or the HTTP/1.1 fallback.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	start := time.Now() // the core's handshake timer counts from here
	var state *tls.ConnectionState
	var head []byte // cleartext: the bytes sniffed, the core's first input
	if tc, ok := nc.(*tls.Conn); ok {
		to := s.TLSHandshakeTimeout
		if to == 0 {
			to = 10 * time.Second
		}
		hctx, cancel := context.WithTimeout(ctx, to)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return
		}
		cs := tc.ConnectionState()
		state = &cs
		start = time.Now() // TLS had its own timeout
		if cs.NegotiatedProtocol != "h2" {
			s.serveHTTP1(nc)
			return
		}
	} else {
		var proto int
		head, proto = s.sniff(nc, start)
		switch proto {
		case protoHTTP1:
			s.serveHTTP1(&peekedConn{Conn: nc, buf: head})
			return
		case protoNone:
			nc.Close()
			return
		}
		// HTTP/2 prior knowledge, or bytes that are neither: the core answers
		// an invalid preface with GOAWAY PROTOCOL_ERROR (RFC 9113 §3.4). The
		// sniffed bytes are its first input (serve).
	}
	cfg := bridge.Config{
		Handler:     s.Handler,
		MaxHandlers: int(s.coreConfig().MaxConcurrentStreams),
		RemoteAddr:  nc.RemoteAddr().String(),
		LocalAddr:   nc.LocalAddr().String(),
		TLS:         state,
		Logger:      s.logger(),
		Go:          s.workers.Go,
	}
	c, err := s.newConn(ctx, nc, cfg, start)
	if err != nil {
		s.logger().Error("netconn: bad config", "err", err)
		nc.Close()
		return
	}
	if !s.trackConn(c, true) {
		nc.Close()
		return
	}
	if state != nil && !adequateTLS(state) {
		// RFC 9113 §9.2: TLS 1.2 with a prohibited cipher suite is a
		// connection error INADEQUATE_SECURITY.
		c.Run(func(core *h2sm.Conn, now time.Time) {
			core.GoAway(now, h2sm.ErrCodeInadequateSecurity, "TLS 1.2 cipher suite prohibited by RFC 9113 §9.2.2")
		})
	}
	c.serve(head)
	s.trackConn(c, false)
}

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// adequateTLS applies RFC 9113 §9.2: TLS 1.2 or later, and with TLS 1.2 an
// ephemeral key exchange and an AEAD cipher (Appendix A lists the rest).
func adequateTLS(cs *tls.ConnectionState) bool {
	if cs.Version >= tls.VersionTLS13 {
		return true
	}
	if cs.Version < tls.VersionTLS12 {
		return false
	}
	switch cs.CipherSuite {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return true
	}
	return false
}

// What a cleartext connection speaks, judged from its first bytes.
const (
	protoNone  = iota // nothing arrived, or nothing we serve
	protoHTTP2        // the HTTP/2 preface, or junk for the core to reject
	protoHTTP1        // an HTTP/1.x request line
)

// sniff reads a cleartext connection's first bytes: the 24-byte HTTP/2
// preface, or a first line that ends in HTTP/1.0 or HTTP/1.1. It returns
// what it read, to be replayed.
func (s *Server) sniff(nc net.Conn, start time.Time) ([]byte, int) {
	// The preface is part of the HTTP/2 handshake: Config.HandshakeTimeout
	// bounds it, as the core would (the core is created after the sniff,
	// with its clock started at start).
	to := s.Config.HandshakeTimeout
	switch {
	case to == 0:
		to = h2sm.DefaultHandshakeTimeout
	case to < 0:
		to = 10 * time.Second // the core's timer is off; still bound the sniff
	}
	nc.SetReadDeadline(start.Add(to))
	defer nc.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 512)
	for len(buf) < maxSniff {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case len(buf) >= len(h2Preface) && string(buf[:len(h2Preface)]) == h2Preface:
			return buf, s.h2cOr(protoNone)
		case len(buf) < len(h2Preface) && string(buf) == h2Preface[:len(buf)]:
			// still a prefix of the preface
		default:
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				if isHTTP1Line(buf[:i]) {
					return buf, protoHTTP1
				}
				return buf, s.h2cOr(protoNone)
			}
		}
		if err != nil {
			return buf, protoNone
		}
	}
	return buf, s.h2cOr(protoNone)
}

// maxSniff bounds the bytes read to find the first line.
const maxSniff = 8 << 10

// h2cOr is protoHTTP2 when h2c is on, else alt.
func (s *Server) h2cOr(alt int) int {
	if s.H2C {
		return protoHTTP2
	}
	return alt
}

// isHTTP1Line reports whether line is "METHOD target HTTP/1.x" (RFC 9112 §3).
func isHTTP1Line(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 {
		return false
	}
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	i := bytes.LastIndexByte(rest, ' ')
	return i > 0 && (string(rest[i+1:]) == "HTTP/1.1" || string(rest[i+1:]) == "HTTP/1.0")
}

// peekedConn is a net.Conn whose first bytes were read ahead.
type peekedConn struct {
	net.Conn
	buf []byte
}

func (p *peekedConn) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		if len(p.buf) == 0 {
			p.buf = nil
		}
		return n, nil
	}
	return p.Conn.Read(b)
}

// CloseWrite half-closes the connection when the underlying one can.
func (p *peekedConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return p.Conn.Close()
}
