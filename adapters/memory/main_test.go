package memory_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
)

// Safety nets: generous bounds on waits that a working server ends far
// sooner. They are never assertions about speed.
const (
	safety      = 30 * time.Second
	leakTimeout = 10 * time.Second
)

// TestMain runs the tests, then checks that no goroutine of the in-memory
// server, the bridge, net/http's client or a test survived (every test
// closes its Server).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitGoroutines(leakTimeout); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked after all tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakMarkers are stack frames of goroutines the server, its client or a
// test owns.
var leakMarkers = []string{
	"h2sm/adapters/memory.",
	"h2sm/adapters/internal/bridge.",
	"h2sm/adapters/memory_test.Test",
	"net/http.",
}

// goroutines returns the stacks of the other goroutines that contain one of
// leakMarkers.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || strings.Contains(g, "testing.(*M).Run") {
			continue // the calling goroutine, or the test binary's main
		}
		for _, m := range leakMarkers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// waitGoroutines waits up to timeout for the marked goroutines to end, and
// returns the stacks of those that did not. Goroutines that are ending
// (the client's read loop returns just after it closed its connection) are
// given the time to finish.
func waitGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		gs := goroutines()
		if len(gs) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(gs, "\n\n")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recv receives from ch, failing t after the safety timeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(safety):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// newServer returns a Server for h whose Close runs at the end of the test.
func newServer(t *testing.T, h http.HandlerFunc, opts ...memory.ServerOption) *memory.Server {
	t.Helper()
	srv := memory.NewServer(h, opts...)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// get does a GET of path and returns the response with its body read.
func get(t *testing.T, srv *memory.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp, string(body)
}
