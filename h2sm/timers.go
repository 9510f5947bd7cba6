package h2sm

import (
	"math"
	"time"
)

// timerKind names one of the Conn's timers. HandleTimeout walks them in this
// order.
type timerKind uint8

const (
	timerHandshake    timerKind = iota // preface and first SETTINGS
	timerSettingsAck                   // RFC 9113 §6.5.3
	timerHeaderBlock                   // HEADERS without END_HEADERS → END_HEADERS
	timerWriteStall                    // output pending, none taken
	timerStreamStall                   // a stream's body blocked on flow control
	timerPingTimeout                   // keepalive PING unanswered
	timerPing                          // keepalive PING due
	timerShutdownPing                  // graceful shutdown, phase one
	timerDrain                         // final GOAWAY → last stream ends
	timerIdle                          // no open stream
	numTimers
)

var timerNames = [numTimers]string{
	"handshake", "settings-ack", "header-block", "write-stall", "stream-stall", "ping-timeout",
	"ping", "shutdown-ping", "drain", "idle",
}

func (k timerKind) String() string { return timerNames[k] }

// instant is a point in the connection's time: the time elapsed since the
// now given to NewConn (Conn.epoch). Eight bytes instead of a time.Time's
// 24 keep an idle connection small; it spans 292 years.
type instant time.Duration

// never is the latest instant; a deadline there does not fire.
const never = instant(math.MaxInt64)

// add returns i+d, saturating at never: a timeout of math.MaxInt64 (a
// common way to say "no timeout") must not wrap into the past.
func (i instant) add(d time.Duration) instant {
	if d > 0 && i > never-instant(d) {
		return never
	}
	return i + instant(d)
}

// timers is the table of deadlines; zero means disarmed.
type timers [numTimers]instant

// set arms timer k at t.
func (t *timers) set(k timerKind, at instant) { t[k] = max(at, 1) }

// setAfter arms timer k at now+d, or disarms it when d is negative (off).
func (t *timers) setAfter(k timerKind, now instant, d time.Duration) {
	if d < 0 {
		t[k] = 0
		return
	}
	t.set(k, now.add(d))
}

// stop disarms timer k.
func (t *timers) stop(k timerKind) { t[k] = 0 }

// armed reports whether timer k is armed.
func (t *timers) armed(k timerKind) bool { return t[k] != 0 }

// next returns the earliest armed deadline.
func (t *timers) next() (instant, bool) {
	var min instant
	for _, at := range t {
		if at != 0 && (min == 0 || at < min) {
			min = at
		}
	}
	return min, min != 0
}

// expired reports whether timer k is armed and due at now.
func (t *timers) expired(k timerKind, now instant) bool {
	return t[k] != 0 && now >= t[k]
}
