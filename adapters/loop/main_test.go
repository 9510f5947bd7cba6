package loop

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if a goroutine of this package or of gnet
// survives the tests (each test closes its server).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitLeaks returns the stacks of leaked goroutines, waiting up to d for
// them to exit.
func waitLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		leaked := leakedGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.(*M).Run") || strings.Contains(g, "waitLeaks") {
			continue
		}
		if strings.Contains(g, "panjf2000/gnet") || strings.Contains(g, "h2sm/adapters") ||
			strings.Contains(g, "net/http") || strings.Contains(g, "x/net/http2") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
