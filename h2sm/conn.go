package h2sm

import (
	"time"

	"golang.org/x/net/http2/hpack"
)

// Phase is the connection's phase. It only moves forward.
type Phase uint8

// The phases of a connection.
const (
	// PhasePreface: waiting for the 24-byte client preface (RFC 9113 §3.4).
	PhasePreface Phase = iota
	// PhaseSettings: preface seen, waiting for the client's first SETTINGS.
	PhaseSettings
	// PhaseOpen: streams may be opened.
	PhaseOpen
	// PhaseGoAway: GOAWAY sent; in-flight streams are draining.
	PhaseGoAway
	// PhaseClosed: nothing more is read; the driver flushes what output is left
	// and closes the transport.
	PhaseClosed
)

var phaseNames = [...]string{"Preface", "Settings", "Open", "GoAway", "Closed"}

// String returns the phase's name, as in "Open".
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "Phase(?)"
}

// Conn is the server side of one HTTP/2 connection as a state machine. See
// the package documentation for the contract. A Conn is not safe for
// concurrent use.
type Conn struct {
	cfg        Config
	phase      Phase
	prefaceN   uint8     // bytes of the client preface matched so far (of 24)
	closedSent bool      // EventConnClosed queued
	epoch      time.Time // the now given to NewConn: instants count from it
	now        instant   // the latest time an input carried; never decreases

	// Input framing.
	inbuf []byte // a frame split across Receive calls (≤ 9 + MaxFrameSize)

	// Output: framed bytes not yet taken by the driver are out[outHead:].
	out        []byte
	outHead    int
	ctrlQueued int // control frames appended since the output was last empty

	// Events not yet returned by NextEvent are events[evHead:]. Their Fields
	// and Data point into the arenas, which are reset when the queue is empty
	// at the start of an input or command.
	events     []Event
	evHead     int
	fieldArena []HeaderField
	dataArena  []byte

	// HPACK, one decoder and one encoder for the connection's life.
	dec    *hpack.Decoder
	enc    *hpack.Encoder
	encBuf hbuf

	hb       *headerBlockState // the header block being received; nil before the first
	settings settingsState
	streams  streamsState
	inflow   inflow  // connection receive window
	outflow  outflow // connection send window
	goAway   goAwayState
	limits   limitsState
	ping     pingState
	timers   timers
	stats    counters
}

// NewConn returns a server connection in PhasePreface whose SETTINGS (and
// connection WINDOW_UPDATE) are already queued as output. now starts its
// clock. It returns an error wrapping ErrInvalidConfig when cfg holds a
// value the RFC does not allow.
func NewConn(now time.Time, cfg Config) (*Conn, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, epoch: now}
	// The HPACK decoder and encoder are made at the first header block each
	// way (decoder, encoder), so a connection that never carried a request
	// does not hold them.
	c.streams.init()
	c.settings.init()
	c.inflow.init(int32(cfg.ConnWindowSize))
	c.outflow.avail = initialWindowSize
	c.timers.setAfter(timerHandshake, c.now, cfg.HandshakeTimeout)
	c.settingsSendInitial(now)
	return c, nil
}

// inBlock reports whether a header block is being received (CONTINUATION
// expected).
func (c *Conn) inBlock() bool { return c.hb != nil && c.hb.active }

// decoder returns the HPACK decoder, made at the first header block.
func (c *Conn) decoder() *hpack.Decoder {
	if c.dec == nil {
		// RFC 7541 §4.2 and RFC 9113 §6.5.3: the peer's encoder starts with a
		// 4096-byte table and changes it only by a size update in a block; our
		// SETTINGS_HEADER_TABLE_SIZE bounds what it may choose. A larger limit
		// applies at once, a smaller one when the peer ACKs our SETTINGS.
		c.dec = hpack.NewDecoder(DefaultHeaderTableSize, c.onHeaderField)
		allowed := max(c.cfg.HeaderTableSize, DefaultHeaderTableSize)
		if c.settings.acked {
			allowed = c.cfg.HeaderTableSize
		}
		c.dec.SetAllowedMaxDynamicTableSize(allowed)
		c.dec.SetMaxStringLength(int(2 * c.cfg.MaxHeaderListSize))
	}
	return c.dec
}

// encoder returns the HPACK encoder, made at the first header block sent.
func (c *Conn) encoder() *hpack.Encoder {
	if c.enc == nil {
		c.enc = hpack.NewEncoder(&c.encBuf)
		c.enc.SetMaxDynamicTableSizeLimit(c.cfg.MaxEncoderTableSize)
	}
	return c.enc
}

// --- (A) getters ---

// Phase returns the connection's phase.
func (c *Conn) Phase() Phase { return c.phase }

// Closed reports whether the connection is in PhaseClosed.
func (c *Conn) Closed() bool { return c.phase == PhaseClosed }

// Config returns the connection's configuration with defaults filled in.
func (c *Conn) Config() Config { return c.cfg }

// --- (B) inputs ---

// Receive consumes bytes read from the transport and returns how many it
// consumed. It consumes fewer than len(p) only when its output or event
// queues are full (backpressure) or the connection closed: the driver then
// drains the outputs and offers the rest again. p is not retained.
func (c *Conn) Receive(now time.Time, p []byte) int {
	c.begin(now)
	n := c.receive(p)
	c.end()
	return n
}

// HandleTimeout runs the timers that are due at now. A call before the
// deadline is harmless.
func (c *Conn) HandleTimeout(now time.Time) {
	c.begin(now)
	for k := timerKind(0); k < numTimers; k++ {
		if c.timers.expired(k, c.now) {
			c.timers.stop(k)
			c.onTimer(k)
		}
	}
	c.end()
}

// Abort records that the transport failed (a read or write error, EOF): the
// connection goes to PhaseClosed without further output and the last event
// is EventConnClosed carrying err.
func (c *Conn) Abort(now time.Time, err error) {
	c.begin(now)
	c.closeNow(err)
	c.out, c.outHead = c.out[:0], 0
	c.end()
}

// --- (D) outputs ---

// Deadline returns the time at which HandleTimeout must next be called, and
// false when no timer is armed.
func (c *Conn) Deadline() (time.Time, bool) {
	at, ok := c.timers.next()
	if !ok {
		return time.Time{}, false
	}
	return c.epoch.Add(time.Duration(at)), true
}

// NextEvent returns the next event, and false when there is none.
func (c *Conn) NextEvent() (Event, bool) {
	if c.evHead == len(c.events) {
		return Event{}, false
	}
	e := c.events[c.evHead]
	c.events[c.evHead] = Event{}
	c.evHead++
	if c.evHead == len(c.events) {
		c.events, c.evHead = c.events[:0], 0
	}
	return e, true
}

// begin starts every input and command: time moves forward only, and the
// event arenas are recycled once every event in them was delivered.
func (c *Conn) begin(now time.Time) {
	if t := instant(now.Sub(c.epoch)); t > c.now {
		c.now = t
	}
	if c.evHead == len(c.events) {
		c.events, c.evHead = c.events[:0], 0
		c.dataArena = c.dataArena[:0]
		// A header block split across inputs keeps the fields decoded so far.
		keep := 0
		if c.inBlock() {
			keep = copy(c.fieldArena, c.fieldArena[c.hb.fieldStart:])
			c.hb.fieldStart = 0
		}
		clear(c.fieldArena[keep:])
		c.fieldArena = c.fieldArena[:keep]
	}
}

// end finishes every input and command: timers that depend on the whole
// state are re-evaluated.
func (c *Conn) end() {
	c.updateWriteStall()
	c.maybeFinishDrain()
	c.giveBack()
}

// pushEvent queues an event.
func (c *Conn) pushEvent(e Event) {
	if c.closedSent {
		return
	}
	if e.Kind == EventConnClosed {
		c.closedSent = true
	}
	c.events = append(c.events, e)
}

// queuedEvents is the number of events not yet returned by NextEvent.
func (c *Conn) queuedEvents() int { return len(c.events) - c.evHead }

// onTimer handles the expiry of timer k.
func (c *Conn) onTimer(k timerKind) {
	switch k {
	case timerHandshake:
		if c.phase < PhaseOpen {
			c.connError(connErr(ErrCodeProtocol, "handshake timeout"))
		}
	case timerSettingsAck:
		c.connError(connErr(ErrCodeSettingsTimeout, "SETTINGS ACK timeout (§6.5.3)"))
	case timerHeaderBlock:
		c.connError(connErr(ErrCodeEnhanceYourCalm, "header block not completed in time"))
	case timerWriteStall:
		c.onWriteStall()
	case timerStreamStall:
		c.onStreamStall()
	case timerPingTimeout:
		c.connError(connErr(ErrCodeNo, "keepalive PING not answered"))
	case timerPing:
		c.pingKeepalive()
	case timerShutdownPing:
		c.goAwayFinal()
	case timerDrain:
		c.connError(connErr(ErrCodeNo, "drain timeout"))
	case timerIdle:
		if c.inBlock() {
			// A request is arriving: not idle. Look again later.
			c.timers.setAfter(timerIdle, c.now, c.cfg.IdleTimeout)
			return
		}
		if c.phase == PhaseOpen && c.streams.active == 0 {
			c.stats.countError("idle timeout")
			c.goAwaySend(c.streams.maxClientID, ErrCodeNo, "")
			c.closeNow(nil)
		}
	}
}
