package h2sm

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func at(d time.Duration) time.Time { return testEpoch.Add(d) }

func TestTimersNext(t *testing.T) {
	type op func(*timers)
	set := func(k timerKind, d time.Duration) op { return func(tt *timers) { tt.set(k, instant(d)) } }
	stop := func(k timerKind) op { return func(tt *timers) { tt.stop(k) } }
	after := func(k timerKind, now, d time.Duration) op {
		return func(tt *timers) { tt.setAfter(k, instant(now), d) }
	}
	const none = -1
	tests := []struct {
		name string
		ops  []op
		want time.Duration // none: no deadline
	}{
		{"empty", nil, none},
		{"one", []op{set(timerIdle, 5*time.Second)}, 5 * time.Second},
		{"earliest wins", []op{set(timerIdle, 5*time.Second), set(timerPing, 3*time.Second)}, 3 * time.Second},
		{"order of kinds does not matter", []op{set(timerHandshake, 9*time.Second), set(timerIdle, 2*time.Second)}, 2 * time.Second},
		{"stop the earliest", []op{set(timerIdle, 5*time.Second), set(timerPing, 3*time.Second), stop(timerPing)}, 5 * time.Second},
		{"stop all", []op{set(timerIdle, 5*time.Second), stop(timerIdle)}, none},
		{"stop a disarmed timer", []op{stop(timerDrain)}, none},
		{"re-arm later", []op{set(timerPing, 3*time.Second), set(timerPing, 7*time.Second)}, 7 * time.Second},
		{"re-arm earlier", []op{set(timerPing, 7*time.Second), set(timerPing, 1*time.Second)}, 1 * time.Second},
		{"equal deadlines", []op{set(timerPing, 3*time.Second), set(timerDrain, 3*time.Second)}, 3 * time.Second},
		{"setAfter", []op{after(timerDrain, time.Second, 2*time.Second)}, 3 * time.Second},
		{"setAfter zero arms at now", []op{after(timerDrain, time.Second, 0)}, time.Second},
		{"setAfter negative disarms", []op{set(timerDrain, time.Second), after(timerDrain, time.Second, -1)}, none},
		{"setAfter negative leaves others", []op{set(timerIdle, 4*time.Second), after(timerDrain, 0, -time.Hour)}, 4 * time.Second},
		{"every kind", func() []op {
			var ops []op
			for k := timerKind(0); k < numTimers; k++ {
				ops = append(ops, set(k, time.Duration(10-int(k))*time.Second))
			}
			return ops
		}(), time.Duration(10-int(numTimers-1)) * time.Second},
	}
	for _, tt := range tests {
		var tm timers
		for _, o := range tt.ops {
			o(&tm)
		}
		got, ok := tm.next()
		switch {
		case tt.want == none && ok:
			t.Errorf("%s: next() = %v, true, want none", tt.name, time.Duration(got))
		case tt.want != none && (!ok || got != instant(tt.want)):
			t.Errorf("%s: next() = %v, %v, want %v, true", tt.name, time.Duration(got), ok, tt.want)
		}
	}
}

func TestTimersExpired(t *testing.T) {
	var tm timers
	tm.set(timerIdle, instant(5*time.Second))
	tests := []struct {
		k    timerKind
		now  time.Duration
		want bool
	}{
		{timerIdle, 0, false},
		{timerIdle, 5*time.Second - 1, false},
		{timerIdle, 5 * time.Second, true}, // due at the deadline itself
		{timerIdle, time.Hour, true},
		{timerPing, time.Hour, false}, // disarmed
	}
	for _, tt := range tests {
		if got := tm.expired(tt.k, instant(tt.now)); got != tt.want {
			t.Errorf("expired(%v, +%v) = %v, want %v", tt.k, tt.now, got, tt.want)
		}
	}
	if !tm.armed(timerIdle) || tm.armed(timerPing) {
		t.Errorf("armed(idle), armed(ping) = %v, %v, want true, false", tm.armed(timerIdle), tm.armed(timerPing))
	}
	tm.stop(timerIdle)
	if tm.expired(timerIdle, instant(time.Hour)) || tm.armed(timerIdle) {
		t.Errorf("a stopped timer is armed or expired")
	}
}

func TestTimerKindString(t *testing.T) {
	seen := map[string]bool{}
	for k := timerKind(0); k < numTimers; k++ {
		n := k.String()
		if n == "" || seen[n] {
			t.Errorf("timerKind(%d).String() = %q: empty or repeated", k, n)
		}
		seen[n] = true
	}
	if timerSettingsAck.String() != "settings-ack" || timerIdle.String() != "idle" {
		t.Errorf("names: %q, %q", timerSettingsAck, timerIdle)
	}
}

// TestConnTimers drives each timer of the Conn to expiry.
func TestConnTimers(t *testing.T) {
	var buf bytes.Buffer
	get := func(end bool) []byte {
		return wireHeaders(1, hpackBlock(hpack.NewEncoder(&buf), &buf, getRequest...), end, 16384)
	}
	type want struct {
		deadline time.Duration // the deadline before firing
		goAway   http2.ErrCode // the last GOAWAY's code, when goAwayOK
		goAwayOK bool
		closed   bool
		errCode  ErrCode // EventConnClosed's *ConnError code, when errSet
		errSet   bool
	}
	tests := []struct {
		name  string
		cfg   Config
		setup func(d *connDriver)
		fire  int // timers to fire before checking; the deadline is checked before the last
		want  want
	}{
		{name: "handshake timeout", setup: func(d *connDriver) {}, fire: 1,
			want: want{deadline: DefaultHandshakeTimeout, goAway: http2.ErrCodeProtocol, goAwayOK: true, closed: true, errCode: ErrCodeProtocol, errSet: true}},
		{name: "handshake timeout after the preface", setup: func(d *connDriver) { d.receive([]byte(clientPreface)) }, fire: 1,
			want: want{deadline: DefaultHandshakeTimeout, goAway: http2.ErrCodeProtocol, goAwayOK: true, closed: true, errCode: ErrCodeProtocol, errSet: true}},
		{name: "SETTINGS ACK timeout (§6.5.3)",
			setup: func(d *connDriver) { d.receive(append([]byte(clientPreface), wireSettings()...)) }, fire: 1,
			want: want{deadline: DefaultSettingsAckTimeout, goAway: http2.ErrCodeSettingsTimeout, goAwayOK: true, closed: true, errCode: ErrCodeSettingsTimeout, errSet: true}},
		{name: "idle timeout", setup: func(d *connDriver) { d.handshake() }, fire: 1,
			want: want{deadline: DefaultIdleTimeout, goAway: http2.ErrCodeNo, goAwayOK: true, closed: true}},
		{name: "idle timer restarts when the last stream ends",
			setup: func(d *connDriver) {
				d.handshake()
				d.advance(time.Minute)
				d.receive(get(true))
				if err := d.c.WriteHeaders(d.now, 1, []HeaderField{{Name: ":status", Value: "204"}}, true); err != nil {
					d.t.Fatal(err)
				}
				d.drain()
			}, fire: 1,
			want: want{deadline: time.Minute + DefaultIdleTimeout, goAway: http2.ErrCodeNo, goAwayOK: true, closed: true}},
		{name: "no idle timeout while a stream is open",
			setup: func(d *connDriver) { d.handshake(); d.receive(get(false)) }, fire: 0,
			want: want{deadline: -1}},
		{name: "keepalive PING, unanswered", cfg: Config{PingInterval: time.Second},
			setup: func(d *connDriver) { d.handshake() }, fire: 2,
			want: want{deadline: time.Second + DefaultPingTimeout, goAway: http2.ErrCodeNo, goAwayOK: true, closed: true, errCode: ErrCodeNo, errSet: true}},
		{name: "keepalive PING, answered", cfg: Config{PingInterval: time.Second, IdleTimeout: -1},
			setup: func(d *connDriver) {
				d.handshake()
				d.fireTimer()
				d.advance(100 * time.Millisecond)
				d.receive(wirePing(true, 1)) // the ACK of the first keepalive PING
			}, fire: 0,
			want: want{deadline: 1100*time.Millisecond + time.Second}},
		{name: "header block timeout",
			setup: func(d *connDriver) { d.handshake(); d.receive(wireFrame(0x1, 0, 1, []byte{0x82})) }, fire: 1,
			want: want{deadline: DefaultHeaderBlockTimeout, goAway: http2.ErrCodeEnhanceYourCalm, goAwayOK: true, closed: true, errCode: ErrCodeEnhanceYourCalm, errSet: true}},
		{name: "graceful shutdown: PING timeout, then drain timeout",
			setup: func(d *connDriver) {
				d.handshake()
				d.receive(get(false))
				d.c.Shutdown(d.now)
				d.drain()
			}, fire: 2,
			want: want{deadline: DefaultShutdownPingTimeout + DefaultDrainTimeout, goAway: http2.ErrCodeNo, goAwayOK: true, closed: true, errCode: ErrCodeNo, errSet: true}},
		{name: "write stall", setup: func(d *connDriver) {
			d.handshake()
			d.blocked = true
			d.receive(wirePing(false, 9)) // its ACK is never taken
		}, fire: 1,
			want: want{deadline: DefaultWriteStallTimeout, closed: true, errCode: ErrCodeNo, errSet: true}},
		{name: "timers off", cfg: Config{HandshakeTimeout: -1, SettingsAckTimeout: -1, IdleTimeout: -1},
			setup: func(d *connDriver) { d.handshake() }, fire: 0, want: want{deadline: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newConnDriver(t, tt.cfg)
			tt.setup(d)
			for i := 0; i < tt.fire; i++ {
				if i == tt.fire-1 {
					dl, ok := d.c.Deadline()
					if !ok || !dl.Equal(at(tt.want.deadline)) {
						t.Fatalf("Deadline() = +%v, %v before the last timer, want +%v\n%s", dl.Sub(testEpoch), ok, tt.want.deadline, d.trace())
					}
				}
				if !d.fireTimer() {
					t.Fatalf("no timer armed\n%s", d.trace())
				}
			}
			if tt.fire == 0 {
				dl, ok := d.c.Deadline()
				if tt.want.deadline < 0 && ok {
					t.Fatalf("Deadline() = +%v, want none", dl.Sub(testEpoch))
				}
				if tt.want.deadline >= 0 && (!ok || !dl.Equal(at(tt.want.deadline))) {
					t.Fatalf("Deadline() = +%v, %v, want +%v", dl.Sub(testEpoch), ok, tt.want.deadline)
				}
			}
			if d.c.Closed() != tt.want.closed {
				t.Fatalf("Closed() = %v, want %v\n%s", d.c.Closed(), tt.want.closed, d.trace())
			}
			goAways, _ := frameErrors(d.frames())
			if tt.want.goAwayOK {
				if len(goAways) == 0 || goAways[len(goAways)-1].Code != tt.want.goAway {
					t.Errorf("GOAWAYs %v, want the last with %v", goAways, tt.want.goAway)
				}
			} else if len(goAways) != 0 {
				t.Errorf("GOAWAYs %v, want none", goAways)
			}
			if tt.want.closed {
				last := d.events[len(d.events)-1]
				var ce *ConnError
				switch {
				case last.Kind != EventConnClosed:
					t.Errorf("last event %v, want ConnClosed", last.Kind)
				case tt.want.errSet && (!errors.As(last.Err, &ce) || ce.Code != tt.want.errCode || ce.Reason == ""):
					t.Errorf("ConnClosed.Err = %v, want a local *ConnError %v with a reason", last.Err, tt.want.errCode)
				case !tt.want.errSet && last.Err != nil:
					t.Errorf("ConnClosed.Err = %v, want nil (graceful)", last.Err)
				}
			}
			d.finish()
		})
	}
}

// TestConnHandleTimeoutSpurious: a call before the deadline, or with a time
// before the last one, changes nothing.
func TestConnHandleTimeoutSpurious(t *testing.T) {
	d := newConnDriver(t, Config{})
	d.handshake()
	d.advance(time.Minute)
	d.receive(wirePing(false, 1))
	dl, _ := d.c.Deadline()
	wire, events := len(d.wire), len(d.events)
	for _, now := range []time.Time{d.now, d.now.Add(time.Second), testEpoch, dl.Add(-1)} {
		d.c.HandleTimeout(now)
		d.drain()
		if got, _ := d.c.Deadline(); !got.Equal(dl) || len(d.wire) != wire || len(d.events) != events || d.c.Closed() {
			t.Fatalf("HandleTimeout(+%v) before the deadline +%v changed something: deadline +%v\n%s",
				now.Sub(testEpoch), dl.Sub(testEpoch), got.Sub(testEpoch), d.trace())
		}
	}
	d.finish()
}
