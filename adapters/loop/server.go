package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/h2sm/h2sm/adapters/internal/bridge"
	"github.com/h2sm/h2sm/h2sm"
)

// Server serves cleartext HTTP/2 with prior knowledge (h2c) on gnet event
// loops. Requests go to AsyncHandler on the loop when it is set, else to
// Handler on a bounded worker pool. Fields must not change once Start or
// ListenAndServe runs.
type Server struct {
	// Addr is the TCP address to listen on; ":http" if empty. With port 0
	// a free port is chosen once for all event loops (see Start).
	Addr string

	// Handler serves requests on the worker pool when AsyncHandler is nil;
	// nil means http.DefaultServeMux.
	Handler http.Handler

	// AsyncHandler, if set, serves every request on the event loop; it
	// must never block (see Handler).
	AsyncHandler Handler

	// Config holds the HTTP/2 limits and timers of each connection (see
	// h2sm.Config). ManualFlowControl is always on.
	Config h2sm.Config

	// MaxConcurrentStreams, if non-zero, overrides Config.MaxConcurrentStreams;
	// with Handler it also bounds the handlers running for one connection.
	MaxConcurrentStreams uint32

	// IdleTimeout, if non-zero, overrides Config.IdleTimeout.
	IdleTimeout time.Duration

	// NumEventLoops is the number of event loops, each with its own
	// SO_REUSEPORT listener; zero means runtime.GOMAXPROCS(0).
	NumEventLoops int

	// MaxWorkers bounds the goroutines running Handler for all
	// connections together; zero means 1024. Workers start on demand and
	// exit when idle.
	MaxWorkers int

	// Logger receives handler panics and errors; nil means slog.Default().
	Logger *slog.Logger

	mu       sync.Mutex
	started  bool
	closing  bool
	shutdown bool
	addr     net.Addr
	eng      gnet.Engine
	loops    map[gnet.EventLoop]*loopState
	conns    *conn // list of the open connections (conn.prev, conn.next)
	nconns   int
	done     chan struct{} // closed when gnet.Run returned
	runErr   error
	pool     bridge.WorkerPool
	ctx      context.Context // handlers' base context, cancelled by Close
	cancel   context.CancelFunc
}

// ErrServerClosed is http.ErrServerClosed, returned by ListenAndServe and
// Start after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// ListenAndServe listens on Addr and serves until Shutdown or Close; then
// it returns ErrServerClosed.
func (s *Server) ListenAndServe() error {
	if _, err := s.Start(); err != nil {
		return err
	}
	<-s.done
	s.mu.Lock()
	err := s.runErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return ErrServerClosed
}

// Start listens on Addr and serves in the background; it returns once the
// event loops accept connections, with the address they listen on. It
// returns ErrServerClosed after Shutdown or Close, and an error if the
// server was started already or cannot listen.
func (s *Server) Start() (net.Addr, error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	if s.started {
		s.mu.Unlock()
		return nil, errors.New("loop: server already started")
	}
	s.started = true
	s.loops = make(map[gnet.EventLoop]*loopState)
	s.done = make(chan struct{})
	s.pool.Max = s.MaxWorkers
	if s.pool.Max <= 0 {
		s.pool.Max = 1024
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()

	addr, err := resolveAddr(s.Addr)
	if err != nil {
		s.finishStart(err)
		return nil, err
	}
	n := s.NumEventLoops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	h := &engineHandler{srv: s, booted: make(chan struct{})}
	go func() {
		err := gnet.Run(h, "tcp://"+addr.String(),
			gnet.WithNumEventLoop(n),
			gnet.WithReusePort(true),
			gnet.WithTicker(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(discardLogger{}),
		)
		s.finishStart(err)
	}()
	select {
	case <-h.booted:
	case <-s.done:
		s.mu.Lock()
		err := s.runErr
		s.mu.Unlock()
		if err == nil {
			err = ErrServerClosed
		}
		return nil, err
	}
	s.mu.Lock()
	s.addr = addr
	closing := s.closing
	s.mu.Unlock()
	if closing {
		// Close ran while the engine booted and could not stop it.
		s.eng.Stop(context.Background())
		return nil, ErrServerClosed
	}
	return addr, nil
}

func (s *Server) finishStart(err error) {
	s.mu.Lock()
	if err != nil {
		s.runErr = fmt.Errorf("loop: serve %v: %w", s.Addr, err)
	}
	s.mu.Unlock()
	close(s.done)
}

// resolveAddr turns addr into a TCP address; port 0 becomes a free port,
// because each event loop binds its own SO_REUSEPORT listener and they must
// agree.
func resolveAddr(addr string) (*net.TCPAddr, error) {
	if addr == "" {
		addr = ":http"
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loop: listen %v: %w", addr, err)
	}
	if ta.Port == 0 {
		l, err := net.ListenTCP("tcp", ta)
		if err != nil {
			return nil, fmt.Errorf("loop: listen %v: %w", addr, err)
		}
		ta = l.Addr().(*net.TCPAddr)
		l.Close()
	}
	return ta, nil
}

// Shutdown starts a graceful shutdown (two GOAWAYs, RFC 9113 §6.8) on every
// connection, answers new connections the same way, and waits until every
// connection and handler finished, or ctx ends; then it stops the event
// loops, closes what remains and returns ctx's error, if any. No goroutine
// of the server survives it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	conns := make([]*conn, 0, s.nconns)
	for c := s.conns; c != nil; c = c.next {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := s.nconns
		s.mu.Unlock()
		if n == 0 && s.pool.Idle() {
			return s.Close()
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close stops the event loops and closes every connection at once;
// handlers see their requests' contexts cancelled. It waits for the event
// loops and the handlers to return.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	select {
	case <-s.done:
	default:
		if err := eng.Validate(); err == nil {
			eng.Stop(context.Background())
		}
	}
	<-s.done
	s.cancel()
	s.pool.Wait()
	return nil
}

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

// bridgeConfig is the http.Handler bridge's configuration for c.
func (s *Server) bridgeConfig(c *conn) bridge.Config {
	cfg := bridge.Config{
		Handler:     s.Handler,
		MaxHandlers: int(s.coreConfig().MaxConcurrentStreams),
		BaseContext: s.ctx,
		Logger:      s.logger(),
		Go:          s.pool.Go,
	}
	if a := c.gc.RemoteAddr(); a != nil {
		cfg.RemoteAddr = a.String()
	}
	if a := c.gc.LocalAddr(); a != nil {
		cfg.LocalAddr = a.String()
	}
	if cfg.MaxHandlers == 0 {
		cfg.MaxHandlers = h2sm.DefaultMaxConcurrentStreams
	}
	return cfg
}

// loopState returns the state of el, creating it on first use.
func (s *Server) loopState(el gnet.EventLoop) *loopState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.loops[el]
	if ls == nil {
		ls = newLoopState(el)
		s.loops[el] = ls
	}
	return ls
}

// track records a new connection; it reports whether the server shuts down.
func (s *Server) track(c *conn) (shutdown bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.next = s.conns
	if s.conns != nil {
		s.conns.prev = c
	}
	s.conns = c
	s.nconns++
	return s.shutdown
}

// forget is called on the loop when c's socket closed.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	switch {
	case c.prev != nil:
		c.prev.next = c.next
	case s.conns == c:
		s.conns = c.next
	default:
		s.mu.Unlock()
		return // not tracked
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	s.nconns--
	s.mu.Unlock()
}

// engineHandler receives gnet's events.
type engineHandler struct {
	gnet.BuiltinEventEngine
	srv    *Server
	booted chan struct{}
}

func (h *engineHandler) OnBoot(eng gnet.Engine) gnet.Action {
	h.srv.mu.Lock()
	h.srv.eng = eng
	h.srv.mu.Unlock()
	close(h.booted)
	return gnet.None
}

func (h *engineHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.srv
	now := time.Now()
	core, err := h2sm.NewConn(now, s.coreConfig())
	if err != nil {
		s.logger().Error("loop: bad config", "err", err)
		return nil, gnet.Close
	}
	c := &conn{srv: s, ls: s.loopState(gc.EventLoop()), gc: gc, core: core, heapIdx: -1}
	gc.SetContext(c)
	if s.track(c) {
		core.Shutdown(now)
	}
	c.enter()
	c.flush(now) // our SETTINGS
	c.leave()
	return nil, gnet.None
}

func (h *engineHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	if c, ok := gc.Context().(*conn); ok {
		c.onTraffic()
	}
	return gnet.None
}

func (h *engineHandler) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, ok := gc.Context().(*conn); ok && !c.gone {
		c.onClose(err)
	}
	return gnet.None
}

// maxTick is the longest the ticker sleeps; it bounds how late a timer
// armed during the sleep may fire.
const maxTick = 50 * time.Millisecond

// OnTick runs on gnet's ticker goroutine: it queues a tick on every loop
// with an expired timer or blocked output, and sleeps until the earliest
// deadline.
func (h *engineHandler) OnTick() (time.Duration, gnet.Action) {
	s := h.srv
	now := time.Now()
	delay := maxTick
	s.mu.Lock()
	for _, ls := range s.loops {
		if ls.due(now) && !ls.queued.Swap(true) {
			if ls.el.Execute(context.Background(), ls.tickFn) != nil {
				ls.queued.Store(false)
			}
		}
		if ls.nblocked.Load() > 0 {
			delay = time.Millisecond
		} else if n := ls.next.Load(); n != 0 {
			delay = min(delay, max(time.Duration(n-now.UnixNano()), time.Millisecond))
		}
	}
	s.mu.Unlock()
	return delay, gnet.None
}

// discardLogger silences gnet's own logging.
type discardLogger struct{}

func (discardLogger) Debugf(string, ...any) {}
func (discardLogger) Infof(string, ...any)  {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Fatalf(format string, args ...any) {
	panic(strings.TrimSpace(fmt.Sprintf(format, args...)))
}
