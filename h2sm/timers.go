package h2sm

import "time"

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

// timers is the table of deadlines; the zero time means disarmed.
type timers [numTimers]time.Time

// set arms timer k at t.
func (t *timers) set(k timerKind, at time.Time) { t[k] = at }

// setAfter arms timer k at now+d, or disarms it when d is negative (off).
func (t *timers) setAfter(k timerKind, now time.Time, d time.Duration) {
	if d < 0 {
		t[k] = time.Time{}
		return
	}
	t[k] = now.Add(d)
}

// stop disarms timer k.
func (t *timers) stop(k timerKind) { t[k] = time.Time{} }

// armed reports whether timer k is armed.
func (t *timers) armed(k timerKind) bool { return !t[k].IsZero() }

// next returns the earliest armed deadline.
func (t *timers) next() (time.Time, bool) {
	var min time.Time
	for _, at := range t {
		if !at.IsZero() && (min.IsZero() || at.Before(min)) {
			min = at
		}
	}
	return min, !min.IsZero()
}

// expired reports whether timer k is armed and due at now.
func (t *timers) expired(k timerKind, now time.Time) bool {
	return !t[k].IsZero() && !now.Before(t[k])
}
