package h2sm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// This file holds the driver that the fuzz targets (fuzz_test.go) and the
// connection-level tests of frame_test.go, validate_test.go, timers_test.go
// and config_test.go share. The driver is the reference adapter: after every input or command it drains the outputs in
// the documented order (AppendOutgoing, Deadline, NextEvent), re-offers
// input that Receive did not consume, and checks the invariants that must
// hold whatever the peer sends. The server's output is parsed with
// golang.org/x/net/http2's Framer, an independent oracle.

// testEpoch is the fixed start of every test clock. Tests never read the
// real clock.
var testEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// outputSlack is how far one input may push the queued output past the
// high-water mark beyond the 2×(MaxFrameSize+9) the bound already allows.
// Receive checks the mark before each frame, so one frame's worth of output
// can follow: at most a GOAWAY whose debug data is a constant reason (< 200
// bytes), an RST_STREAM, four WINDOW_UPDATEs (padding and data credit for
// the connection and the stream), a SETTINGS or PING ACK and a 431 HEADERS
// (< 20 bytes). A pull (Outgoing) frames DATA up to min(64 KiB,
// OutputHighWater) plus one DATA frame of at most StreamSendBuffer bytes
// and one trailer block; every fuzz config keeps StreamSendBuffer ≤
// 2×MaxFrameSize so that this fits too. 1 KiB covers the small frames with
// a wide margin.
const outputSlack = 1024

// --- peer-side frame encoder (independent of frame.go) ---

func wireFrame(typ, flags uint8, stream uint32, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	b := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags,
		byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func wireSettings(kv ...uint32) []byte {
	var p []byte
	for i := 0; i+1 < len(kv); i += 2 {
		p = binary.BigEndian.AppendUint16(p, uint16(kv[i]))
		p = binary.BigEndian.AppendUint32(p, kv[i+1])
	}
	return wireFrame(0x4, 0, 0, p)
}

func wireSettingsAck() []byte { return wireFrame(0x4, 0x1, 0, nil) }

func wirePing(ack bool, v uint64) []byte {
	flags := uint8(0)
	if ack {
		flags = 0x1
	}
	return wireFrame(0x6, flags, 0, binary.BigEndian.AppendUint64(nil, v))
}

func wireWindowUpdate(stream, incr uint32) []byte { return wireFrame(0x8, 0, stream, be32(incr)) }

func wireRST(stream uint32, code uint32) []byte { return wireFrame(0x3, 0, stream, be32(code)) }

func wireGoAway(last, code uint32, debug string) []byte {
	return wireFrame(0x7, 0, 0, be32(last), be32(code), []byte(debug))
}

func wireData(stream uint32, data []byte, end bool) []byte {
	flags := uint8(0)
	if end {
		flags = 0x1
	}
	return wireFrame(0x0, flags, stream, data)
}

// wireHeaders frames a header block as HEADERS plus CONTINUATIONs of at
// most maxFrame bytes.
func wireHeaders(stream uint32, block []byte, end bool, maxFrame int) []byte {
	typ, flags := uint8(0x1), uint8(0)
	if end {
		flags = 0x1
	}
	var b []byte
	for {
		n := min(len(block), maxFrame)
		f := flags
		if n == len(block) {
			f |= 0x4
		}
		b = append(b, wireFrame(typ, f, stream, block[:n])...)
		block = block[n:]
		if len(block) == 0 {
			return b
		}
		typ, flags = 0x9, 0
	}
}

// wireContinuations frames the rest of a header block as CONTINUATIONs of
// at most maxFrame bytes, the last with END_HEADERS.
func wireContinuations(stream uint32, rest []byte, maxFrame int) []byte {
	var b []byte
	for len(rest) > 0 {
		n := min(len(rest), maxFrame)
		f := uint8(0)
		if n == len(rest) {
			f = 0x4
		}
		b = append(b, wireFrame(0x9, f, stream, rest[:n])...)
		rest = rest[n:]
	}
	return b
}

// hpackBlock encodes fields given as name, value pairs.
func hpackBlock(enc *hpack.Encoder, buf *bytes.Buffer, nv ...string) []byte {
	buf.Reset()
	for i := 0; i+1 < len(nv); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: nv[i], Value: nv[i+1]})
	}
	return bytes.Clone(buf.Bytes())
}

// clientHandshake is the client preface, an empty SETTINGS and the ACK of
// the server's SETTINGS.
func clientHandshake() []byte {
	b := []byte(clientPreface)
	b = append(b, wireSettings()...)
	return append(b, wireSettingsAck()...)
}

// getRequest is a minimal valid GET.
var getRequest = []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "example.com"}

// --- the server's output, parsed by the x/net oracle ---

// srvFrame is a copy of one frame the server sent.
type srvFrame struct {
	Type     http2.FrameType
	Flags    http2.Flags
	Stream   uint32
	Code     http2.ErrCode // RST_STREAM, GOAWAY
	Last     uint32        // GOAWAY
	Debug    string        // GOAWAY
	Incr     uint32        // WINDOW_UPDATE
	Data     []byte        // DATA, PING
	End      int           // offset just past the frame in the output
	Fields   []hpack.HeaderField
	Settings []http2.Setting
}

func (f srvFrame) end() bool {
	return (f.Type == http2.FrameData || f.Type == http2.FrameHeaders) && f.Flags.Has(http2.FlagDataEndStream)
}

func (f srvFrame) String() string {
	switch f.Type {
	case http2.FrameRSTStream:
		return fmt.Sprintf("RST_STREAM stream=%d %v", f.Stream, f.Code)
	case http2.FrameGoAway:
		return fmt.Sprintf("GOAWAY last=%d %v %q", f.Last, f.Code, f.Debug)
	case http2.FrameHeaders:
		return fmt.Sprintf("HEADERS stream=%d end=%v %v", f.Stream, f.end(), f.Fields)
	case http2.FrameData:
		return fmt.Sprintf("DATA stream=%d end=%v len=%d", f.Stream, f.end(), len(f.Data))
	default:
		return fmt.Sprintf("%v flags=%#x stream=%d", f.Type, f.Flags, f.Stream)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// readServerFrames parses everything the server wrote with x/net's Framer,
// decoding header blocks with x/net's HPACK decoder. maxTable is the
// largest dynamic table the server's encoder may use.
func readServerFrames(wire []byte, maxTable uint32) ([]srvFrame, error) {
	cr := &countingReader{r: bytes.NewReader(wire)}
	fr := http2.NewFramer(nil, cr)
	fr.SetMaxReadFrameSize(1<<24 - 1)
	fr.MaxHeaderListSize = 1 << 30
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.ReadMetaHeaders.SetAllowedMaxDynamicTableSize(max(4096, maxTable))
	var out []srvFrame
	for {
		start := cr.n
		f, err := fr.ReadFrame()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("frame %d (near byte %d of %d): %w", len(out), start, len(wire), err)
		}
		h := f.Header()
		sf := srvFrame{Type: h.Type, Flags: h.Flags, Stream: h.StreamID}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.Truncated {
				return out, fmt.Errorf("frame %d: header block truncated", len(out))
			}
			sf.Fields = f.Fields
			if f.StreamEnded() {
				sf.Flags |= http2.FlagHeadersEndStream
			}
		case *http2.DataFrame:
			sf.Data = bytes.Clone(f.Data())
		case *http2.RSTStreamFrame:
			sf.Code = f.ErrCode
		case *http2.GoAwayFrame:
			sf.Code, sf.Last, sf.Debug = f.ErrCode, f.LastStreamID, string(f.DebugData())
		case *http2.WindowUpdateFrame:
			sf.Incr = f.Increment
		case *http2.PingFrame:
			sf.Data = bytes.Clone(f.Data[:])
		case *http2.SettingsFrame:
			_ = f.ForeachSetting(func(s http2.Setting) error {
				sf.Settings = append(sf.Settings, s)
				return nil
			})
		}
		sf.End = cr.n
		out = append(out, sf)
	}
}

// checkServerFrames checks rules about the server's own frames that the
// Framer cannot see, because they span frames.
func checkServerFrames(frames []srvFrame) error {
	if len(frames) == 0 {
		return nil
	}
	// RFC 9113 §3.4: "The server connection preface consists of a
	// potentially empty SETTINGS frame ... that MUST be the first frame the
	// server sends in the HTTP/2 connection."
	if f := frames[0]; f.Type != http2.FrameSettings || f.Flags.Has(http2.FlagSettingsAck) {
		return fmt.Errorf("first frame is %v, want SETTINGS", f)
	}
	ended := map[uint32]bool{}
	reset := map[uint32]bool{}
	var goAwayLast uint32 = 1<<31 - 1
	for i, f := range frames {
		switch f.Type {
		case http2.FrameData, http2.FrameHeaders:
			// A server that never pushes sends messages only on client
			// streams. (RST_STREAM may answer a stream error on any stream,
			// see error/priority-frame-size.json in frame_test.go.)
			if f.Stream == 0 || f.Stream%2 == 0 {
				return fmt.Errorf("frame %d: %v on a stream the client cannot have opened", i, f)
			}
		}
		if f.Stream != 0 && f.Type != http2.FramePriority && f.Type != http2.FrameRSTStream && reset[f.Stream] {
			// §5.1 closed: "An endpoint MUST NOT send frames other than
			// PRIORITY on a closed stream." A further RST_STREAM is allowed
			// by §5.4.2 ("MAY send additional RST_STREAM frames if it
			// receives frames on a closed stream after more than a
			// round-trip time"), which the output alone cannot judge; see
			// TestConnPriorityOnResetStream.
			return fmt.Errorf("frame %d: %v after RST_STREAM on the stream", i, f)
		}
		if (f.Type == http2.FrameData || f.Type == http2.FrameHeaders) && ended[f.Stream] {
			// §5.1 half-closed (local): no HEADERS or DATA after END_STREAM.
			return fmt.Errorf("frame %d: %v after END_STREAM on the stream", i, f)
		}
		if f.end() {
			ended[f.Stream] = true
		}
		if f.Type == http2.FrameRSTStream {
			reset[f.Stream] = true
		}
		if f.Type == http2.FrameGoAway {
			// §6.8: "Endpoints MUST NOT increase the value they send in the
			// last stream identifier".
			if f.Last > goAwayLast {
				return fmt.Errorf("frame %d: %v raises the last stream id above %d", i, f, goAwayLast)
			}
			goAwayLast = f.Last
		}
		if f.Type == http2.FrameWindowUpdate && f.Incr == 0 {
			return fmt.Errorf("frame %d: WINDOW_UPDATE with increment 0", i)
		}
	}
	return nil
}

// --- the driver ---

// connDriver drives one Conn as an adapter must and checks invariants.
type connDriver struct {
	t   testing.TB
	c   *Conn
	cfg Config // normalized
	now time.Time

	wire     []byte // every byte taken from the Conn
	clientIn []byte // every byte the client sent
	consumed int    // bytes of clientIn that Receive consumed

	// After each full AppendOutgoing: how much output had been taken and
	// how much input consumed. DATA is framed only when output is pulled, so
	// this says which client frames the Conn had processed when it framed
	// each DATA frame (exact unless partial writes were used).
	checkpoints []checkpoint
	partialUsed bool
	events      []Event // every event, slices copied
	inq         []byte  // input Receive has not consumed yet

	blocked bool // the transport takes no output
	partial int  // > 0: the transport takes at most this many bytes per drain
	chunk   int  // > 0: Receive is offered at most this many bytes at a time
	aborted bool

	// Event-sequence bookkeeping.
	requested map[StreamID]bool // EventRequest seen
	peerEnded map[StreamID]bool // EndStream seen
	gone      map[StreamID]bool // EventStreamReset seen or ResetStream succeeded
	closedEvs int

	closedProduced int64 // BytesOut+QueuedOutput when Closed was first seen, -1 before
}

func newConnDriver(t testing.TB, cfg Config) *connDriver {
	t.Helper()
	c, err := NewConn(testEpoch, cfg)
	if err != nil {
		t.Fatalf("NewConn: %v", err)
	}
	d := &connDriver{
		t: t, c: c, cfg: c.Config(), now: testEpoch,
		requested: map[StreamID]bool{}, peerEnded: map[StreamID]bool{}, gone: map[StreamID]bool{},
		closedProduced: -1,
	}
	d.drain()
	return d
}

func (d *connDriver) fatalf(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf(format+"\n%s", append(args, d.trace())...)
}

// trace renders what happened, for failure messages.
func (d *connDriver) trace() string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %v, %d bytes out, events:\n", d.c.Phase(), len(d.wire))
	for _, e := range d.events {
		fmt.Fprintf(&b, "  ev %v stream=%d end=%v err=%v\n", e.Kind, e.Stream, e.EndStream, e.Err)
	}
	frames, err := readServerFrames(d.wire, d.cfg.MaxEncoderTableSize)
	for _, f := range frames {
		fmt.Fprintf(&b, "  -> %v\n", f)
	}
	if err != nil {
		fmt.Fprintf(&b, "  parse error: %v\n", err)
	}
	return b.String()
}

// bound is the largest QueuedOutput a peer can cause.
func (d *connDriver) bound() int {
	return d.cfg.OutputHighWater + 2*(int(d.cfg.MaxFrameSize)+frameHeaderLen) + outputSlack
}

// checkStats checks the gauges right after an input or command, before the
// outputs are drained. outBefore is the queued output before the call;
// appDriven calls (WriteHeaders) may add the application's own header block
// beyond the bound.
func (d *connDriver) checkStats(what string, outBefore int, appDriven bool) {
	d.t.Helper()
	s := d.c.Stats()
	cfg := d.cfg
	if !appDriven && s.QueuedOutput > max(outBefore, d.bound()) {
		d.fatalf("after %s: QueuedOutput %d > max(before %d, bound %d)", what, s.QueuedOutput, outBefore, d.bound())
	}
	if s.ActiveStreams < 0 || s.ActiveStreams > int(cfg.MaxConcurrentStreams) {
		d.fatalf("after %s: ActiveStreams %d outside [0, %d]", what, s.ActiveStreams, cfg.MaxConcurrentStreams)
	}
	// The control-frame counter may read one over the limit on the
	// overflow that closes the connection: see
	// TestConnStatsQueuedControlFramesOverLimit.
	if limit := cfg.MaxQueuedControlFrames; s.QueuedControlFrames > limit && !(d.c.Closed() && s.QueuedControlFrames == limit+1) {
		d.fatalf("after %s: QueuedControlFrames %d > MaxQueuedControlFrames %d", what, s.QueuedControlFrames, limit)
	}
	if s.HeaderBlockBytes > 2*int(cfg.MaxHeaderListSize)+int(cfg.MaxFrameSize) {
		d.fatalf("after %s: HeaderBlockBytes %d over 2×MaxHeaderListSize+MaxFrameSize", what, s.HeaderBlockBytes)
	}
	if s.QueuedEvents > maxQueuedEventsSoft+8 || s.QueuedEventBytes > maxQueuedDataSoft+int(cfg.MaxFrameSize) {
		d.fatalf("after %s: %d events / %d bytes queued", what, s.QueuedEvents, s.QueuedEventBytes)
	}
	if s.BufferedSendBytes > s.ActiveStreams*cfg.StreamSendBuffer {
		d.fatalf("after %s: BufferedSendBytes %d > %d streams × %d", what, s.BufferedSendBytes, s.ActiveStreams, cfg.StreamSendBuffer)
	}
	if s.QueuedOutput < 0 || s.QueuedControlFrames < 0 || s.QueuedEvents < 0 {
		d.fatalf("after %s: negative gauge in %+v", what, s)
	}
	// Once closed, nothing new is produced (what was queued may still be taken).
	if d.c.Closed() && !d.aborted {
		produced := int64(s.BytesOut) + int64(s.QueuedOutput)
		if d.closedProduced < 0 {
			d.closedProduced = produced
		} else if produced != d.closedProduced {
			d.fatalf("after %s: output grew from %d to %d bytes after the connection closed", what, d.closedProduced, produced)
		}
	}
}

// drain takes the outputs in the documented order: AppendOutgoing,
// Deadline, NextEvent.
func (d *connDriver) drain() {
	d.t.Helper()
	switch {
	case d.blocked:
	case d.partial > 0:
		d.partialUsed = true
		before := d.c.pendingOut()
		p := d.c.Outgoing()
		d.checkStats("Outgoing", before, false)
		k := min(len(p), d.partial)
		d.wire = append(d.wire, p[:k]...)
		d.c.Advance(k)
	default:
		before := d.c.pendingOut()
		n := len(d.wire)
		d.wire = d.c.AppendOutgoing(d.wire)
		if s := d.c.Stats(); s.QueuedOutput != 0 {
			d.fatalf("AppendOutgoing left %d bytes queued", s.QueuedOutput)
		}
		if len(d.wire)-n < before {
			d.fatalf("AppendOutgoing returned %d bytes, %d were queued", len(d.wire)-n, before)
		}
		d.checkpoints = append(d.checkpoints, checkpoint{wire: len(d.wire), client: d.consumed})
	}
	if dl, ok := d.c.Deadline(); ok && dl.IsZero() {
		d.fatalf("Deadline() = zero time, true")
	}
	for {
		e, ok := d.c.NextEvent()
		if !ok {
			break
		}
		d.event(e)
	}
}

// event checks one event against the ones before it and records a copy.
func (d *connDriver) event(e Event) {
	d.t.Helper()
	e.Fields = append([]HeaderField(nil), e.Fields...)
	e.Data = bytes.Clone(e.Data)
	d.events = append(d.events, e)
	if d.closedEvs > 0 {
		d.fatalf("event %v after EventConnClosed", e.Kind)
	}
	id := e.Stream
	switch e.Kind {
	case EventRequest:
		if id%2 == 0 || d.requested[id] {
			d.fatalf("EventRequest on stream %d: even or repeated", id)
		}
		d.requested[id] = true
		for _, f := range e.Fields {
			if !validName(f.Name) || !validValue(f.Value) || connectionSpecific(f.Name) {
				d.fatalf("EventRequest carries an invalid field %q: %q", f.Name, f.Value)
			}
		}
	case EventData, EventTrailers:
		if !d.requested[id] || d.peerEnded[id] || d.gone[id] {
			d.fatalf("%v on stream %d: requested=%v ended=%v gone=%v", e.Kind, id, d.requested[id], d.peerEnded[id], d.gone[id])
		}
		if e.Kind == EventTrailers && !e.EndStream {
			d.fatalf("EventTrailers without EndStream")
		}
		if e.Kind == EventData && len(e.Data) == 0 && !e.EndStream {
			d.fatalf("empty EventData without EndStream")
		}
	case EventStreamReset:
		var se *StreamError
		if !d.requested[id] || d.gone[id] || !errors.As(e.Err, &se) || se.Stream != id {
			d.fatalf("EventStreamReset on stream %d: requested=%v gone=%v err=%v", id, d.requested[id], d.gone[id], e.Err)
		}
		d.gone[id] = true
	case EventStreamWritable:
		if !d.requested[id] || d.gone[id] {
			d.fatalf("EventStreamWritable on stream %d: requested=%v gone=%v", id, d.requested[id], d.gone[id])
		}
	case EventGoAwayReceived:
		var ce *ConnError
		if !errors.As(e.Err, &ce) || !ce.Remote {
			d.fatalf("EventGoAwayReceived err = %v, want a remote *ConnError", e.Err)
		}
	case EventConnClosed:
		d.closedEvs++
		if !d.c.Closed() {
			d.fatalf("EventConnClosed while the phase is %v", d.c.Phase())
		}
	default:
		d.fatalf("unknown event kind %v", e.Kind)
	}
	if e.EndStream {
		d.peerEnded[id] = true
	}
}

// receive offers p (after any input not yet consumed) to Receive, draining
// after each call and re-offering what was not consumed, as an adapter must.
func (d *connDriver) receive(p []byte) {
	d.t.Helper()
	d.clientIn = append(d.clientIn, p...)
	d.inq = append(d.inq, p...)
	stalls := 0
	for len(d.inq) > 0 && !d.c.Closed() {
		in := d.inq
		if d.chunk > 0 && len(in) > d.chunk {
			in = in[:d.chunk]
		}
		before := d.c.pendingOut()
		n := d.c.Receive(d.now, in)
		if n < 0 || n > len(in) {
			d.fatalf("Receive(%d bytes) = %d", len(in), n)
		}
		d.consumed += n
		d.inq = d.inq[n:]
		d.checkStats("Receive", before, false)
		d.drain()
		if n > 0 {
			stalls = 0
			continue
		}
		if d.c.Closed() || d.blocked {
			break // the adapter waits for the transport
		}
		if d.partial > 0 {
			// The adapter waits until the transport has taken everything.
			partial := d.partial
			d.partial = 0
			d.drain()
			d.partial = partial
		}
		// Once every output was taken, Receive must make progress.
		stalls++
		if stalls > 1 {
			d.fatalf("Receive consumed nothing of %d bytes although every output was drained", len(in))
		}
	}
	if d.c.Closed() {
		d.inq = nil
	}
}

// advance moves the clock forward.
func (d *connDriver) advance(dt time.Duration) { d.now = d.now.Add(dt) }

// fireTimer advances to the deadline, if any, and calls HandleTimeout. The
// next deadline must be later ("timer spinning" otherwise).
func (d *connDriver) fireTimer() bool {
	d.t.Helper()
	dl, ok := d.c.Deadline()
	if !ok {
		return false
	}
	if dl.After(d.now) {
		d.now = dl
	}
	before := d.c.pendingOut()
	d.c.HandleTimeout(d.now)
	d.checkStats("HandleTimeout", before, false)
	if next, ok := d.c.Deadline(); ok && !next.After(d.now) {
		d.fatalf("HandleTimeout(%v) left the deadline at %v: timer spinning", d.now.Sub(testEpoch), next.Sub(testEpoch))
	}
	d.drain()
	d.receive(nil) // the transport may have room again
	return true
}

// handshake sends the client preface, an empty SETTINGS and the ACK.
func (d *connDriver) handshake() {
	d.t.Helper()
	d.receive(clientHandshake())
}

// frames parses the server's output so far; a parse error fails the test.
func (d *connDriver) frames() []srvFrame {
	d.t.Helper()
	frames, err := readServerFrames(d.wire, d.cfg.MaxEncoderTableSize)
	if err != nil {
		if !(d.aborted && errors.Is(err, io.ErrUnexpectedEOF)) {
			d.fatalf("server output does not parse: %v", err)
		}
	}
	if err := checkServerFrames(frames); err != nil {
		d.fatalf("server output: %v", err)
	}
	if err := checkAgainstClient(d.clientIn, frames, d.checkpoints, !d.partialUsed); err != nil {
		d.fatalf("server output: %v", err)
	}
	return frames
}

// clientStream reads the client's byte stream with a frame parser of its
// own and sums up what it allows the server to send.
type clientStream struct {
	in           []byte
	off          int              // next unread byte; 0 before the preface
	window       int64            // SETTINGS_INITIAL_WINDOW_SIZE in effect
	maxWindow    int64            // largest SETTINGS_INITIAL_WINDOW_SIZE seen, and 65535
	connCredit   int64            // connection WINDOW_UPDATE increments
	streamCredit map[uint32]int64 // stream WINDOW_UPDATE increments
	settings     int              // SETTINGS frames without ACK
	pings        map[uint64]int   // PING payloads without ACK
}

func newClientStream(in []byte) *clientStream {
	return &clientStream{in: in, window: 65535, maxWindow: 65535, streamCredit: map[uint32]int64{}, pings: map[uint64]int{}}
}

// advance reads the whole frames that end at or before offset to.
func (c *clientStream) advance(to int) {
	to = min(to, len(c.in))
	if c.off == 0 {
		if to < len(clientPreface) {
			return
		}
		c.off = len(clientPreface)
	}
	for c.off+9 <= to {
		b := c.in[c.off:to]
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		typ, flags, id := b[3], b[4], binary.BigEndian.Uint32(b[5:9])&(1<<31-1)
		if len(b) < 9+n {
			return
		}
		p := b[9 : 9+n]
		c.off += 9 + n
		switch {
		case typ == 0x4 && flags&1 == 0 && id == 0 && n%6 == 0:
			c.settings++
			for i := 0; i < n; i += 6 {
				if binary.BigEndian.Uint16(p[i:]) == 0x4 {
					c.window = int64(binary.BigEndian.Uint32(p[i+2:]))
					c.maxWindow = max(c.maxWindow, c.window)
				}
			}
		case typ == 0x8 && n == 4:
			incr := int64(binary.BigEndian.Uint32(p) & (1<<31 - 1))
			if id == 0 {
				c.connCredit += incr
			} else {
				c.streamCredit[id] += incr
			}
		case typ == 0x6 && flags&1 == 0 && n == 8:
			c.pings[binary.BigEndian.Uint64(p)]++
		}
	}
}

type checkpoint struct{ wire, client int }

// checkAgainstClient checks the server's output against what the client
// sent. DATA stays within the flow-control windows (RFC 9113 §6.9.1: "The
// sender MUST NOT send a flow-controlled frame with a length that exceeds the
// space available"): with exact, against the windows made of the client
// frames the Conn had consumed when it framed the DATA (a stream's window is
// the SETTINGS_INITIAL_WINDOW_SIZE in effect plus its WINDOW_UPDATEs minus
// what was sent, §6.9.2); otherwise against a looser bound using the largest
// initial window. Every SETTINGS ACK and PING ACK answers a frame the client
// sent (§6.5.3; §6.7: "an identical frame payload"). Every bound counts frames
// the Conn may have ignored or refused, so it is an upper bound.
func checkAgainstClient(clientIn []byte, frames []srvFrame, cps []checkpoint, exact bool) error {
	all := newClientStream(clientIn)
	all.advance(len(clientIn))
	cs := newClientStream(clientIn)
	var connSent int64
	streamSent := map[uint32]int64{}
	acks, cp := 0, 0
	for i, f := range frames {
		switch {
		case f.Type == http2.FrameData:
			connSent += int64(len(f.Data))
			streamSent[f.Stream] += int64(len(f.Data))
			limit, connLimit := all.maxWindow+all.streamCredit[f.Stream], 65535+all.connCredit
			if exact {
				for cp < len(cps) && cps[cp].wire < f.End {
					cp++
				}
				if cp == len(cps) {
					return fmt.Errorf("frame %d: DATA taken outside AppendOutgoing", i)
				}
				cs.advance(cps[cp].client)
				limit, connLimit = cs.window+cs.streamCredit[f.Stream], 65535+cs.connCredit
			}
			if streamSent[f.Stream] > limit {
				return fmt.Errorf("frame %d: %d bytes of DATA on stream %d, the client allowed %d", i, streamSent[f.Stream], f.Stream, limit)
			}
			if connSent > connLimit {
				return fmt.Errorf("frame %d: %d bytes of DATA on the connection, the client allowed %d", i, connSent, connLimit)
			}
		case f.Type == http2.FrameSettings && f.Flags.Has(http2.FlagSettingsAck):
			if acks++; acks > all.settings {
				return fmt.Errorf("frame %d: SETTINGS ACK number %d, the client sent %d SETTINGS", i, acks, all.settings)
			}
		case f.Type == http2.FramePing && f.Flags.Has(http2.FlagPingAck):
			v := binary.BigEndian.Uint64(f.Data)
			if all.pings[v] == 0 {
				return fmt.Errorf("frame %d: PING ACK %x answers no PING of the client", i, f.Data)
			}
			all.pings[v]--
		}
	}
	return nil
}

// finish closes the connection and checks the end-of-life invariants:
// exactly one EventConnClosed, and it is the last event; the whole output
// parses; commands fail with ErrConnClosed.
func (d *connDriver) finish() {
	d.t.Helper()
	d.blocked, d.partial = false, 0
	d.drain()
	d.receive(nil)
	before := d.c.pendingOut()
	d.c.Close(d.now)
	d.checkStats("Close", before, false)
	d.drain()
	if !d.c.Closed() {
		d.fatalf("Closed() = false after Close")
	}
	if d.closedEvs != 1 {
		d.fatalf("%d EventConnClosed, want exactly 1", d.closedEvs)
	}
	if last := d.events[len(d.events)-1]; last.Kind != EventConnClosed {
		d.fatalf("last event is %v, want ConnClosed", last.Kind)
	}
	if _, ok := d.c.Deadline(); ok {
		d.fatalf("a timer is armed after Close")
	}
	if n := d.c.Receive(d.now, []byte{0}); n != 0 {
		d.fatalf("Receive after close consumed %d bytes", n)
	}
	if err := d.c.WriteHeaders(d.now, 1, []HeaderField{{Name: ":status", Value: "200"}}, true); !errors.Is(err, ErrConnClosed) {
		d.fatalf("WriteHeaders after close = %v, want ErrConnClosed", err)
	}
	if _, err := d.c.WriteData(d.now, 1, []byte("x"), true); !errors.Is(err, ErrConnClosed) {
		d.fatalf("WriteData after close = %v, want ErrConnClosed", err)
	}
	d.drain()
	if d.closedEvs != 1 {
		d.fatalf("%d EventConnClosed after commands on a closed conn, want 1", d.closedEvs)
	}
	d.frames()
}

// frameErrors returns the GOAWAY and RST_STREAM frames the server sent.
func frameErrors(frames []srvFrame) (goAways, rsts []srvFrame) {
	for _, f := range frames {
		switch f.Type {
		case http2.FrameGoAway:
			goAways = append(goAways, f)
		case http2.FrameRSTStream:
			rsts = append(rsts, f)
		}
	}
	return goAways, rsts
}
