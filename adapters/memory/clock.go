package memory

import "time"

// Epoch is the instant every Clock, and so every Peer, starts at. It must
// not be changed.
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a virtual clock. It moves only when told to and never backwards.
// The zero Clock reads as Epoch.
type Clock struct {
	elapsed time.Duration // since Epoch
}

// NewClock returns a Clock at Epoch.
func NewClock() *Clock { return &Clock{} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return Epoch.Add(c.elapsed) }

// Elapsed returns the time since Epoch.
func (c *Clock) Elapsed() time.Duration { return c.elapsed }

// Advance moves the clock forward by d and returns the new time. A negative
// d is treated as zero.
func (c *Clock) Advance(d time.Duration) time.Time {
	if d > 0 {
		c.elapsed += d
	}
	return c.Now()
}

// Set moves the clock forward to t. A t before the clock's time is ignored:
// the clock never goes backwards.
func (c *Clock) Set(t time.Time) {
	if d := t.Sub(Epoch); d > c.elapsed {
		c.elapsed = d
	}
}
