package netconn

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/h2sm/h2sm/adapters/internal/bridge"
	"github.com/h2sm/h2sm/h2sm"
)

// A connection's read buffer starts small, since an idle connection holds it
// while blocked in Read, and doubles whenever a read fills it, up to the max.
const (
	minReadBuffer = 4 << 10
	maxReadBuffer = 64 << 10
)

// closeLinger bounds the time spent flushing the last frames and draining
// the peer's after the core closed.
const closeLinger = time.Second

// conn drives one h2sm.Conn over one net.Conn. The core is guarded by mu:
// the reader goroutine, the writer goroutine, the timer and the handler
// goroutines take turns; nobody holds mu while doing socket I/O.
type conn struct {
	srv    *Server
	nc     net.Conn
	bridge *bridge.Conn

	mu         sync.Mutex
	core       *h2sm.Conn
	wbuf       []byte // output being written by the writer (owned by it while writing)
	writing    bool   // the writer owns wbuf
	wakeW      chan struct{}
	progress   *sync.Cond // signalled when the writer took output (reader backpressure)
	timer      *time.Timer
	deadline   time.Time
	done       bool      // the socket is closed
	halfClosed bool      // the core closed and its output is written
	closeBy    time.Time // set when the core closed: the socket's last deadline
	doneCh     chan struct{}
}

// newConn creates the core for nc. It does not start any goroutine.
func (s *Server) newConn(ctx context.Context, nc net.Conn, cfg bridge.Config, start time.Time) (*conn, error) {
	core, err := h2sm.NewConn(start, s.coreConfig())
	if err != nil {
		return nil, err
	}
	c := &conn{srv: s, nc: nc, core: core, wakeW: make(chan struct{}, 1), doneCh: make(chan struct{})}
	c.progress = sync.NewCond(&c.mu)
	cfg.BaseContext = ctx
	c.bridge = bridge.NewConn(c, cfg)
	return c, nil
}

// Run implements bridge.Driver.
func (c *conn) Run(f func(core *h2sm.Conn, now time.Time)) {
	c.mu.Lock()
	f(c.core, time.Now())
	c.flushLocked()
	c.mu.Unlock()
}

// serve runs the connection until it is closed: the calling goroutine reads,
// a second goroutine writes.
func (c *conn) serve() {
	c.mu.Lock()
	c.flushLocked() // our SETTINGS
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	c.readLoop()
	wg.Wait()
	c.bridge.Wait()
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}

// readLoop feeds the core until the socket fails or the core closes.
func (c *conn) readLoop() {
	buf := make([]byte, minReadBuffer)
	for {
		n, err := c.nc.Read(buf)
		full := n == len(buf)
		c.mu.Lock()
		p := buf[:n]
		for len(p) > 0 && !c.core.Closed() && !c.done {
			k := c.core.Receive(time.Now(), p)
			p = p[k:]
			c.flushLocked()
			if k == 0 && len(p) > 0 && !c.core.Closed() && !c.done {
				c.progress.Wait() // backpressure: wait for the writer
			}
		}
		if err != nil && !c.core.Closed() {
			c.core.Abort(time.Now(), err)
			c.flushLocked()
		}
		closed, done := c.core.Closed(), c.done
		c.mu.Unlock()
		switch {
		case done || err != nil:
			c.mu.Lock()
			c.closeLocked()
			c.mu.Unlock()
			return
		case closed:
			c.linger(buf)
			return
		}
		if full && len(buf) < maxReadBuffer {
			buf = make([]byte, 2*len(buf)) // the peer sends fast: read more at once
		}
	}
}

// linger runs after the core closed: the writer flushes the last frames
// (GOAWAY) and half-closes; meanwhile what the peer still sends is read and
// dropped, so that closing does not reset the connection and destroy the
// GOAWAY before the peer reads it. It ends within closeLinger.
func (c *conn) linger(buf []byte) {
	// flushLocked has set the deadline when it saw the core closed.
	for {
		if _, err := c.nc.Read(buf); err != nil {
			break
		}
	}
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
}

// writeLoop writes what flushLocked hands over, coalescing everything the
// core produced while the previous write was in progress.
func (c *conn) writeLoop() {
	for range c.wakeW {
		c.mu.Lock()
		buf := c.wbuf
		closeBy := c.closeBy
		c.mu.Unlock()
		var err error
		if len(buf) > 0 {
			if wt := c.srv.WriteTimeout; wt > 0 {
				d := time.Now().Add(wt)
				if !closeBy.IsZero() && closeBy.Before(d) {
					d = closeBy // do not extend the linger deadline
				}
				c.nc.SetWriteDeadline(d)
			}
			_, err = c.nc.Write(buf)
		}
		c.mu.Lock()
		c.writing = false
		c.wbuf = buf[:0]
		if err != nil && !c.core.Closed() {
			c.core.Abort(time.Now(), err)
		}
		if err != nil {
			c.closeLocked()
		}
		c.flushLocked()
		c.progress.Broadcast()
		exit := c.done
		c.mu.Unlock()
		if exit {
			return
		}
	}
}

// flushLocked hands output to the writer if it is idle, re-arms the timer,
// and dispatches events. mu is held.
func (c *conn) flushLocked() {
	for {
		if !c.writing && !c.done {
			c.wbuf = c.core.AppendOutgoing(c.wbuf[:0])
			if len(c.wbuf) > 0 {
				c.writing = true
				c.wakeW <- struct{}{}
			}
		}
		c.armTimer()
		dispatched := false
		now := time.Now()
		for ev, ok := c.core.NextEvent(); ok; ev, ok = c.core.NextEvent() {
			c.bridge.Dispatch(c.core, now, ev)
			dispatched = true
		}
		if !dispatched {
			break
		}
		// Dispatch may have issued commands: drain again.
	}
	if c.core.Closed() && !c.done && c.closeBy.IsZero() {
		// The core may close outside Receive (a timer: idle, write stall,
		// the end of a Shutdown; or a handler finishing the last stream),
		// while the reader is blocked in Read and the writer perhaps in
		// Write. Without a deadline, a peer that neither reads nor closes
		// held the socket, its goroutines and Shutdown forever. Give the
		// last frames and the peer's close closeLinger, as linger does.
		c.closeBy = time.Now().Add(closeLinger)
		c.nc.SetDeadline(c.closeBy)
	}
	if c.core.Closed() && !c.writing && !c.done && !c.halfClosed {
		// Everything is written: send FIN, and let the reader drain.
		c.halfClosed = true
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			c.closeLocked()
		}
	}
}

// closeLocked closes the socket once.
func (c *conn) closeLocked() {
	if c.done {
		return
	}
	c.done = true
	c.nc.Close()
	close(c.doneCh)
	close(c.wakeW)
	c.progress.Broadcast()
	if c.timer != nil {
		c.timer.Stop()
	}
}

// armTimer sets the connection's one timer to the core's deadline.
func (c *conn) armTimer() {
	d, ok := c.core.Deadline()
	if !ok || c.done {
		if c.timer != nil && !c.deadline.IsZero() {
			c.timer.Stop()
			c.deadline = time.Time{}
		}
		return
	}
	if d.Equal(c.deadline) {
		return
	}
	c.deadline = d
	wait := time.Until(d)
	if c.timer == nil {
		c.timer = time.AfterFunc(wait, c.onTimer)
	} else {
		c.timer.Reset(wait)
	}
}

func (c *conn) onTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.deadline = time.Time{}
	c.core.HandleTimeout(time.Now())
	c.flushLocked()
}

// shutdown starts a graceful shutdown of the connection.
func (c *conn) shutdown() {
	c.Run(func(core *h2sm.Conn, now time.Time) { core.Shutdown(now) })
}

// close closes the connection now.
func (c *conn) close() {
	c.mu.Lock()
	c.core.Close(time.Now())
	c.flushLocked()
	c.closeLocked()
	c.mu.Unlock()
}
