package memory_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
)

// On a virtual clock the core's timers fire inside Clock.Advance, so a test
// of a three-minute timeout takes no time and no sleep, and the server's
// state can be checked as soon as Advance returns.

func TestServerClockIdleTimeout(t *testing.T) {
	clock := memory.NewClock()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}, memory.WithClock(clock))
	idle := srv.Config().IdleTimeout // the default, 3 minutes

	get(t, srv, "/")
	clock.Advance(idle - time.Nanosecond)
	if st := srv.Stats(); st[0].Phase != h2sm.PhaseOpen {
		t.Fatalf("phase %v just before the idle timeout, want Open", st[0].Phase)
	}
	clock.Advance(time.Nanosecond)
	st := srv.Stats()
	if st[0].Phase != h2sm.PhaseClosed || st[0].Core.FramesOut[h2sm.FrameGoAway] != 1 {
		t.Fatalf("at the idle timeout: phase %v, %d GOAWAY sent; want Closed after one GOAWAY",
			st[0].Phase, st[0].Core.FramesOut[h2sm.FrameGoAway])
	}
	if got := clock.Elapsed(); got != idle {
		t.Errorf("virtual time %v, want %v", got, idle)
	}

	// The client saw the GOAWAY: its next request opens a new connection.
	if _, body := get(t, srv, "/"); body != "ok" {
		t.Errorf("body %q after reconnecting, want ok", body)
	}
	if n := len(srv.Stats()); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestServerClockDrainCancelsHandler shuts the server down while a handler
// waits on its request's context: the handler may finish until
// DrainTimeout, when the connection closes and its context is cancelled.
func TestServerClockDrainCancelsHandler(t *testing.T) {
	clock := memory.NewClock()
	ctxs := make(chan context.Context, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.(http.Flusher).Flush()
		ctxs <- r.Context()
		<-r.Context().Done()
	}, memory.WithClock(clock))
	cfg := srv.Config()

	resp, err := srv.Client().Get(srv.URL() + "/wait")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ctx := recv(t, ctxs, "the handler to start")

	// Start the graceful shutdown; with a virtual clock, time is what
	// drains the connection.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Shutdown(done)

	// Whether or not the client has answered the shutdown PING yet (it
	// does so in its own goroutine), the final GOAWAY goes out within
	// ShutdownPingTimeout, and the connection closes DrainTimeout later.
	clock.Advance(cfg.DrainTimeout - time.Nanosecond)
	if err := ctx.Err(); err != nil {
		t.Fatalf("handler's context ended before DrainTimeout: %v", err)
	}
	clock.Advance(cfg.ShutdownPingTimeout + time.Nanosecond)
	if ctx.Err() == nil {
		t.Fatal("handler's context still alive after DrainTimeout")
	}
	if st := srv.Stats(); st[0].Phase != h2sm.PhaseClosed {
		t.Errorf("phase %v after DrainTimeout, want Closed", st[0].Phase)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the response body ended cleanly; want an error: the stream was cut")
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown = %v, want nil once the handler returned", err)
	}
}

// TestServerSynctestIdleTimeout runs a server on real time inside a
// testing/synctest bubble, whose fake clock moves when every goroutine is
// blocked: the idle timeout fires after a sleep that takes no time, and
// once the bubble is quiet the client has closed its end too.
func TestServerSynctestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memory.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}))
		defer srv.Close()
		get(t, srv, "/")
		time.Sleep(srv.Config().IdleTimeout)
		synctest.Wait()
		if st := srv.Stats(); st[0].Phase != h2sm.PhaseClosed || !st[0].Closed {
			t.Errorf("after the idle timeout: %+v, want closed at both ends", st[0])
		}
	})
}
