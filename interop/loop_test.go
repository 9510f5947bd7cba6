package interop

import (
	"context"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/loop"
)

// startLoop runs an adapters/loop server on a free port, with the
// non-blocking handler API or (httpMode) the demo http.Handler.
func startLoop(t *testing.T, httpMode bool) string {
	t.Helper()
	s := &loop.Server{Addr: "127.0.0.1:0", NumEventLoops: 2}
	if httpMode {
		s.Handler = demo()
	} else {
		s.AsyncHandler = loop.HandlerFunc(func(st *loop.Stream) {
			if strings.HasPrefix(st.Path, "/echo") {
				var body []byte
				st.OnData(func(p []byte, end bool) {
					body = append(body, p...)
					if end {
						st.Respond(200, nil, body)
					}
				})
				if st.ContentLength == 0 {
					st.Respond(200, nil, nil)
				}
				return
			}
			st.Respond(200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte("hello world\n"))
		})
	}
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return addr.String()
}

// TestLoopInterop: h2spec --strict, curl and h2load against the event-loop
// adapter, with its non-blocking handler API and with an http.Handler.
func TestLoopInterop(t *testing.T) {
	h2spec, curl, h2load := tool(t, "h2spec"), tool(t, "curl"), tool(t, "h2load")
	re := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)
	for _, mode := range []struct {
		name string
		http bool
	}{{"async", false}, {"http", true}} {
		t.Run(mode.name, func(t *testing.T) {
			addr := startLoop(t, mode.http)
			out, _ := exec.Command(h2spec, "--strict", "-h", "127.0.0.1", "-p", port(addr), "-o", "5").CombinedOutput()
			if m := re.FindStringSubmatch(string(out)); m == nil || m[1] != "146" || m[2] != "146" {
				t.Errorf("h2spec --strict against loop (%s): %v\n%s", mode.name, m, failures(string(out)))
			}
			if got := run(t, curl, "-sS", "--http2-prior-knowledge", "-w", " %{http_version}", "http://"+addr+"/"); got != "hello world\n 2" {
				t.Errorf("curl = %q", got)
			}
			if got := run(t, curl, "-sS", "--http2-prior-knowledge", "--data-binary", "ping", "http://"+addr+"/echo"); got != "ping" {
				t.Errorf("curl POST /echo = %q", got)
			}
			lo := run(t, h2load, "-n", "2000", "-c", "4", "-m", "10", "http://"+addr+"/")
			if !strings.Contains(lo, "2000 succeeded, 0 failed, 0 errored, 0 timeout") {
				t.Errorf("h2load against loop (%s):\n%s", mode.name, lo)
			}
		})
	}
}
