package netconn

import (
	"context"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/h2sm/h2sm/adapters/internal/bridge"
	"github.com/h2sm/h2sm/h2sm"
)

// closeLinger bounds the wait for the peer's close after our last frames
// were written and we half-closed; flushTimeout bounds the writing of those
// last frames once the core closed.
const (
	closeLinger  = time.Second
	flushTimeout = 5 * time.Second
)

// conn drives one h2sm.Conn over one net.Conn. The core is guarded by mu:
// the reader goroutine, the writer goroutine (started when there is output,
// gone when there is none), the timer and the handler goroutines take
// turns; nobody holds mu while doing socket I/O.
type conn struct {
	srv    *Server
	nc     net.Conn
	raw    syscall.RawConn // nc's descriptor, to wait for input without a buffer; nil for TLS
	bridge *bridge.Conn
	pool   h2sm.BufferPool // the core's, where written output buffers go back

	mu         sync.Mutex
	core       *h2sm.Conn
	writing    bool           // a writer goroutine runs
	writers    sync.WaitGroup // the writer goroutines
	progress   *sync.Cond     // signalled when the writer took output (reader backpressure)
	timer      *time.Timer
	deadline   time.Time
	done       bool // the socket is closed
	halfClosed bool // the core closed and its output is written
	closing    bool // the core closed: the socket's deadlines are set
	doneCh     chan struct{}
}

// newConn creates the core for nc. It does not start any goroutine.
func (s *Server) newConn(ctx context.Context, nc net.Conn, cfg bridge.Config, start time.Time) (*conn, error) {
	core, err := h2sm.NewConn(start, s.coreConfig())
	if err != nil {
		return nil, err
	}
	c := &conn{srv: s, nc: nc, core: core, pool: core.Config().Buffers, doneCh: make(chan struct{})}
	// Only sockets whose every byte is in the kernel: a wrapper that embeds
	// one but buffers in user space (a PROXY-protocol reader) would hold
	// bytes a peek cannot see.
	switch sc := nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		if raw, err := sc.(syscall.Conn).SyscallConn(); err == nil && canPeek {
			c.raw = raw
		}
	}
	c.progress = sync.NewCond(&c.mu)
	cfg.BaseContext = ctx
	c.bridge = bridge.NewConn(c, cfg)
	return c, nil
}

// Run implements bridge.Driver.
func (c *conn) Run(f func(core *h2sm.Conn, now time.Time)) {
	c.mu.Lock()
	now := time.Now()
	f(c.core, now)
	c.flushLocked(now)
	c.mu.Unlock()
}

// serve runs the connection until it is closed: the calling goroutine reads;
// a writer goroutine runs while there is output. head, if any, is input
// read before (the sniffed start of a cleartext connection).
func (c *conn) serve(head []byte) {
	c.mu.Lock()
	c.flushLocked(time.Now()) // our SETTINGS
	c.mu.Unlock()
	c.readLoop(head)
	c.writers.Wait()
	c.bridge.Wait()
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}

// Read buffers come from a pool and are held only while bytes are read and
// fed to the core: an idle connection waits for input without one (see
// waitInput). Over TLS, whose records need a Read, each connection keeps
// one of tlsReadBuffer bytes.
const (
	readBuffer    = 32 << 10
	tlsReadBuffer = 16 << 10
)

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBuffer); return &b }}

// readLoop feeds the core head, then what it reads, until the socket
// fails or the core closes.
func (c *conn) readLoop(head []byte) {
	var own []byte // TLS only
	if c.raw == nil {
		own = make([]byte, tlsReadBuffer)
	}
	for {
		var buf []byte
		var pooled *[]byte
		var n int
		var err error
		switch {
		case head != nil:
			buf, n, head = head, len(head), nil
		case own != nil:
			buf = own
			n, err = c.nc.Read(buf)
		default:
			if err := c.waitInput(); err != nil {
				c.fail(err)
				return
			}
			pooled = readBuffers.Get().(*[]byte)
			buf = *pooled
			n, err = c.nc.Read(buf)
		}
		c.mu.Lock()
		p := buf[:n]
		for len(p) > 0 && !c.core.Closed() && !c.done {
			now := time.Now()
			k := c.core.Receive(now, p)
			p = p[k:]
			c.flushLocked(now)
			if k == 0 && len(p) > 0 && !c.core.Closed() && !c.done {
				c.progress.Wait() // backpressure: wait for the writer
			}
		}
		if err != nil && !c.core.Closed() {
			c.core.Abort(time.Now(), err)
			c.flushLocked(time.Now())
		}
		closed, done := c.core.Closed(), c.done
		c.mu.Unlock()
		switch {
		case done || err != nil:
			c.mu.Lock()
			c.closeLocked()
			c.mu.Unlock()
		case closed:
			c.linger(buf)
		}
		if pooled != nil {
			readBuffers.Put(pooled) // after linger, which reads into buf
		}
		if done || err != nil || closed {
			return
		}
	}
}

// waitInput blocks until the socket is readable (or failed), without a
// buffer: a one-byte peek tells whether bytes are waiting, since the
// poller's edge for them may have been consumed by an earlier short read.
// A peek error or EOF shows in the Read that follows.
func (c *conn) waitInput() error { return c.raw.Read(peekReadable) }

// fail closes the connection after a failed wait for input.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if !c.core.Closed() {
		c.core.Abort(time.Now(), err)
		c.flushLocked(time.Now())
	}
	c.closeLocked()
	c.mu.Unlock()
}

// linger runs after the core closed: the writer flushes the last frames
// (GOAWAY) and half-closes; meanwhile what the peer still sends is read and
// dropped, so that closing does not reset the connection and destroy the
// GOAWAY before the peer reads it. It ends within flushTimeout+closeLinger.
func (c *conn) linger(buf []byte) {
	// flushLocked has set the deadlines when it saw the core closed.
	if len(buf) < 512 {
		buf = make([]byte, 512) // buf was the sniffed head
	}
	for {
		if _, err := c.nc.Read(buf); err != nil {
			break
		}
	}
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
}

// writeLoop writes the core's output until there is none; it runs on its
// own goroutine, started by flushLocked. Before each write it yields once,
// so that handlers made runnable by the last input add their responses to
// the same write (with GOMAXPROCS=1 that halves the writes under load).
func (c *conn) writeLoop() {
	defer c.writers.Done()
	for idle := 0; ; {
		runtime.Gosched()
		c.mu.Lock()
		if c.done {
			c.writing = false
			c.flushLocked(time.Now()) // events still queued (ConnClosed)
			c.mu.Unlock()
			return
		}
		// The core hands its output buffer over: no copy. It goes back to
		// the pool (the core's Config.Buffers) once written.
		now := time.Now()
		buf := c.core.TakeOutgoing()
		if len(buf) > 0 {
			// Framing queued body may have ended the last stream and closed
			// the core, or made streams writable: dispatch, re-arm, and set
			// the closing deadlines (writing stays true: no second writer).
			c.flushLocked(now)
		}
		if len(buf) == 0 {
			if idle++; idle < 2 {
				c.mu.Unlock()
				continue // yield once more before leaving
			}
			c.writing = false
			c.flushLocked(time.Now()) // half-close if the core closed
			c.mu.Unlock()
			return
		}
		idle = 0
		if wt := c.srv.WriteTimeout; wt > 0 && !c.closing {
			// Under mu, so that it cannot undo the closing deadline.
			c.nc.SetWriteDeadline(now.Add(wt))
		}
		c.mu.Unlock()
		_, err := c.nc.Write(buf)
		if c.pool != nil {
			c.pool.Put(buf)
		}
		c.mu.Lock()
		if err != nil {
			if !c.core.Closed() {
				c.core.Abort(time.Now(), err)
			}
			c.writing = false
			c.closeLocked()
			c.flushLocked(time.Now())
			c.progress.Broadcast()
			c.mu.Unlock()
			return
		}
		c.progress.Broadcast()
		c.mu.Unlock()
	}
}

// flushLocked starts the writer when there is output and none runs,
// re-arms the timer, and dispatches events; now is the time of the input
// or command just given to the core. mu is held.
func (c *conn) flushLocked(now time.Time) {
	for {
		if !c.writing && !c.done && len(c.core.Outgoing()) > 0 {
			c.writing = true
			c.writers.Add(1)
			go c.writeLoop()
		}
		c.armTimer(now)
		dispatched := false
		for ev, ok := c.core.NextEvent(); ok; ev, ok = c.core.NextEvent() {
			c.bridge.Dispatch(c.core, now, ev)
			dispatched = true
		}
		if !dispatched {
			break
		}
		// Dispatch may have issued commands: drain again.
	}
	if c.core.Closed() && !c.done && !c.closing {
		// The core may close outside Receive (a timer: idle, write stall,
		// the end of a Shutdown; or a handler finishing the last stream),
		// while the reader is blocked in Read and the writer perhaps in
		// Write. Without a deadline, a peer that neither reads nor closes
		// held the socket, its goroutines and Shutdown forever. The last
		// frames get flushTimeout, the peer's close closeLinger after them.
		c.closing = true
		c.nc.SetDeadline(time.Now().Add(flushTimeout))
	}
	if c.core.Closed() && !c.writing && !c.done && !c.halfClosed {
		// Everything is written: send FIN, and let the reader drain.
		c.halfClosed = true
		c.nc.SetReadDeadline(time.Now().Add(closeLinger))
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
	c.progress.Broadcast()
	if c.timer != nil {
		c.timer.Stop()
	}
}

// armTimer sets the connection's one timer to the core's deadline.
func (c *conn) armTimer(now time.Time) {
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
	wait := d.Sub(now)
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
	now := time.Now()
	c.core.HandleTimeout(now)
	c.flushLocked(now)
}

// shutdown starts a graceful shutdown of the connection.
func (c *conn) shutdown() {
	c.Run(func(core *h2sm.Conn, now time.Time) { core.Shutdown(now) })
}

// close closes the connection now.
func (c *conn) close() {
	c.mu.Lock()
	c.core.Close(time.Now())
	c.flushLocked(time.Now())
	c.closeLocked()
	c.mu.Unlock()
}
