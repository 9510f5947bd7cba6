package loop

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/h2sm/h2sm/adapters/internal/bridge"
	"github.com/h2sm/h2sm/h2sm"
)

// maxWriteChunk is the most output handed to gnet in one write.
const maxWriteChunk = 256 << 10

// maxInbound bounds the received bytes gnet may hold for a connection
// whose core stopped consuming (backpressure). gnet cannot stop reading a
// socket, so a peer that keeps sending past it is disconnected.
const maxInbound = 1 << 20

// closeLinger bounds the time spent waiting for the peer's FIN after the
// core closed and its last frames were written.
const closeLinger = time.Second

// conn drives one h2sm.Conn on one gnet connection. Everything except mu
// and what it guards belongs to the event loop's goroutine.
type conn struct {
	srv  *Server
	ls   *loopState
	gc   gnet.Conn
	core *h2sm.Conn

	bridge *bridge.Conn // http.Handler mode, created at the first request
	async  *asyncConn   // Handler mode, created at the first request

	deadline  int64 // Unix nanoseconds, armed in ls.timers when non-zero
	heapIdx   int
	blocked   bool  // output waits for gnet's outbound buffer (in ls.blocked)
	lingerBy  int64 // the core closed and we half-closed: close by then (Unix ns)
	prev      *conn // the server's list of connections (Server.mu)
	next      *conn
	gone      bool  // OnClose ran
	depth     int   // re-entrancy of the loop's entry points
	closeSock bool  // close the socket when the outermost entry returns
	closeErr  error // OnClose's error, kept until the detach
	detachDue bool  // OnClose ran inside an entry point: detach at its end

	mu       sync.Mutex
	tasks    []*task // work from other goroutines, run on the loop
	wakeSent bool    // a Wake is on its way
	detached bool    // the loop is done with the core: posters run the tasks
	draining bool    // after detach: a goroutine is running the tasks
}

// task is a function another goroutine runs on the loop.
type task struct {
	f    func(c *h2sm.Conn, now time.Time)
	done chan struct{} // nil: nobody waits
}

var taskPool = sync.Pool{New: func() any { return &task{done: make(chan struct{}, 1)} }}

// Run implements bridge.Driver: f runs on the loop, and Run waits for it.
func (c *conn) Run(f func(core *h2sm.Conn, now time.Time)) {
	t := taskPool.Get().(*task)
	t.f = f
	if c.post(t) {
		<-t.done
	}
	t.f = nil
	taskPool.Put(t)
}

// post queues t for the loop; when the loop is done with the core, the
// posting goroutine runs the queued tasks itself (see runDetached) unless
// another does. It reports whether the caller must receive from t.done:
// whenever t has a done channel, since t.done is signalled by whoever
// runs t, even this goroutine.
func (c *conn) post(t *task) bool {
	c.mu.Lock()
	if c.detached {
		c.tasks = append(c.tasks, t)
		if c.draining {
			// Another goroutine, or this one from inside a task (a Stream.Do
			// in a Do callback), runs the tasks: it will run t too.
			c.mu.Unlock()
			return t.done != nil
		}
		c.draining = true
		c.mu.Unlock()
		c.runDetached() // runs t too, and signals t.done (buffered)
		return t.done != nil
	}
	c.tasks = append(c.tasks, t)
	wake := !c.wakeSent
	c.wakeSent = true
	c.mu.Unlock()
	if wake {
		// Wake fires OnTraffic on the loop, which runs the tasks; if the
		// connection closes first, OnClose runs them.
		c.gc.Wake(nil)
	}
	return true
}

// runDetached runs the queued tasks after the loop let go of the core, one
// goroutine at a time (c.draining): not under mu, so that a task may post
// another.
func (c *conn) runDetached() {
	c.mu.Lock()
	for len(c.tasks) > 0 {
		t := c.tasks[0]
		c.tasks[0] = nil
		c.tasks = c.tasks[1:]
		c.mu.Unlock()
		now := time.Now()
		t.f(c.core, now)
		c.dispatchAll(now)
		if t.done != nil {
			t.done <- struct{}{}
		}
		c.mu.Lock()
	}
	c.tasks = nil
	c.draining = false
	c.mu.Unlock()
}

// do queues f for the loop without waiting (the non-blocking handler API).
func (c *conn) do(f func(core *h2sm.Conn, now time.Time)) {
	c.post(&task{f: f})
}

// runTasks runs the queued tasks on the loop.
func (c *conn) runTasks(now time.Time) {
	c.mu.Lock()
	tasks := c.tasks
	c.tasks = nil
	c.wakeSent = false
	c.mu.Unlock()
	for _, t := range tasks {
		t.f(c.core, now)
		c.dispatchAll(now)
		if t.done != nil {
			t.done <- struct{}{}
		}
	}
}

// enter and leave bracket every entry point from gnet, so that a socket
// closed in the middle (gnet closes on a write error, calling OnClose
// re-entrantly) is finished only by the outermost one: the code between
// still uses the core, so handler goroutines must not take it over (detach)
// before that code returned.
func (c *conn) enter() { c.depth++ }

func (c *conn) leave() {
	c.depth--
	if c.depth != 0 {
		return
	}
	if c.closeSock && !c.gone {
		c.closeSock = false
		c.ls.el.Close(c.gc) // calls OnClose, which detaches at once
	}
	if c.detachDue {
		c.detachDue = false
		c.detach()
	}
}

// onTraffic runs for received bytes and for Wake.
func (c *conn) onTraffic() {
	if c.gone {
		// A Wake that gnet delivers after OnClose: the loop is done with the
		// core, which handler goroutines now use under mu (detached).
		return
	}
	c.enter()
	defer c.leave()
	now := time.Now()
	c.runTasks(now)
	c.receive(now)
	c.flush(now)
}

// receive feeds buffered input to the core, honouring partial consumption.
func (c *conn) receive(now time.Time) {
	for !c.gone && !c.closeSock {
		buf, _ := c.gc.Peek(-1)
		if len(buf) == 0 {
			return
		}
		if c.core.Closed() {
			c.gc.Discard(len(buf)) // lingering: drop what the peer still sends
			return
		}
		n := c.core.Receive(now, buf)
		c.gc.Discard(n)
		c.flush(now)
		if n == 0 {
			if c.gc.InboundBuffered() > maxInbound && !c.core.Closed() {
				c.core.GoAway(now, h2sm.ErrCodeEnhanceYourCalm, "peer sends while not reading")
				c.flush(now)
			}
			// Backpressure: the rest stays in gnet's buffer until the output
			// drains (retry).
			if c.blocked {
				return
			}
			if n = c.core.Receive(now, buf); n == 0 {
				return
			}
			c.gc.Discard(n)
			c.flush(now)
		}
	}
}

// flush drains the core's outputs in the documented order: output, deadline,
// events; again while events led to commands.
func (c *conn) flush(now time.Time) {
	for {
		c.writeOut()
		c.armTimer()
		if !c.dispatchAll(now) {
			break
		}
	}
	if c.core.Closed() && !c.blocked && !c.gone && c.lingerBy == 0 && !c.closeSock {
		// Everything is written: send FIN, and read what the peer still
		// sends until it closes, so that the GOAWAY is not destroyed by a
		// reset.
		if err := unix.Shutdown(c.gc.Fd(), unix.SHUT_WR); err != nil {
			c.closeSock = true
			return
		}
		c.lingerBy = now.Add(closeLinger).UnixNano()
		c.armTimer()
	}
}

// writeOut hands the core's output to gnet while the socket takes it. The
// core's view is written directly; gnet copies only what the socket did not
// take, and no more is pulled until that drained.
func (c *conn) writeOut() {
	for !c.gone && !c.closeSock {
		if c.gc.OutboundBuffered() > 0 {
			c.ls.setBlocked(c, len(c.core.Outgoing()) > 0 || c.core.Closed())
			return
		}
		view := c.core.Outgoing()
		if len(view) == 0 {
			c.ls.setBlocked(c, false)
			return
		}
		view = view[:min(len(view), maxWriteChunk)]
		if _, err := c.gc.Write(view); err != nil {
			c.core.Abort(time.Now(), err)
			c.closeSock = true
			return
		}
		c.core.Advance(len(view))
	}
}

// dispatchAll hands every pending event to the application and reports
// whether there was any.
func (c *conn) dispatchAll(now time.Time) bool {
	any := false
	for ev, ok := c.core.NextEvent(); ok; ev, ok = c.core.NextEvent() {
		any = true
		c.dispatch(now, ev)
	}
	return any
}

func (c *conn) dispatch(now time.Time, ev h2sm.Event) {
	if c.srv.AsyncHandler != nil {
		if c.async == nil {
			if ev.Kind != h2sm.EventRequest {
				return
			}
			c.async = &asyncConn{c: c, streams: make(map[h2sm.StreamID]*Stream)}
		}
		c.async.dispatch(now, ev)
		return
	}
	if c.bridge == nil {
		if ev.Kind != h2sm.EventRequest {
			if ev.Kind == h2sm.EventData && len(ev.Data) > 0 {
				c.core.Consumed(now, ev.Stream, len(ev.Data))
			}
			return
		}
		c.bridge = bridge.NewConn(c, c.srv.bridgeConfig(c))
	}
	c.bridge.Dispatch(c.core, now, ev)
}

// armTimer puts the core's deadline (or the linger deadline) in the loop's
// timer heap.
func (c *conn) armTimer() {
	if c.gone {
		return
	}
	d, ok := c.core.Deadline()
	if !ok {
		d = time.Time{}
	}
	if c.lingerBy != 0 {
		d = time.Unix(0, c.lingerBy)
	}
	c.ls.setTimer(c, d)
}

// onTimer runs on the loop when c's deadline passed.
func (c *conn) onTimer(now time.Time) {
	c.enter()
	defer c.leave()
	if c.lingerBy != 0 && now.UnixNano() >= c.lingerBy {
		c.closeSock = true
		return
	}
	c.core.HandleTimeout(now)
	c.flush(now)
}

// retry runs on the loop for a connection whose output was blocked.
func (c *conn) retry() {
	c.enter()
	defer c.leave()
	now := time.Now()
	c.flush(now)
	if !c.blocked && c.gc.InboundBuffered() > 0 {
		c.receive(now)
	}
}

// onClose runs on the loop when gnet closed the socket; inside one of our
// entry points (a failed write) the detach waits until that entry returns.
func (c *conn) onClose(err error) {
	c.gone = true
	c.closeErr = err
	c.ls.setTimer(c, time.Time{})
	c.ls.setBlocked(c, false)
	if c.depth > 0 {
		c.detachDue = true
		return
	}
	c.detach()
}

// detach aborts the core and hands it over to the handler goroutines, which
// from now on run their tasks inline under mu.
func (c *conn) detach() {
	now := time.Now()
	if !c.core.Closed() {
		err := c.closeErr
		if err == nil {
			err = io.EOF
		}
		c.core.Abort(now, err)
	}
	c.dispatchAll(now) // still the loop's: handler goroutines only queue tasks
	c.mu.Lock()
	c.detached = true
	c.draining = true // the tasks queued so far run here
	c.mu.Unlock()
	c.runDetached()
	c.srv.forget(c)
}

// shutdown starts a graceful shutdown (two GOAWAYs) from any goroutine.
func (c *conn) shutdown() {
	c.do(func(core *h2sm.Conn, now time.Time) { core.Shutdown(now) })
}

var errServerClosed = errors.New("loop: server closed")
