package memory

import (
	"sync"
	"time"
)

// Epoch is the instant every Clock, and so every Peer, starts at. It must
// not be changed.
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a virtual clock. It moves only when told to and never backwards.
// The zero Clock reads as Epoch. A Clock is safe for concurrent use.
//
// A [Server] created with [WithClock] takes its time from the Clock and
// arms its connections' timers on it: Advance and Set run every timer that
// falls due, in time order, before they return.
type Clock struct {
	mu      sync.Mutex
	elapsed time.Duration // since Epoch
	timers  []*clockTimer // armed, in the order they were armed
}

// NewClock returns a Clock at Epoch.
func NewClock() *Clock { return &Clock{} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Epoch.Add(c.elapsed)
}

// Elapsed returns the time since Epoch.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.elapsed
}

// Advance moves the clock forward by d and returns the new time. A negative
// d is treated as zero. The timers that fall due run in the calling
// goroutine, each at its own instant, before Advance returns.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	target := c.elapsed + max(d, 0)
	c.mu.Unlock()
	c.advanceTo(target)
	return c.Now()
}

// Set moves the clock forward to t. A t before the clock's time is ignored:
// the clock never goes backwards. Timers run as with Advance.
func (c *Clock) Set(t time.Time) {
	c.advanceTo(t.Sub(Epoch))
}

// advanceTo moves the clock to target (since Epoch), stopping at each
// timer due on the way to run it with the clock unlocked, so that it may
// re-arm itself or others.
func (c *Clock) advanceTo(target time.Duration) {
	c.mu.Lock()
	for {
		t := c.nextDue(target)
		if t == nil {
			break
		}
		c.disarmLocked(t)
		if at := t.when.Sub(Epoch); at > c.elapsed {
			c.elapsed = at
		}
		now := Epoch.Add(c.elapsed)
		c.mu.Unlock()
		t.f(now)
		c.mu.Lock()
	}
	if target > c.elapsed {
		c.elapsed = target
	}
	c.mu.Unlock()
}

// nextDue returns the earliest timer due at or before target, the first
// armed among equals; nil if none.
func (c *Clock) nextDue(target time.Duration) *clockTimer {
	var next *clockTimer
	for _, t := range c.timers {
		if t.when.Sub(Epoch) <= target && (next == nil || t.when.Before(next.when)) {
			next = t
		}
	}
	return next
}

func (c *Clock) disarmLocked(t *clockTimer) {
	if !t.armed {
		return
	}
	t.armed = false
	for i, u := range c.timers {
		if u == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			break
		}
	}
}

// clockTimer calls f when its Clock reaches the instant it is armed for.
// f runs in the goroutine that advances the clock, without the clock's lock.
type clockTimer struct {
	c     *Clock
	f     func(now time.Time)
	when  time.Time
	armed bool
}

// newTimer returns a disarmed timer on c.
func (c *Clock) newTimer(f func(now time.Time)) *clockTimer {
	return &clockTimer{c: c, f: f}
}

// arm sets the timer to fire at when and reports true; if when is not after
// the clock's time, the timer is left disarmed and arm reports false: it is
// due now, and the caller handles it. Checking and arming under the clock's
// lock means no Advance can slip between them and miss the timer.
func (t *clockTimer) arm(when time.Time) bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disarmLocked(t)
	if !when.After(Epoch.Add(c.elapsed)) {
		return false
	}
	t.when, t.armed = when, true
	c.timers = append(c.timers, t)
	return true
}

// stop disarms the timer.
func (t *clockTimer) stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.disarmLocked(t)
}
