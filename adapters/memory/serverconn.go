package memory

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/h2sm/h2sm/adapters/internal/bridge"
	"github.com/h2sm/h2sm/h2sm"
)

// serverConn drives one h2sm.Conn for a Server, with the bridge serving
// the Server's handler. It has no goroutine of its own: input arrives in
// the goroutine of the client's Write, timers fire in the clock's goroutine
// (a time.AfterFunc, or whoever advances the virtual Clock), and handlers
// reach the core through Run. mu serialises them all.
type serverConn struct {
	srv    *Server
	cl     *clientConn
	bridge *bridge.Conn

	mu         sync.Mutex
	core       *h2sm.Conn
	halfClosed bool        // the core closed and the client was given EOF
	done       bool        // the client's end is closed too: no timer runs
	timer      *time.Timer // real time: fires at deadline
	vtimer     *clockTimer // virtual time: armed on srv.clock
	deadline   time.Time   // the real timer's instant, zero if stopped
	doneCh     chan struct{}
}

// errInternalStall is the error a core that refuses input it should take
// is aborted with: it would otherwise make the client's Write spin.
var errInternalStall = errors.New("memory: internal error: the core consumes no input although drained")

// newServerConn creates the core for connection number n and flushes its
// SETTINGS to the client's end.
func newServerConn(s *Server, n int) (*serverConn, error) {
	core, err := h2sm.NewConn(s.now(), s.coreConfig)
	if err != nil {
		return nil, err
	}
	c := &serverConn{srv: s, core: core, doneCh: make(chan struct{})}
	c.cl = newClientConn(c, addr(fmt.Sprintf("client:%d", n)), addr("server"))
	c.bridge = bridge.NewConn(c, bridge.Config{
		Handler:     s.handler,
		MaxHandlers: int(s.coreConfig.MaxConcurrentStreams),
		RemoteAddr:  c.cl.local.String(),
		LocalAddr:   c.cl.remote.String(),
		Logger:      s.opts.logger,
	})
	if s.clock != nil {
		c.vtimer = s.clock.newTimer(c.onVirtualTimer)
	}
	c.mu.Lock()
	c.flushLocked(s.now())
	c.mu.Unlock()
	return c, nil
}

// Run implements bridge.Driver.
func (c *serverConn) Run(f func(core *h2sm.Conn, now time.Time)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.srv.now()
	f(c.core, now)
	c.flushLocked(now)
}

// receive feeds bytes the client wrote to the core. After the core closed,
// they are dropped, as a server lingering after its GOAWAY drops what the
// peer still sends.
func (c *serverConn) receive(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.srv.now()
	for len(p) > 0 && !c.core.Closed() {
		n := c.core.Receive(now, p)
		p = p[n:]
		c.flushLocked(now)
		if n == 0 && len(p) > 0 && !c.core.Closed() {
			// The core stops consuming only while its output or events wait,
			// and flushLocked has just taken them all.
			c.core.Abort(now, errInternalStall)
			c.flushLocked(now)
		}
	}
}

// clientClosed runs when the client closed its end: the core sees the
// transport end (if it had not closed already), and the connection is done.
func (c *serverConn) clientClosed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.core.Closed() {
		now := c.srv.now()
		c.core.Abort(now, io.EOF)
		c.flushLocked(now)
	}
	c.finishLocked()
}

// shutdown starts a graceful shutdown of the connection.
func (c *serverConn) shutdown() {
	c.Run(func(core *h2sm.Conn, now time.Time) { core.Shutdown(now) })
}

// close closes the connection now: GOAWAY, then both ends closed.
func (c *serverConn) close() {
	c.mu.Lock()
	now := c.srv.now()
	c.core.Close(now)
	c.flushLocked(now)
	c.mu.Unlock()
	c.cl.Close()
}

// stats returns the connection's statistics.
func (c *serverConn) stats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConnStats{
		Phase:    c.core.Phase(),
		Closed:   c.done,
		Handlers: c.bridge.Running(),
		Unread:   c.cl.unread(),
		Core:     c.core.Stats(),
	}
}

// flushLocked drains the core as the h2sm contract says: output to the
// client's end, then the deadline, then events, whose dispatch may issue
// commands and so calls for another round. mu is held.
func (c *serverConn) flushLocked(now time.Time) {
	timedOut := false
	for {
		c.cl.deliver(c.core.AppendOutgoing)
		if !c.armTimerLocked() && !timedOut {
			// Virtual time: the deadline has already passed (the clock
			// moved while the core was busy). Handle it now, once: a
			// timer that re-arms at the same instant would spin.
			timedOut = true
			now = c.srv.clock.Now()
			c.core.HandleTimeout(now)
			continue
		}
		dispatched := false
		for ev, ok := c.core.NextEvent(); ok; ev, ok = c.core.NextEvent() {
			c.bridge.Dispatch(c.core, now, ev)
			dispatched = true
		}
		if !dispatched {
			break
		}
	}
	if c.core.Closed() && !c.halfClosed {
		// Everything is delivered: the client reads EOF after it.
		c.halfClosed = true
		c.cl.closeWrite()
	}
}

// armTimerLocked sets the connection's one timer to the core's deadline.
// It reports false only with a virtual clock whose time has reached the
// deadline already: the caller must handle the timeout.
func (c *serverConn) armTimerLocked() bool {
	d, ok := c.core.Deadline()
	if c.vtimer != nil {
		if !ok || c.done {
			c.vtimer.stop()
			return true
		}
		return c.vtimer.arm(d)
	}
	if !ok || c.done {
		if c.timer != nil && !c.deadline.IsZero() {
			c.timer.Stop()
			c.deadline = time.Time{}
		}
		return true
	}
	if d.Equal(c.deadline) {
		return true
	}
	c.deadline = d
	if c.timer == nil {
		c.timer = time.AfterFunc(time.Until(d), c.onRealTimer)
	} else {
		c.timer.Reset(time.Until(d))
	}
	return true
}

// onRealTimer runs the core's timers at the real deadline.
func (c *serverConn) onRealTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.deadline = time.Time{}
	now := time.Now()
	c.core.HandleTimeout(now)
	c.flushLocked(now)
}

// onVirtualTimer runs the core's timers when the virtual clock reaches the
// deadline, in the goroutine advancing the clock.
func (c *serverConn) onVirtualTimer(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.core.HandleTimeout(now)
	c.flushLocked(now)
}

// finishLocked records that both ends are closed and stops the timer.
func (c *serverConn) finishLocked() {
	if c.done {
		return
	}
	c.done = true
	c.armTimerLocked() // stops it
	close(c.doneCh)
}

// wait blocks until both ends are closed and every handler has returned.
func (c *serverConn) wait() {
	<-c.doneCh
	c.bridge.Wait()
}
