package memory

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// maxReadFrameSize is what the client's decoding Framer accepts: everything
// the 24-bit length field can say. The limit the client advertised is
// checked separately, as an oracle.
const maxReadFrameSize = 1<<24 - 1

// maxPull bounds the output one drain takes, so that a Conn that never stops
// producing fails the test instead of hanging it.
const maxPull = 1 << 28

// An Option configures a Peer.
type Option func(*peerOptions)

type peerOptions struct {
	config   []func(*h2sm.Config)
	settings []http2.Setting
	log      io.Writer
	reading  bool
}

// WithConfig lets f change the h2sm.Config the Conn is created with. Several
// WithConfig options apply in order.
func WithConfig(f func(*h2sm.Config)) Option {
	return func(o *peerOptions) { o.config = append(o.config, f) }
}

// WithSettings sets the client's SETTINGS that Handshake sends. Without it,
// Handshake sends an empty SETTINGS frame (every value at its RFC default).
func WithSettings(s ...http2.Setting) Option {
	return func(o *peerOptions) { o.settings = append(o.settings[:0:0], s...) }
}

// WithLog writes every trace line to w as it happens, in addition to the
// in-memory trace. It is meant for debugging (os.Stderr); w must not fail.
func WithLog(w io.Writer) Option {
	return func(o *peerOptions) { o.log = w }
}

// WithReading sets whether the client reads the server's output from the
// start (the default is true). See Peer.SetReading.
func WithReading(on bool) Option {
	return func(o *peerOptions) { o.reading = on }
}

// Peer is the client side of a connection to an h2sm.Conn, driven by a test.
// It owns the Conn, a virtual clock, the client's frame and HPACK codec, the
// queues of frames and events the test has not read yet, and the trace. A
// Peer is not safe for concurrent use.
type Peer struct {
	t     testing.TB
	clock Clock
	conn  *h2sm.Conn
	opts  peerOptions

	reading bool   // the client reads the server's output (AppendOutgoing)
	in      []byte // written by the client, not yet consumed by Receive

	// Client encoding: frames go to wbuf, header blocks to encBuf.
	fw     *http2.Framer
	wbuf   bytes.Buffer
	enc    *hpack.Encoder
	encBuf bytes.Buffer

	// Decoding the server's output (the oracle).
	raw      []byte        // taken from the Conn, not yet split into frames
	src      frameSource   // feeds one frame at a time to fr
	fr       *http2.Framer // strict: rejects illegal frame sequences
	dec      *hpack.Decoder
	block    []byte // the header block being collected
	frames   []outFrame
	fhead    int
	events   []h2sm.Event
	ehead    int
	closedEv bool       // EventConnClosed was seen
	limits   peerLimits // what the client allowed the server

	intrace inputTrace // decodes the client's own bytes for the trace

	armed    bool // the Conn's Deadline, as last seen
	deadline time.Time
	trace    []string
}

// NewPeer returns a Peer whose Conn was created at Epoch with the
// configuration the options give; the server's first SETTINGS are already
// read (unless WithReading(false)). At t.Cleanup, a frame or event the test
// did not read fails the test, and if the test failed the trace is logged.
//
// The Peer calls only the Helper, Cleanup, Errorf, Fatalf, Failed and Log
// methods of t, so a test may pass its own testing.TB; Fatalf must not
// return (testing.T calls runtime.Goexit).
func NewPeer(t testing.TB, opts ...Option) *Peer {
	t.Helper()
	p := &Peer{t: t, opts: peerOptions{reading: true}}
	for _, o := range opts {
		o(&p.opts)
	}
	var cfg h2sm.Config
	for _, f := range p.opts.config {
		f(&cfg)
	}
	c, err := h2sm.NewConn(p.clock.Now(), cfg)
	if err != nil {
		t.Fatalf("memory: h2sm.NewConn: %v", err)
		return nil
	}
	p.conn = c
	p.reading = p.opts.reading

	p.fw = http2.NewFramer(&p.wbuf, nil)
	p.fw.AllowIllegalWrites = true
	p.enc = hpack.NewEncoder(&p.encBuf)

	p.fr = http2.NewFramer(nil, &p.src)
	p.fr.SetMaxReadFrameSize(maxReadFrameSize)
	p.dec = hpack.NewDecoder(initialTableSize, nil)
	p.limits.init()
	p.intrace.init()

	t.Cleanup(p.cleanup)
	p.tracef("new conn (reading=%v)", p.reading)
	p.drain()
	return p
}

// Conn returns the connection under test, for its getters (Phase, Stats,
// Config). Inputs and commands called on it directly are not drained: use
// Do for those.
func (p *Peer) Conn() *h2sm.Conn { return p.conn }

// Now returns the virtual time.
func (p *Peer) Now() time.Time { return p.clock.Now() }

// Elapsed returns the virtual time since Epoch.
func (p *Peer) Elapsed() time.Duration { return p.clock.Elapsed() }

// SetReading sets whether the client reads the server's output. While it
// does not, AppendOutgoing is not called, so output piles up in the Conn
// (backpressure, floods, write stalls), and input the Conn does not consume
// stays queued in the Peer. Turning reading back on drains at once.
func (p *Peer) SetReading(on bool) {
	p.t.Helper()
	if on == p.reading {
		return
	}
	p.reading = on
	p.tracef("client reading=%v", on)
	p.drain()
}

// Reading reports whether the client reads the server's output.
func (p *Peer) Reading() bool { return p.reading }

// PendingInput returns how many bytes the client wrote that the Conn has not
// consumed yet (it refuses input under backpressure).
func (p *Peer) PendingInput() int { return len(p.in) }

// Advance moves the clock forward by d. On the way it stops at every
// deadline the Conn reports, calls HandleTimeout there and drains, as a
// punctual driver would. It fails the test if a timer spins (stays armed at
// or before the time it was just handled at) or d is negative.
func (p *Peer) Advance(d time.Duration) {
	p.t.Helper()
	if d < 0 {
		p.t.Fatalf("memory: Advance(%v): negative duration", d)
		return
	}
	target := p.clock.Now().Add(d)
	for {
		at, ok := p.conn.Deadline()
		if !ok || at.After(target) {
			break
		}
		if !p.fire(at) {
			return
		}
	}
	p.clock.Set(target)
}

// AdvanceToTimer moves the clock to the Conn's deadline, calls HandleTimeout
// and drains. It returns how far the clock moved. It fails the test if no
// timer is armed, or if a timer spins (is armed again at or before the time
// it was just handled at).
func (p *Peer) AdvanceToTimer() time.Duration {
	p.t.Helper()
	at, ok := p.conn.Deadline()
	if !ok {
		p.t.Fatalf("memory: AdvanceToTimer: no timer is armed")
		return 0
	}
	before := p.clock.Elapsed()
	p.fire(at)
	return p.clock.Elapsed() - before
}

// fire moves the clock to at (never backwards), runs HandleTimeout and
// drains. It reports false after failing the test for a spinning timer.
func (p *Peer) fire(at time.Time) bool {
	p.t.Helper()
	p.clock.Set(at)
	now := p.clock.Now()
	p.tracef("timer fired")
	p.conn.HandleTimeout(now)
	p.drain()
	if next, ok := p.conn.Deadline(); ok && !next.After(now) {
		p.t.Fatalf("memory: timer spinning: HandleTimeout(%s) left a deadline at %s",
			relTime(now), relTime(next))
		return false
	}
	return true
}

// --- application commands ---

// Do runs f, which may call any input or command of the Conn with now, the
// virtual time, and drains afterwards. It is the way to test a command's
// error results, which the other wrappers turn into test failures.
func (p *Peer) Do(f func(c *h2sm.Conn, now time.Time)) {
	p.t.Helper()
	p.tracef("app Do")
	f(p.conn, p.clock.Now())
	p.drain()
}

// SendHeaders calls the Conn's WriteHeaders (response headers, or trailers
// after them) and drains. An error fails the test.
func (p *Peer) SendHeaders(id h2sm.StreamID, fields []h2sm.HeaderField, end bool) {
	p.t.Helper()
	err := p.conn.WriteHeaders(p.clock.Now(), id, fields, end)
	p.tracef("app WriteHeaders stream=%d%s%s%s", id, flagName(end, " END_STREAM"), renderFields(fields), renderErr(err))
	p.drain()
	if err != nil {
		p.t.Fatalf("memory: WriteHeaders(stream %d): %v", id, err)
	}
}

// Respond sends response headers with the given status followed by fields,
// as SendHeaders does.
func (p *Peer) Respond(id h2sm.StreamID, status int, end bool, fields ...h2sm.HeaderField) {
	p.t.Helper()
	all := make([]h2sm.HeaderField, 0, 1+len(fields))
	all = append(all, h2sm.HeaderField{Name: ":status", Value: fmt.Sprint(status)})
	p.SendHeaders(id, append(all, fields...), end)
}

// SendData calls the Conn's WriteData, drains, and returns how many bytes
// the Conn accepted. An error fails the test.
func (p *Peer) SendData(id h2sm.StreamID, data []byte, end bool) int {
	p.t.Helper()
	n, err := p.conn.WriteData(p.clock.Now(), id, data, end)
	p.tracef("app WriteData stream=%d len=%d%s accepted=%d%s", id, len(data), flagName(end, " END_STREAM"), n, renderErr(err))
	p.drain()
	if err != nil {
		p.t.Fatalf("memory: WriteData(stream %d): %v", id, err)
	}
	return n
}

// Reset calls the Conn's ResetStream and drains. An error fails the test.
func (p *Peer) Reset(id h2sm.StreamID, code h2sm.ErrCode) {
	p.t.Helper()
	err := p.conn.ResetStream(p.clock.Now(), id, code)
	p.tracef("app ResetStream stream=%d %v%s", id, code, renderErr(err))
	p.drain()
	if err != nil {
		p.t.Fatalf("memory: ResetStream(stream %d): %v", id, err)
	}
}

// Consumed calls the Conn's Consumed and drains.
func (p *Peer) Consumed(id h2sm.StreamID, n int) {
	p.t.Helper()
	p.tracef("app Consumed stream=%d n=%d", id, n)
	p.conn.Consumed(p.clock.Now(), id, n)
	p.drain()
}

// Shutdown calls the Conn's Shutdown (graceful) and drains.
func (p *Peer) Shutdown() {
	p.t.Helper()
	p.tracef("app Shutdown")
	p.conn.Shutdown(p.clock.Now())
	p.drain()
}

// GoAwayConn calls the Conn's GoAway and drains.
func (p *Peer) GoAwayConn(code h2sm.ErrCode, debug string) {
	p.t.Helper()
	p.tracef("app GoAway %v %q", code, debug)
	p.conn.GoAway(p.clock.Now(), code, debug)
	p.drain()
}

// CloseConn calls the Conn's Close and drains.
func (p *Peer) CloseConn() {
	p.t.Helper()
	p.tracef("app Close")
	p.conn.Close(p.clock.Now())
	p.drain()
}

// AbortConn calls the Conn's Abort with err (a transport failure) and drains.
func (p *Peer) AbortConn(err error) {
	p.t.Helper()
	p.tracef("app Abort%s", renderErr(err))
	p.conn.Abort(p.clock.Now(), err)
	p.drain()
}

// --- the driver ---

// drain feeds the queued input to the Conn and collects its outputs, as an
// adapter must after every input and command: Receive, then AppendOutgoing,
// Deadline and NextEvent, offering again the input Receive left (it does so
// under backpressure) as long as that makes progress.
func (p *Peer) drain() {
	p.t.Helper()
	for {
		n := 0
		if len(p.in) > 0 && !p.conn.Closed() {
			n = p.conn.Receive(p.clock.Now(), p.in)
			if n < 0 || n > len(p.in) {
				p.t.Fatalf("memory: Receive returned %d for %d bytes", n, len(p.in))
				return
			}
			if n < len(p.in) {
				p.tracef("   Receive took %d of %d bytes", n, len(p.in))
			}
			p.in = append(p.in[:0], p.in[n:]...)
		}
		took := p.pull()
		if len(p.in) == 0 || n == 0 && !took {
			break
		}
	}
	if p.conn.Closed() && len(p.in) > 0 {
		p.tracef("   %d bytes of input dropped: connection closed", len(p.in))
		p.in = p.in[:0]
	}
}

// pull collects the Conn's outputs in the contract's order and reports
// whether it took anything.
func (p *Peer) pull() bool {
	p.t.Helper()
	took := false
	if p.reading {
		total := 0
		for {
			n := len(p.raw)
			p.raw = p.conn.AppendOutgoing(p.raw)
			if len(p.raw) == n {
				break
			}
			took = true
			if total += len(p.raw) - n; total > maxPull {
				p.t.Fatalf("memory: AppendOutgoing returned more than %d bytes without stopping", maxPull)
				return false
			}
		}
		p.decodeOutput()
	}
	if at, ok := p.conn.Deadline(); ok != p.armed || !at.Equal(p.deadline) {
		p.armed, p.deadline = ok, at
		if ok {
			p.tracef("   deadline %s", relTime(at))
		} else {
			p.tracef("   deadline none")
		}
	}
	for {
		ev, ok := p.conn.NextEvent()
		if !ok {
			break
		}
		took = true
		p.pushEvent(ev)
	}
	return took
}

// pushEvent queues a copy of ev (its slices are valid only until the next
// call on the Conn) and checks the event oracles.
func (p *Peer) pushEvent(ev h2sm.Event) {
	p.t.Helper()
	ev.Fields = append([]h2sm.HeaderField(nil), ev.Fields...)
	if ev.Data != nil {
		ev.Data = append([]byte{}, ev.Data...)
	}
	p.tracef("ev %s", renderEvent(ev))
	if p.closedEv {
		p.t.Errorf("memory: event after EventConnClosed: %s", renderEvent(ev))
	}
	switch ev.Kind {
	case h2sm.EventRequest, h2sm.EventData, h2sm.EventTrailers, h2sm.EventStreamReset,
		h2sm.EventStreamWritable, h2sm.EventGoAwayReceived:
	case h2sm.EventConnClosed:
		p.closedEv = true
	default:
		p.t.Errorf("memory: unknown event kind %v: the harness needs updating", ev.Kind)
	}
	p.events = append(p.events, ev)
}

// cleanup runs at the end of the test.
func (p *Peer) cleanup() {
	if !p.t.Failed() {
		if left := p.unread(); len(left) > 0 {
			p.t.Errorf("memory: the test ended with %d unread frames or events (call Discard to drop them on purpose):\n\t%s",
				len(left), strings.Join(left, "\n\t"))
		}
	}
	if p.t.Failed() {
		p.t.Log("memory: trace:\n" + p.Trace())
	}
}

// unread lists the frames and events nobody read.
func (p *Peer) unread() []string {
	var left []string
	for _, f := range p.frames[p.fhead:] {
		left = append(left, "<- "+f.line)
	}
	if len(p.raw) > 0 {
		left = append(left, fmt.Sprintf("<- %d bytes of a partial frame", len(p.raw)))
	}
	for _, ev := range p.events[p.ehead:] {
		left = append(left, "ev "+renderEvent(ev))
	}
	return left
}
