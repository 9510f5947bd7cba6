package proptest

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Bounds that turn a Conn that never stops into a failure instead of a hang.
const (
	maxPull      = 1 << 26 // output bytes one drain may take
	maxTimerLoop = 1000    // timers one Advance may fire
)

// epoch is the virtual time every Conn is created at. The core never sees
// the wall clock.
func epoch() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }

// A FrameFilter sits between the Conn's output and the checker: it sees
// every complete frame the Conn emitted, in order, and passes on what the
// client is to see through emit. The property suite installs one only to
// prove that its properties fail when the output is corrupted; the Conn
// itself has no fault switch.
type FrameFilter interface {
	Filter(frame []byte, emit func(frame []byte))
}

// Violation is a property that did not hold after a step.
type Violation struct {
	Prop Property
	Step int
	Msg  string
}

// String renders the violation for traces and failure reports.
func (v Violation) String() string { return fmt.Sprintf("%v (step %d): %s", v.Prop, v.Step, v.Msg) }

// expectation is a check a step registers and that runs once the step is
// fully drained.
type expectation struct {
	prop  Property
	check func() string
}

// Driver is one client connected to one h2sm.Conn, driven by commands. It
// encodes the client's frames with x/net/http2's Framer and hpack.Encoder,
// drains the Conn as an adapter must after every input and command, and
// feeds what crossed the wire in both directions to the model of the
// connection as the client sees it, which checks the properties.
type Driver struct {
	setup  Setup
	mode   Mode
	cfg    h2sm.Config // normalized
	conn   *h2sm.Conn
	now    time.Time
	filter FrameFilter

	in []byte // written by the client, not yet consumed by Receive

	fw     *http2.Framer
	wbuf   bytes.Buffer
	enc    *hpack.Encoder
	encBuf bytes.Buffer

	m model

	violations []Violation
	trace      []string
	step       int
	stepOut    []byte   // the frames the client got during this step (determinism)
	stepEvents []string // the events of this step, rendered (determinism)
	stepFrames []sentFrame
	expects    []expectation
	dead       bool      // a panic ended the run
	mutation   *mutation // a byte to corrupt in the next client write
}

// sentFrame summarizes a frame the server sent during the current step.
type sentFrame struct {
	typ    http2.FrameType
	flags  http2.Flags
	stream uint32
	code   h2sm.ErrCode // RST_STREAM and GOAWAY
}

// mutation corrupts one byte of the next client write.
type mutation struct {
	pos uint32
	xor byte
}

// NewDriver creates a Conn at the epoch with setup's configuration and runs
// the handshake: preface and the client's SETTINGS, the server's SETTINGS
// and connection WINDOW_UPDATE, and the acknowledgements both ways.
func NewDriver(setup Setup, mode Mode, filter FrameFilter) *Driver {
	d := &Driver{setup: setup, mode: mode, now: epoch(), filter: filter}
	conn, err := h2sm.NewConn(d.now, setup.Config())
	if err != nil {
		panic("proptest: NewConn: " + err.Error())
	}
	d.conn = conn
	d.cfg = conn.Config()
	d.fw = http2.NewFramer(&d.wbuf, nil)
	d.fw.AllowIllegalWrites = true
	d.enc = hpack.NewEncoder(&d.encBuf)
	d.m.init(d)
	d.tracef("new conn %s", setup)
	d.guard(func() {
		d.pull()
		d.send([]byte(http2.ClientPreface))
		d.writeFrame(func(fw *http2.Framer) error { return fw.WriteSettings(setup.Client...) })
		d.writeFrame(func(fw *http2.Framer) error { return fw.WriteSettingsAck() })
		d.checkAfterStep(false)
	})
	return d
}

// Violations returns every violation so far.
func (d *Driver) Violations() []Violation { return d.violations }

// Trace returns the readable trace of the run so far.
func (d *Driver) Trace() string { return strings.Join(d.trace, "\n") }

// Do runs one command and the checks that follow it.
func (d *Driver) Do(o Op) {
	d.step++
	d.stepOut = d.stepOut[:0]
	d.stepEvents = d.stepEvents[:0]
	d.stepFrames = d.stepFrames[:0]
	d.expects = d.expects[:0]
	d.tracef("## %d %s", d.step, o)
	if d.dead {
		return
	}
	wasClosed := d.conn.Closed()
	d.guard(func() {
		o.apply(d)
		for _, e := range d.expects {
			if msg := e.check(); msg != "" {
				d.fail(e.prop, "%s", msg)
			}
		}
		d.checkAfterStep(wasClosed)
	})
}

// guard runs f and turns a panic (in the Conn or in the driver) into a
// Progress violation that ends the run.
func (d *Driver) guard(f func()) {
	defer func() {
		if r := recover(); r != nil {
			d.dead = true
			d.fail(PropProgress, "panic: %v\n%s", r, debug.Stack())
		}
	}()
	f()
}

// fail records a violation.
func (d *Driver) fail(p Property, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.violations = append(d.violations, Violation{Prop: p, Step: d.step, Msg: msg})
	d.tracef("!! %v: %s", p, msg)
}

// expect registers a check to run when the step is drained.
func (d *Driver) expect(p Property, check func() string) {
	d.expects = append(d.expects, expectation{p, check})
}

// valid reports whether the client is conforming in this run, so that the
// properties about a conforming peer apply.
func (d *Driver) valid() bool { return d.mode == ModeValid }

// tracef appends a line to the trace, prefixed with the virtual time.
func (d *Driver) tracef(format string, args ...any) {
	d.trace = append(d.trace, fmt.Sprintf("%-9s %s", relTime(d.now), fmt.Sprintf(format, args...)))
}

func relTime(t time.Time) string { return fmt.Sprintf("+%.3fs", t.Sub(epoch()).Seconds()) }

// --- client output ---

// writeFrame sends what f writes with the client's Framer.
func (d *Driver) writeFrame(f func(fw *http2.Framer) error) {
	if err := f(d.fw); err != nil {
		panic("proptest: writing a frame: " + err.Error())
	}
	b := bytes.Clone(d.wbuf.Bytes())
	d.wbuf.Reset()
	d.send(b)
}

// encode encodes fields with the client's HPACK encoder. The block must be
// sent, in order with the other blocks.
func (d *Driver) encode(fields []h2sm.HeaderField) []byte {
	d.encBuf.Reset()
	for _, f := range fields {
		_ = d.enc.WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive})
	}
	return bytes.Clone(d.encBuf.Bytes())
}

// send queues b as input, corrupting a byte if a mutation is armed, and
// drains. Input written after the connection closed is dropped.
func (d *Driver) send(b []byte) {
	if d.mutation != nil && len(b) > 0 {
		i := int(d.mutation.pos % uint32(len(b)))
		d.tracef("   mutate input byte %d of %d: %#02x -> %#02x", i, len(b), b[i], b[i]^d.mutation.xor)
		b[i] ^= d.mutation.xor
		d.mutation = nil
	}
	if d.conn.Closed() {
		d.tracef("   %d bytes of input dropped: connection closed", len(b))
		return
	}
	d.in = append(d.in, b...)
	d.drain()
}

// --- the adapter loop ---

// drain feeds the queued input to the Conn and collects its outputs, as an
// adapter must: Receive, then AppendOutgoing, Deadline and NextEvent,
// offering again the input Receive left.
func (d *Driver) drain() {
	for {
		n := 0
		if len(d.in) > 0 && !d.conn.Closed() {
			n = d.conn.Receive(d.now, d.in)
			if n < 0 || n > len(d.in) {
				d.fail(PropProgress, "Receive returned %d for %d bytes", n, len(d.in))
				d.in = d.in[:0]
				break
			}
			d.m.clientBytes(d.in[:n])
			d.in = append(d.in[:0], d.in[n:]...)
			d.checkStats("after Receive")
		}
		took := d.pull()
		if len(d.in) == 0 || d.conn.Closed() {
			break
		}
		if n == 0 && !took {
			d.fail(PropProgress, "hang: Receive consumed none of %d bytes although every output was drained", len(d.in))
			d.in = d.in[:0]
			break
		}
	}
	if d.conn.Closed() && len(d.in) > 0 {
		d.tracef("   %d bytes of input dropped: connection closed", len(d.in))
		d.in = d.in[:0]
	}
}

// pull collects the Conn's outputs in the contract's order and reports
// whether it took anything.
func (d *Driver) pull() bool {
	took := false
	total := 0
	var out []byte
	for {
		n := len(out)
		out = d.conn.AppendOutgoing(out)
		if len(out) == n {
			break
		}
		took = true
		if total += len(out) - n; total > maxPull {
			d.fail(PropProgress, "AppendOutgoing returned more than %d bytes without stopping", maxPull)
			break
		}
	}
	if len(out) > 0 {
		if d.m.closedEv {
			d.fail(PropConnClosedLast, "%d bytes of output after EventConnClosed", len(out))
		}
		d.m.serverBytes(out)
	}
	d.deadlineChanged()
	for {
		ev, ok := d.conn.NextEvent()
		if !ok {
			break
		}
		took = true
		d.m.event(copyEvent(ev))
	}
	d.checkStats("after drain")
	return took
}

func copyEvent(ev h2sm.Event) h2sm.Event {
	ev.Fields = append([]h2sm.HeaderField(nil), ev.Fields...)
	if ev.Data != nil {
		ev.Data = bytes.Clone(ev.Data)
	}
	return ev
}

// lastDeadline is the deadline the trace last showed.
func (d *Driver) deadlineChanged() {
	at, ok := d.conn.Deadline()
	if ok != d.m.armed || !at.Equal(d.m.deadline) {
		d.m.armed, d.m.deadline = ok, at
		if ok {
			d.tracef("   deadline %s", relTime(at))
		} else {
			d.tracef("   deadline none")
		}
	}
}

// advance moves the clock forward by dur, stopping at every deadline on the
// way to call HandleTimeout there, as a punctual driver would. With early
// set, it first calls HandleTimeout before the deadline, which the contract
// says is harmless.
func (d *Driver) advance(dur time.Duration, early bool) {
	target := d.now.Add(dur)
	if early {
		d.earlyTimeout()
	}
	for i := 0; ; i++ {
		at, ok := d.conn.Deadline()
		if !ok || at.After(target) {
			break
		}
		if i == maxTimerLoop {
			d.fail(PropProgress, "more than %d timers fired in one Advance", maxTimerLoop)
			return
		}
		if at.After(d.now) {
			d.now = at
		}
		d.tracef("timer fired")
		d.conn.HandleTimeout(d.now)
		d.checkStats("after HandleTimeout")
		d.drain()
		// The contract: HandleTimeout at the deadline makes progress.
		if next, ok := d.conn.Deadline(); ok && !next.After(d.now) {
			d.fail(PropTimerProgress, "HandleTimeout(%s) left the deadline at %s", relTime(d.now), relTime(next))
			return
		}
	}
	d.now = target
}

// earlyTimeout calls HandleTimeout before the deadline and checks that it
// changed nothing the driver can see.
func (d *Driver) earlyTimeout() {
	at, ok := d.conn.Deadline()
	if !ok || !at.After(d.now) || d.conn.Closed() {
		return
	}
	early := d.now.Add(at.Sub(d.now) / 2)
	before := d.conn.Stats()
	d.tracef("early HandleTimeout at %s (deadline %s)", relTime(early), relTime(at))
	d.now = early
	d.conn.HandleTimeout(d.now)
	if out := d.conn.Outgoing(); len(out) > 0 {
		d.fail(PropTimerProgress, "HandleTimeout before the deadline produced %d bytes of output", len(out))
	}
	if next, ok2 := d.conn.Deadline(); ok2 != ok || !next.Equal(at) {
		d.fail(PropTimerProgress, "HandleTimeout before the deadline moved it from %s to %s (armed=%v)", relTime(at), relTime(next), ok2)
	}
	if after := d.conn.Stats(); after.QueuedEvents != before.QueuedEvents || after.ConnErrors != before.ConnErrors {
		d.fail(PropTimerProgress, "HandleTimeout before the deadline queued events or errors")
	}
	d.drain()
}

// checkStats checks the Stats gauges against the Config limits.
func (d *Driver) checkStats(where string) {
	s := d.conn.Stats()
	c := &d.cfg
	bad := func(format string, args ...any) {
		d.fail(PropMemoryBounded, where+": "+format, args...)
	}
	if s.ActiveStreams > int(c.MaxConcurrentStreams) {
		bad("ActiveStreams %d > MaxConcurrentStreams %d", s.ActiveStreams, c.MaxConcurrentStreams)
	}
	if s.BufferedSendBytes > s.ActiveStreams*c.StreamSendBuffer {
		bad("BufferedSendBytes %d > %d streams × StreamSendBuffer %d", s.BufferedSendBytes, s.ActiveStreams, c.StreamSendBuffer)
	}
	if s.QueuedControlFrames > c.MaxQueuedControlFrames {
		bad("QueuedControlFrames %d > MaxQueuedControlFrames %d", s.QueuedControlFrames, c.MaxQueuedControlFrames)
	}
	if limit := 2*int(c.MaxHeaderListSize) + int(c.MaxFrameSize); s.HeaderBlockBytes > limit {
		bad("HeaderBlockBytes %d > 2×MaxHeaderListSize+MaxFrameSize = %d", s.HeaderBlockBytes, limit)
	}
	// Receive stops at OutputHighWater; one frame may overshoot it, and a
	// pull frames at most 64 KiB of body at a time.
	if limit := c.OutputHighWater + int(c.MaxFrameSize) + 64<<10; s.QueuedOutput > limit {
		bad("QueuedOutput %d > OutputHighWater+MaxFrameSize+64KiB = %d", s.QueuedOutput, limit)
	}
	// The documented backpressure: Receive stops while 1 MiB of request body
	// or 1024 events wait; one frame may overshoot.
	if limit := 1<<20 + int(c.MaxFrameSize); s.QueuedEventBytes > limit {
		bad("QueuedEventBytes %d > 1 MiB + MaxFrameSize", s.QueuedEventBytes)
	}
	if s.QueuedEvents > 1024+16 {
		bad("QueuedEvents %d > 1024 (+16)", s.QueuedEvents)
	}
	if where == "after drain" && (s.QueuedOutput != 0 || s.QueuedEvents != 0) {
		bad("QueuedOutput %d, QueuedEvents %d after a full drain", s.QueuedOutput, s.QueuedEvents)
	}
	if d.conn.Closed() && (s.ActiveStreams != 0 || s.BufferedSendBytes != 0 || s.HeaderBlockBytes != 0) {
		bad("closed connection still holds %d streams, %d send bytes, %d header bytes",
			s.ActiveStreams, s.BufferedSendBytes, s.HeaderBlockBytes)
	}
}
