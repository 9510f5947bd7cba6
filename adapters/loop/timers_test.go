package loop

import (
	"math"
	"testing"
	"time"

	"github.com/h2sm/h2sm/h2sm"
)

// TestLoopFarDeadlineNotDue: a core deadline beyond 2262 (a timeout of
// math.MaxInt64, the usual "never") is outside time.Time.UnixNano's range.
// If setTimer let UnixNano wrap, the timer would look due at once, and
// tick would pop it, find nothing expired, push it back and pop it again
// forever: the event loop would never return to gnet.
func TestLoopFarDeadlineNotDue(t *testing.T) {
	now := time.Now()
	core, err := h2sm.NewConn(now, h2sm.Config{HandshakeTimeout: math.MaxInt64, SettingsAckTimeout: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := core.Deadline()
	if !ok || !d.After(now.Add(200*365*24*time.Hour)) {
		t.Fatalf("core.Deadline() = %v, %v; want the handshake timer ~292 years ahead", d, ok)
	}
	ls := newLoopState(nil)
	c := &conn{ls: ls, core: core, heapIdx: -1}
	c.armTimer() // what flush does after OnOpen
	if len(ls.timers) != 1 {
		t.Fatalf("%d timers armed, want 1", len(ls.timers))
	}
	if got := ls.timers[0].deadline; got <= now.UnixNano() {
		t.Errorf("deadline %v (%v) stored as %d ns, which tick treats as due at %d: the loop would spin in tick forever",
			d.Format(time.RFC3339), d.Sub(now), got, now.UnixNano())
	}
	if ls.due(now) {
		t.Errorf("ls.due(now) = true for a deadline %v ahead", d.Sub(now))
	}
}
