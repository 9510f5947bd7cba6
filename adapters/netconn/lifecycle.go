package netconn

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// addGoroutine adds one to wg for a connection about to be served; false
// means the server is closing. The check and the Add are done under mu
// because Close and Shutdown set closing under mu before they Wait: an Add
// done after a separate isClosing check could race with their Wait (the
// race detector reports it) or come after it returned, leaving a
// goroutine Close did not wait for.
func (s *Server) addGoroutine() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// track adds or removes a listener; false means the server is closing.
func (s *Server) track(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing {
			return false
		}
		if s.listeners == nil {
			s.listeners = make(map[*net.Listener]struct{})
		}
		s.listeners[l] = struct{}{}
	} else {
		delete(s.listeners, l)
	}
	return true
}

// trackConn adds or removes a connection; false means the server is closing.
func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing {
			return false
		}
		if s.conns == nil {
			s.conns = make(map[*conn]struct{})
		}
		s.conns[c] = struct{}{}
		if s.shutdown {
			go c.shutdown()
		}
	} else {
		delete(s.conns, c)
	}
	return true
}

// serveHTTP1 hands a connection to net/http's HTTP/1.1 server.
func (s *Server) serveHTTP1(nc net.Conn) {
	if s.DisableHTTP1 {
		nc.Close()
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.h1 == nil {
		s.h1ln = newChanListener()
		s.h1 = &http.Server{
			Handler:      s.Handler,
			IdleTimeout:  s.IdleTimeout,
			WriteTimeout: s.WriteTimeout,
			// Connections arrive here after ALPN chose http/1.1, or without
			// TLS: never let net/http start HTTP/2 on them itself.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
		h1, ln := s.h1, s.h1ln
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			h1.Serve(ln)
		}()
	}
	ln := s.h1ln
	s.mu.Unlock()
	ln.push(nc)
}

// Shutdown stops accepting connections, starts a graceful shutdown (two
// GOAWAYs) on every HTTP/2 connection and waits until every connection and
// handler has finished, or ctx ends; then it closes what remains and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, h1 := s.stopAccepting(true)
	for _, c := range conns {
		c.shutdown()
	}
	var h1err error
	if h1 != nil {
		h1err = h1.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return h1err
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes every listener and connection now, and waits for their
// goroutines and handlers to return.
func (s *Server) Close() error {
	conns, h1 := s.stopAccepting(false)
	for _, c := range conns {
		c.close()
	}
	var err error
	if h1 != nil {
		err = h1.Close()
	}
	s.wg.Wait()
	s.workers.Wait()
	return err
}

// stopAccepting closes the listeners and returns the open connections and
// the HTTP/1.1 server; with shutdown, connections accepted later start
// their graceful shutdown at once.
func (s *Server) stopAccepting(shutdown bool) ([]*conn, *http.Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if shutdown {
		s.shutdown = true
	}
	s.closeListenersLocked()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns, s.h1
}

func (s *Server) closeListenersLocked() {
	s.closing = true
	for l := range s.listeners {
		(*l).Close()
	}
	if s.h1ln != nil {
		s.h1ln.Close()
	}
}

// chanListener is a net.Listener fed by the server with HTTP/1.1 connections.
type chanListener struct {
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "h2sm" }
func (dummyAddr) String() string  { return "h2sm-http1" }
