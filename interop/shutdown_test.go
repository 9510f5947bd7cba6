package interop

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/netconn"
)

// TestShutdownUnderLoad runs h2load with 100 concurrent streams per
// connection and calls Shutdown in the middle. Every request that reached a
// handler must complete at the client with its whole body; the others h2load
// started were above the final GOAWAY's last stream id, so they were never
// processed and may be retried (RFC 9113 §6.8). Shutdown must return nil.
func TestShutdownUnderLoad(t *testing.T) {
	h2load := tool(t, "h2load")
	var served atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	body := make([]byte, 16384)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 2000 {
			once.Do(func() { close(started) })
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:8192])
		w.(http.Flusher).Flush()
		w.Write(body[8192:])
	})
	srv := &netconn.Server{Handler: h, H2C: true}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h2load, "-n", "1000000", "-c", "4", "-m", "100", "http://"+l.Addr().String()+"/")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outc := make(chan string, 1)
	go func() { b, _ := io.ReadAll(stdout); outc <- string(b) }()

	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("h2load made fewer than 2000 requests")
	}
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if err := <-serveErr; err != http.ErrServerClosed {
		t.Errorf("Serve = %v, want http.ErrServerClosed", err)
	}
	out := <-outc
	cmd.Wait()
	m := regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("h2load printed no summary:\n%s", out)
	}
	startedN, _ := strconv.Atoi(m[2])
	doneN, _ := strconv.Atoi(m[3])
	okN, _ := strconv.Atoi(m[4])
	if okN < 2000 || int64(okN) != served.Load() || doneN > startedN || m[7] != "0" {
		t.Errorf("under Shutdown: %s, handled %d (every handled request must succeed)\n%s", m[0], served.Load(), out)
	}
	t.Logf("%s; the server handled %d", m[0], served.Load())
}
