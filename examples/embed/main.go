// Command embed serves cleartext HTTP/2 (h2c, prior knowledge) by driving
// the sans-IO core h2sm.Conn from its own loop: a net.Listener, one
// goroutine per connection, and no adapter package. docs/embedding.md walks
// through it.
//
//	go run ./examples/embed                        # localhost:8080, or -addr
//	curl --http2-prior-knowledge http://localhost:8080/
//	curl --http2-prior-knowledge --data-binary @README.md http://localhost:8080/
//
// Every request is answered 200 with its body echoed back, or with
// "hello, world" when it had none. Ctrl-C shuts down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/h2sm/h2sm/h2sm"
)

const (
	maxBody      = 1 << 20          // request bodies larger than this get 413
	writeTimeout = 10 * time.Second // a peer that does not read is dropped
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to serve h2c on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving h2c (prior knowledge) on http://%s", ln.Addr())
	s := newServer(ln)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process
		log.Print("shutting down")
		s.shutdown()
	}()
	s.serve()
}

// server accepts connections and remembers them, to wake them at shutdown.
type server struct {
	ln      net.Listener
	closing chan struct{} // closed when shutdown starts
	mu      sync.Mutex
	conns   map[net.Conn]bool
	wg      sync.WaitGroup // one per connection goroutine
}

func newServer(ln net.Listener) *server {
	return &server{ln: ln, closing: make(chan struct{}), conns: make(map[net.Conn]bool)}
}

// serve accepts until the listener is closed, then waits for every connection.
func (s *server) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			break
		}
		s.mu.Lock()
		s.conns[nc] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			serveConn(nc, s.closing)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
	}
	s.wg.Wait()
}

// shutdown stops accepting and asks every connection to shut down. A
// connection goroutine is usually blocked in Read: a read deadline in the
// past wakes it, and it then sees closing.
func (s *server) shutdown() {
	close(s.closing)
	s.ln.Close()
	s.mu.Lock()
	for nc := range s.conns {
		nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
}

// conn is one connection. Only its own goroutine touches it: the core is
// not safe for concurrent use, and needs no lock here.
type conn struct {
	nc      net.Conn
	core    *h2sm.Conn
	out     []byte                    // reused output buffer
	streams map[h2sm.StreamID]*stream // requests being read or answered
}

// stream is one request: its body so far, then the response body not yet
// accepted by the core.
type stream struct {
	body []byte
}

// serveConn drives one connection until the core closes or the socket fails.
func serveConn(nc net.Conn, closing <-chan struct{}) {
	defer nc.Close()
	// The zero Config is valid: RFC defaults and the core's limits. With
	// ManualFlowControl the client gets window back only through Consumed.
	core, err := h2sm.NewConn(time.Now(), h2sm.Config{})
	if err != nil {
		log.Print(err)
		return
	}
	c := &conn{nc: nc, core: core, streams: make(map[h2sm.StreamID]*stream)}
	buf := make([]byte, 32<<10)
	shuttingDown := false
	for {
		c.drain() // our SETTINGS at first; after that, whatever the last input produced
		if core.Closed() {
			break
		}
		// The core's one timer becomes the read deadline: a timeout error
		// from Read is the timer firing. No deadline: block until input.
		var d time.Time // the zero time: no deadline
		if t, ok := core.Deadline(); ok {
			d = t
		}
		nc.SetReadDeadline(d)
		// Look at closing only after setting the deadline, so a shutdown
		// that starts now has its wake-up deadline set after ours.
		select {
		case <-closing:
			if !shuttingDown {
				shuttingDown = true
				core.Shutdown(time.Now()) // GOAWAY + PING; the second GOAWAY follows
				continue
			}
		default:
		}
		n, err := nc.Read(buf)
		// Receive may take less than offered (backpressure): drain, offer the rest.
		for p := buf[:n]; len(p) > 0 && !core.Closed(); {
			k := core.Receive(time.Now(), p)
			p = p[k:]
			c.drain()
		}
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			core.HandleTimeout(time.Now()) // harmless if it was a shutdown wake-up
		default:
			core.Abort(time.Now(), err) // EOF or a reset: closed, EventConnClosed follows
		}
	}
	// The last frames (a GOAWAY) are written. Closing with unread input
	// would send a TCP reset that can destroy them before the client reads
	// them: half-close and read until the client closes, for a second at most.
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseWrite()
		nc.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, nc)
	}
}

// drain takes the core's outputs after an input or a command: the bytes to
// send, then the events. Handling an event may issue commands, whose
// output is taken on the next turn. The deadline is read by the caller,
// once nothing else can change it.
func (c *conn) drain() {
	for {
		c.out = c.core.AppendOutgoing(c.out[:0])
		if len(c.out) > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := c.nc.Write(c.out); err != nil {
				c.core.Abort(time.Now(), err)
			}
			continue // the core frames body as it is pulled: pull again
		}
		ev, ok := c.core.NextEvent()
		if !ok {
			return
		}
		c.handle(ev)
	}
}

// handle reacts to one event. ev's slices and strings are valid only until
// the next call on the core: copy what must be kept.
func (c *conn) handle(ev h2sm.Event) {
	now := time.Now()
	st := c.streams[ev.Stream]
	switch ev.Kind {
	case h2sm.EventRequest: // a new request: method, path, header fields
		st = &stream{}
		c.streams[ev.Stream] = st
		if ev.EndStream { // no body
			c.respond(now, ev.Stream, st)
		}
	case h2sm.EventData: // a piece of the request body
		if st == nil {
			return
		}
		if len(st.body)+len(ev.Data) > maxBody {
			c.core.WriteHeaders(now, ev.Stream, []h2sm.HeaderField{{Name: ":status", Value: "413"}}, true)
			c.core.ResetStream(now, ev.Stream, h2sm.ErrCodeNo) // RFC 9113 §8.1: stop sending
			delete(c.streams, ev.Stream)
			return
		}
		st.body = append(st.body, ev.Data...)
		if c.core.Config().ManualFlowControl {
			c.core.Consumed(now, ev.Stream, len(ev.Data)) // we took it: the client may send more
		}
		if ev.EndStream {
			c.respond(now, ev.Stream, st)
		}
	case h2sm.EventTrailers: // trailer fields end the request
		if st != nil {
			c.respond(now, ev.Stream, st)
		}
	case h2sm.EventStreamWritable: // room again for a body WriteData did not take whole
		if st != nil {
			c.writeBody(now, ev.Stream, st)
		}
	case h2sm.EventStreamReset: // the client cancelled, or sent something invalid
		delete(c.streams, ev.Stream)
	case h2sm.EventConnClosed: // always the last event
		if ev.Err != nil && !errors.Is(ev.Err, io.EOF) {
			log.Printf("%v: %v", c.nc.RemoteAddr(), ev.Err)
		}
	}
	// EventGoAwayReceived and kinds added later need nothing here.
}

// respond sends the response headers, then the body: the request's, or a greeting.
func (c *conn) respond(now time.Time, id h2sm.StreamID, st *stream) {
	if len(st.body) == 0 {
		st.body = []byte("hello, world\n")
	}
	c.core.WriteHeaders(now, id, []h2sm.HeaderField{
		{Name: ":status", Value: "200"},
		{Name: "content-type", Value: "text/plain; charset=utf-8"},
		{Name: "content-length", Value: strconv.Itoa(len(st.body))},
	}, false)
	c.writeBody(now, id, st)
}

// writeBody offers the rest of the body. WriteData takes what fits the
// stream's send buffer; EventStreamWritable asks for the rest later.
func (c *conn) writeBody(now time.Time, id h2sm.StreamID, st *stream) {
	n, err := c.core.WriteData(now, id, st.body, true) // true: END_STREAM after the last byte
	st.body = st.body[n:]
	if err != nil || len(st.body) == 0 {
		delete(c.streams, id) // done, or the stream is gone
	}
}
