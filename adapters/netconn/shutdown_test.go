package netconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestShutdownWaitsForHandlers shuts down with slow handlers in flight:
// new connections are refused, Shutdown waits, and the requests complete.
func TestShutdownWaitsForHandlers(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			const n = 3
			started := make(chan struct{}, n)
			release := make(chan struct{})
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					started <- struct{}{}
					<-release
				}
				fmt.Fprintf(w, "done %s", r.URL.RawQuery)
			}))
			c := ts.client(t)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := c.Get(ts.url(fmt.Sprintf("/slow?%d", i)))
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if want := fmt.Sprintf("done %d", i); err != nil || string(b) != want {
						errs <- fmt.Errorf("request %d: %q, %v; want %q", i, b, err, want)
					}
				}()
			}
			for range n {
				recv(t, started, "a handler to start")
			}
			shutdown := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), safety)
				defer cancel()
				shutdown <- ts.srv.Shutdown(ctx)
			}()
			waitFor(t, "Shutdown to close the listener", ts.srv.isClosing)
			if nc, err := net.Dial("tcp", ts.addr); err == nil {
				nc.Close()
				t.Errorf("a new connection was accepted during Shutdown")
			}
			select {
			case err := <-shutdown:
				t.Fatalf("Shutdown returned %v with handlers in flight", err)
			default:
			}
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if err := recv(t, shutdown, "Shutdown to return"); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := recv(t, ts.serveDone, "Serve to return"); !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
			ts.serveDone <- http.ErrServerClosed // for the cleanup
			checkNoServerGoroutines(t)
		})
	}
}

// TestShutdownExpiredContext shuts down with a context that has already
// ended: Shutdown returns its error and closes everything, ending the
// handlers' contexts.
func TestShutdownExpiredContext(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			started := make(chan struct{}, 1)
			ended := make(chan error, 1)
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				started <- struct{}{}
				<-r.Context().Done()
				ended <- r.Context().Err()
			}))
			resp, err := ts.client(t).Get(ts.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			recv(t, started, "the handler to start")
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
			}
			if err := recv(t, ended, "the handler's context to end"); err == nil {
				t.Errorf("handler context not done")
			}
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Errorf("response ended cleanly after Shutdown gave up")
			}
			checkNoServerGoroutines(t)
		})
	}
}

// TestShutdownSilentClient shuts down a connection whose client reads but
// never answers nor closes: the server gives up on it within its linger
// time, long before the Shutdown context ends.
func TestShutdownSilentClient(t *testing.T) {
	ts := startServer(t, modeH2C, http1Handler, func(s *Server) {
		s.Config.ShutdownPingTimeout = 50 * time.Millisecond
	})
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := newRawConn(t, nc)
	// Acknowledge the server's SETTINGS, then only read: the PING of the
	// graceful shutdown goes unanswered and the socket stays open.
	if f, err := rc.fr.ReadFrame(); err != nil {
		t.Fatal(err)
	} else if _, ok := f.(*http2.SettingsFrame); !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	if err := rc.fr.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, nc)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v; the connection of a silent client was never closed", err)
	}
}

// TestCloseInFlight closes the server with handlers in flight: their
// contexts end and Close returns once they have.
func TestCloseInFlight(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			started := make(chan struct{}, 1)
			ts := startServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				started <- struct{}{}
				<-r.Context().Done()
			}))
			resp, err := ts.client(t).Get(ts.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			recv(t, started, "the handler to start")
			if err := ts.srv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			checkNoServerGoroutines(t)
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Errorf("response ended cleanly after Close")
			}
		})
	}
}

// TestCloseWhileAccepting closes the server while clients connect as fast
// as they can, and while ServeConn starts: under -race, this caught Serve
// and ServeConn adding to the server's WaitGroup concurrently with Close's
// Wait.
func TestCloseWhileAccepting(t *testing.T) {
	for range 50 {
		s := &Server{H2C: true}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						return // the listener is closed
					}
					c.Close()
				}
			}()
		}
		a, b := net.Pipe()
		connServed := make(chan error, 1)
		go func() { connServed <- s.ServeConn(context.Background(), a) }()
		s.Close()
		b.Close()
		if err := recv(t, served, "Serve to return"); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		recv(t, connServed, "ServeConn to return")
		wg.Wait()
	}
	checkNoServerGoroutines(t)
}
