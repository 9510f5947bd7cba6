package memory

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestClockTimers(t *testing.T) {
	c := NewClock()
	var fired []string
	note := func(name string) func(time.Time) {
		return func(now time.Time) { fired = append(fired, fmt.Sprintf("%s@%v", name, now.Sub(Epoch))) }
	}
	a, b, stopped := c.newTimer(note("a")), c.newTimer(nil), c.newTimer(note("stopped"))
	b.f = func(now time.Time) {
		note("b")(now)
		if now.Sub(Epoch) == 2*time.Second {
			b.arm(now.Add(time.Second)) // re-armed from its callback: fires in the same Advance
		}
	}
	a.arm(Epoch.Add(5 * time.Second))
	b.arm(Epoch.Add(2 * time.Second))
	stopped.arm(Epoch.Add(time.Second))
	stopped.stop()

	if now := c.Advance(10 * time.Second); now != Epoch.Add(10*time.Second) {
		t.Errorf("Advance(10s) = %v, want Epoch+10s", now.Sub(Epoch))
	}
	if want := []string{"b@2s", "b@3s", "a@5s"}; !slices.Equal(fired, want) {
		t.Errorf("fired %v, want %v: in time order, each at its instant", fired, want)
	}
	if a.arm(Epoch.Add(10 * time.Second)) {
		t.Error("arm at the clock's time reported armed, want false: due now, for the caller")
	}
	c.Set(Epoch) // backwards: ignored
	if got := c.Elapsed(); got != 10*time.Second {
		t.Errorf("Elapsed after Set(Epoch) = %v, want 10s", got)
	}
}
