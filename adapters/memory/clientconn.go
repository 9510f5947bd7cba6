package memory

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// clientConn is the client's end of an in-memory connection to a
// serverConn: the net.Conn the HTTP/2 client reads and writes.
//
// Writing hands the bytes to the server's core at once, in the writer's
// goroutine, so that when Write returns the server has processed them
// (answered a SETTINGS, reset a stream, started a handler). Nothing is
// ever refused: the core consumes all the input it is given, since its
// output and events are drained after every step. Reading takes what the
// server produced; that buffer has no limit of its own, because the
// client's flow-control windows bound the DATA in it.
type clientConn struct {
	sc            *serverConn
	local, remote addr

	mu       sync.Mutex
	cond     sync.Cond     // buf grew, eof or closed set, or a read deadline passed
	buf      []byte        // server output not yet read, from head
	head     int           //
	eof      bool          // the server closed its side: Read returns io.EOF after buf
	closed   bool          // Close was called (by the client, or by Server.Close)
	rdl      time.Time     // read deadline
	wdl      time.Time     // write deadline
	rtimer   *time.Timer   // wakes Read at rdl
	closedCh chan struct{} // closed by Close
}

func newClientConn(sc *serverConn, local, remote addr) *clientConn {
	c := &clientConn{sc: sc, local: local, remote: remote, closedCh: make(chan struct{})}
	c.cond.L = &c.mu
	return c
}

// Read implements net.Conn. It blocks until the server has sent something,
// closed its side (io.EOF), the conn is closed (net.ErrClosed) or the read
// deadline passes (os.ErrDeadlineExceeded).
func (c *clientConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case c.head < len(c.buf):
			if len(p) == 0 {
				return 0, nil
			}
			n := copy(p, c.buf[c.head:])
			c.head += n
			if c.head == len(c.buf) {
				c.buf, c.head = c.buf[:0], 0
			}
			return n, nil
		case c.eof:
			return 0, io.EOF
		case expired(c.rdl):
			return 0, os.ErrDeadlineExceeded
		}
		c.cond.Wait()
	}
}

// Write implements net.Conn: the server's core consumes p before Write
// returns. Writes never block on the reader.
func (c *clientConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	closed, dl := c.closed, c.wdl
	c.mu.Unlock()
	switch {
	case closed:
		return 0, net.ErrClosed
	case expired(dl):
		return 0, os.ErrDeadlineExceeded
	}
	c.sc.receive(p)
	return len(p), nil
}

// Close implements net.Conn. The server sees the connection end, as a
// server sees a peer's FIN or reset: its core is aborted if still open.
func (c *clientConn) Close() error {
	if !c.shut() {
		return nil
	}
	c.sc.clientClosed()
	return nil
}

// shut marks the conn closed and wakes readers; false if it already was.
func (c *clientConn) shut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	c.buf, c.head = nil, 0
	if c.rtimer != nil {
		c.rtimer.Stop()
	}
	close(c.closedCh)
	c.cond.Broadcast()
	return true
}

// LocalAddr implements net.Conn.
func (c *clientConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *clientConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *clientConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn. Deadlines are in real time, as for
// any net.Conn, whatever clock the server uses.
func (c *clientConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl = t
	if c.rtimer != nil {
		c.rtimer.Stop()
		c.rtimer = nil
	}
	if !t.IsZero() && !c.closed {
		c.rtimer = time.AfterFunc(time.Until(t), func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
	}
	c.cond.Broadcast()
	return nil
}

// SetWriteDeadline implements net.Conn. Writes never block, so a write
// deadline only makes writes fail once it has passed.
func (c *clientConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl = t
	return nil
}

// deliver appends the server's output to the read buffer with appendOut (the
// core's AppendOutgoing), or discards it once the conn is closed. It runs
// under the serverConn's lock.
func (c *clientConn) deliver(appendOut func([]byte) []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		appendOut(nil)
		return
	}
	before := len(c.buf)
	if c.head > 0 && c.head > len(c.buf)/2 {
		// Slide the unread bytes down rather than grow the buffer.
		c.buf = c.buf[:copy(c.buf, c.buf[c.head:])]
		c.head, before = 0, len(c.buf)
	}
	c.buf = appendOut(c.buf)
	if len(c.buf) > before {
		c.cond.Broadcast()
	}
}

// closeWrite makes Read return io.EOF once the buffered output is read: the
// server closed its side.
func (c *clientConn) closeWrite() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eof = true
	c.cond.Broadcast()
}

// unread is the number of bytes the server sent that the client has not read.
func (c *clientConn) unread() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf) - c.head
}

func expired(dl time.Time) bool { return !dl.IsZero() && !time.Now().Before(dl) }

// addr is the address of one end of an in-memory connection.
type addr string

// Network implements net.Addr.
func (a addr) Network() string { return "memory" }

// String implements net.Addr.
func (a addr) String() string { return string(a) }
