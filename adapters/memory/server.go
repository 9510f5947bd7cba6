package memory

import (
	"context"
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

// A ServerOption configures a Server.
type ServerOption func(*serverOptions)

type serverOptions struct {
	config    []func(*h2sm.Config)
	clock     *Clock
	transport []func(*http.Transport)
	logger    *slog.Logger
}

// WithServerConfig lets f change the h2sm.Config each connection's core is
// created with (the zero Config, RFC defaults, otherwise). ManualFlowControl
// is always on, as with the other adapters: the client is paced by how
// fast handlers read request bodies. Several WithServerConfig options apply
// in order.
func WithServerConfig(f func(*h2sm.Config)) ServerOption {
	return func(o *serverOptions) { o.config = append(o.config, f) }
}

// WithClock makes the server run on the virtual clock c: the cores read
// their time from c, and their timers (idle, settings ACK, graceful
// shutdown, stalled streams, keepalive...) fire only when c is advanced,
// inside the call to [Clock.Advance] or [Clock.Set]. Without it, the
// server uses real time.
func WithClock(c *Clock) ServerOption {
	return func(o *serverOptions) { o.clock = c }
}

// WithTransport lets f change the client's *http.Transport before first
// use, for example its HTTP2 field (receive windows, frame size, pings).
// f must not change DialContext or Protocols. Several WithTransport options
// apply in order.
func WithTransport(f func(*http.Transport)) ServerOption {
	return func(o *serverOptions) { o.transport = append(o.transport, f) }
}

// WithLogger sets where handler panics are logged (other than
// http.ErrAbortHandler, which is silent). Without it, slog.Default() is used.
func WithLogger(l *slog.Logger) ServerOption {
	return func(o *serverOptions) { o.logger = l }
}

// Server serves an http.Handler over HTTP/2 in memory: it is the
// counterpart of net/http/httptest.Server for HTTP/2 semantics. The client
// ([Server.Client], [Server.Transport]) is net/http's own HTTP/2 client
// speaking cleartext HTTP/2 (prior knowledge); its connections are
// in-memory, each served by an h2sm.Conn through the same bridge to
// net/http as adapters/netconn and adapters/loop use. No socket is opened.
//
// A Server is safe for concurrent use. Close it when done: every handler
// has returned and every connection is closed when Close returns.
type Server struct {
	handler    http.Handler
	opts       serverOptions
	clock      *Clock      // nil: real time
	coreConfig h2sm.Config // as given to h2sm.NewConn
	config     h2sm.Config // coreConfig with the defaults filled in
	tr         *http.Transport
	client     *http.Client

	mu      sync.Mutex
	conns   []*serverConn // every connection, in the order the client opened them
	closing bool          // Shutdown or Close was called: no new connection
	closed  bool          // Close was called
	waiters sync.WaitGroup
}

// ErrServerClosed is what dialling a Server returns after Shutdown or
// Close; the client's requests fail with it wrapped.
var ErrServerClosed = errors.New("memory: server closed")

// serverURL is the URL the Server's client is pointed at. Any host works:
// every request of the client reaches the handler.
const serverURL = "http://h2sm.memory"

// NewServer returns a Server serving h (http.DefaultServeMux if nil). It
// panics if the options give an invalid h2sm.Config, as httptest.NewServer
// panics when it cannot listen.
func NewServer(h http.Handler, opts ...ServerOption) *Server {
	if h == nil {
		h = http.DefaultServeMux
	}
	s := &Server{handler: h}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.logger == nil {
		s.opts.logger = slog.Default()
	}
	s.clock = s.opts.clock
	var cfg h2sm.Config
	for _, f := range s.opts.config {
		f(&cfg)
	}
	s.coreConfig = bridge.CoreConfig(cfg, 0, 0)
	probe, err := h2sm.NewConn(s.now(), s.coreConfig)
	if err != nil {
		panic(fmt.Sprintf("memory: NewServer: %v", err))
	}
	s.config = probe.Config()

	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	s.tr = &http.Transport{
		Protocols:       &protocols,
		DialContext:     s.dial,
		MaxConnsPerHost: 1,
	}
	for _, f := range s.opts.transport {
		f(s.tr)
	}
	s.client = &http.Client{Transport: s.tr}
	return s
}

// URL returns the base URL of the server, "http://h2sm.memory", for the
// requests of its client. The host is a name only: the client sends every
// request to the handler, whatever the host.
func (s *Server) URL() string { return serverURL }

// Client returns an HTTP client whose requests are served by the handler
// over HTTP/2. It is the same client on every call; it follows redirects
// as http.Client does.
func (s *Server) Client() *http.Client { return s.client }

// Transport returns the client's RoundTripper: an *http.Transport that
// speaks cleartext HTTP/2 over in-memory connections to the server, and
// dials one connection at a time (MaxConnsPerHost 1). URLs must have the
// http scheme.
func (s *Server) Transport() http.RoundTripper { return s.tr }

// Config returns the h2sm.Config of the server's connections, with every
// default filled in (so the durations to advance a virtual clock by can be
// read from it).
func (s *Server) Config() h2sm.Config { return s.config }

// ConnStats describe one connection of a Server.
type ConnStats struct {
	// Phase is the core's phase: h2sm.PhaseClosed once the server side has
	// closed (GOAWAY sent, or the client went away).
	Phase h2sm.Phase

	// Closed reports whether the client has closed its end too: the
	// connection is gone.
	Closed bool

	// Handlers is the number of handlers started on the connection that
	// have not returned.
	Handlers int

	// Unread is the number of bytes the server sent that the client has not
	// read yet. The client's flow-control windows bound the DATA among them.
	Unread int

	// Core are the core's counters and gauges (h2sm.Conn.Stats).
	Core h2sm.Stats
}

// Stats returns the statistics of every connection the client has opened,
// in the order it opened them, closed ones included.
func (s *Server) Stats() []ConnStats {
	s.mu.Lock()
	conns := append([]*serverConn(nil), s.conns...)
	s.mu.Unlock()
	out := make([]ConnStats, len(conns))
	for i, c := range conns {
		out[i] = c.stats()
	}
	return out
}

// Shutdown starts a graceful shutdown of every connection, as
// h2sm.Conn.Shutdown does (GOAWAY and PING, then the final GOAWAY; open
// streams finish, or are cut at DrainTimeout), refuses new connections,
// and waits until every connection has closed and every handler has
// returned. If ctx ends first, Shutdown returns ctx's error and leaves the
// connections to drain, or to Close, as net/http's Server.Shutdown does.
//
// The shutdown has started on every connection before Shutdown waits. On a
// virtual clock the drain advances only with the clock: call Shutdown with
// a ctx already done to start it, advance the clock, then Shutdown again
// (or Close) to wait. After Close, Shutdown returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, _ := s.stopDialing(false)
	for _, c := range conns {
		c.shutdown()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.addWaiter() {
		return ErrServerClosed
	}
	done := make(chan struct{})
	go func() {
		defer s.waiters.Done()
		for _, c := range conns {
			c.wait()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes every connection now (a GOAWAY, then both ends closed, so
// that requests in flight fail and handlers' contexts are cancelled) and
// waits until every handler has returned. A handler that ignores its
// request's context and blocks forever makes Close block too. Close
// returns nil; calling it again does nothing.
func (s *Server) Close() error {
	conns, already := s.stopDialing(true)
	if already {
		return nil
	}
	for _, c := range conns {
		c.close()
	}
	for _, c := range conns {
		c.wait()
	}
	s.waiters.Wait() // Shutdown's waiting goroutines
	s.tr.CloseIdleConnections()
	return nil
}

// stopDialing refuses new connections and returns the current ones; with
// closing, it records the Close and reports whether one happened before.
func (s *Server) stopDialing(closing bool) (conns []*serverConn, already bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	already = s.closed
	s.closing = true
	if closing {
		s.closed = true
	}
	return append([]*serverConn(nil), s.conns...), already
}

// addWaiter counts a goroutine of Shutdown for Close to wait for; false
// means Close has started, and waits for the connections itself. The
// check and the Add are under mu so that no Add follows Close's Wait.
func (s *Server) addWaiter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.waiters.Add(1)
	return true
}

// dial is the client's DialContext: a new in-memory connection, served by
// a new core.
func (s *Server) dial(ctx context.Context, network, address string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, fmt.Errorf("memory: dial %v: %w", address, ErrServerClosed)
	}
	c, err := newServerConn(s, len(s.conns)+1)
	if err != nil {
		return nil, fmt.Errorf("memory: dial %v: %w", address, err)
	}
	s.conns = append(s.conns, c)
	return c.cl, nil
}

// now is the time for the cores.
func (s *Server) now() time.Time {
	if s.clock != nil {
		return s.clock.Now()
	}
	return time.Now()
}
