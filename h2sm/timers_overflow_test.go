package h2sm

import (
	"math"
	"testing"
	"time"
)

// TestConnHugeTimeoutDoesNotFireAtOnce: a timeout of math.MaxInt64 (the
// usual way to say "never" with a time.Duration) must not make the timer
// fire at once: instant arithmetic saturates (as time.Time.Add does) rather
// than wrap into the past, where the idle timer would close a fresh
// connection.
func TestConnHugeTimeoutDoesNotFireAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"IdleTimeout", Config{IdleTimeout: math.MaxInt64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewConn(testEpoch, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			now := testEpoch.Add(time.Second)
			var in []byte
			in = append(in, clientPreface...)
			in = append(in, wireSettings()...)
			in = append(in, wireSettingsAck()...)
			if n := c.Receive(now, in); n != len(in) {
				t.Fatalf("Receive consumed %d of %d", n, len(in))
			}
			c.AppendOutgoing(nil)
			for _, ok := c.NextEvent(); ok; _, ok = c.NextEvent() {
			}
			if d, ok := c.Deadline(); ok && !d.After(now) {
				t.Errorf("Deadline() = %v (%v before now), want none or after now %v", d, now.Sub(d), now)
			}
			// A driver calls HandleTimeout when Deadline has passed: here,
			// at once.
			c.HandleTimeout(now)
			if c.Closed() {
				t.Errorf("HandleTimeout(now) right after the handshake closed the connection, with %s = MaxInt64", tc.name)
			}
		})
	}
}
