package h2sm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// This file holds the fuzz targets of STYLE.md §5.6 and the small driver
// they share with frame_test.go and validate_test.go. The driver is the
// reference adapter: after every input or command it drains the outputs in
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

// frameCodes returns the GOAWAY and RST_STREAM frames the server sent.
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

// --- fuzz configurations ---

// fuzzConfig picks one of a few configurations: the defaults, tight limits
// and short timers, manual flow control with timers off, and extreme limits.
// Each keeps StreamSendBuffer ≤ 2×MaxFrameSize (see outputSlack).
func fuzzConfig(sel byte) Config {
	switch sel % 4 {
	case 1:
		return Config{
			MaxConcurrentStreams: 3, InitialWindowSize: 1024, MaxHeaderListSize: 512,
			MaxHeaderFields: 8, HeaderTableSize: 256, MaxEncoderTableSize: 64,
			StreamSendBuffer: 1024, OutputHighWater: 256, MaxQueuedControlFrames: 4,
			MaxSettingsEntries: 4, MaxEmptyFrames: 4, MaxLocalResets: 4,
			HandshakeTimeout: time.Second, SettingsAckTimeout: time.Second,
			HeaderBlockTimeout: time.Second, IdleTimeout: 5 * time.Second,
			PingInterval: time.Second, PingTimeout: time.Second,
			ShutdownPingTimeout: 100 * time.Millisecond, DrainTimeout: 2 * time.Second,
			WriteStallTimeout: time.Second,
		}
	case 2:
		return Config{
			ManualFlowControl: true, EnableConnectProtocol: true,
			MaxFrameSize: 1 << 17, InitialWindowSize: 65535, ConnWindowSize: 100000,
			HeaderTableSize: 8192, MaxEncoderTableSize: 8192,
			HandshakeTimeout: -1, SettingsAckTimeout: -1, HeaderBlockTimeout: -1,
			IdleTimeout: -1, PingTimeout: -1, DrainTimeout: -1, WriteStallTimeout: -1,
			ShutdownPingTimeout: -1,
		}
	case 3:
		return Config{
			MaxConcurrentStreams: 1, InitialWindowSize: 1, MaxHeaderListSize: 1,
			MaxHeaderFields: 1, StreamSendBuffer: 1, OutputHighWater: 1,
			MaxQueuedControlFrames: 1, MaxSettingsEntries: 1, MaxEmptyFrames: 1,
			MaxLocalResets: 1, PingInterval: time.Millisecond,
		}
	}
	return Config{}
}

// --- seeds ---

// seedExchanges are valid client byte streams after the handshake.
func seedExchanges() [][]byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	get := wireHeaders(1, hpackBlock(enc, &buf, getRequest...), true, 16384)
	post := wireHeaders(3, hpackBlock(enc, &buf, ":method", "POST", ":scheme", "https", ":path", "/upload",
		":authority", "example.com", "content-length", "11", "content-type", "text/plain"), false, 16384)
	post = append(post, wireData(3, []byte("hello "), false)...)
	post = append(post, wireData(3, []byte("world"), true)...)
	trailers := wireHeaders(5, hpackBlock(enc, &buf, ":method", "POST", ":scheme", "https", ":path", "/t", ":authority", "a"), false, 16384)
	trailers = append(trailers, wireData(5, []byte("x"), false)...)
	trailers = append(trailers, wireHeaders(5, hpackBlock(enc, &buf, "x-checksum", "1"), true, 16384)...)
	var all []byte
	for _, p := range [][]byte{get, post, trailers} {
		all = append(all, p...)
	}
	all = append(all, wirePing(false, 0x0102030405060708)...)
	all = append(all, wireWindowUpdate(0, 1000)...)
	all = append(all, wireRST(3, 8)...)
	all = append(all, wireGoAway(5, 0, "bye")...)
	return [][]byte{
		get,
		post,
		trailers,
		wirePing(false, 42),
		append(wireSettings(1, 0, 4, 1<<20, 5, 1<<20), wireWindowUpdate(0, 1<<20)...),
		wireGoAway(0, 0, ""), // graceful shutdown from the client
		all,
	}
}

// frameVectorSeeds returns the wire bytes of the frame test vectors.
func frameVectorSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, v := range loadFrameVectors(tb) {
		out = append(out, v.wireBytes)
	}
	return out
}

// --- FuzzFrameParse ---

// canonicalFrame is b[:n] as appendFrame writes it back: padding zeroed and
// the reserved bits of stream ids and the window increment cleared.
func canonicalFrame(b []byte) []byte {
	c := bytes.Clone(b)
	c[5] &= 0x7f
	h := parseFrameHeader(c)
	p := c[frameHeaderLen:]
	padded := h.flags&flagPadded != 0
	switch h.typ {
	case FrameData, FrameHeaders, FramePushPromise:
		if padded {
			pad := int(p[0])
			clear(p[len(p)-pad:])
		}
		if h.typ == FramePushPromise {
			off := 0
			if padded {
				off = 1
			}
			p[off] &= 0x7f
		}
	case FrameGoAway, FrameWindowUpdate:
		p[0] &= 0x7f
	}
	return c
}

func FuzzFrameParse(f *testing.F) {
	for _, w := range frameVectorSeeds(f) {
		f.Add(w)
	}
	for _, w := range seedExchanges() {
		f.Add(w)
	}
	f.Add(wireFrame(0x1, 0x2c, 3, []byte{0}, be32(1<<31|5), []byte{15}))
	f.Add(wireFrame(0x5, 0x8, 1, []byte{2}, be32(1<<31|2), []byte("ab"), []byte{0, 0}))
	f.Add(wireFrame(0xfa, 0xff, 1<<31|7, []byte("unknown")))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := parseFrame(b)
		switch {
		case fr == nil && err == nil:
			if n != 0 {
				t.Fatalf("parseFrame(%x) = nil, %d, nil: incomplete frames consume nothing", b, n)
			}
			if len(b) >= frameHeaderLen && len(b) >= frameHeaderLen+int(parseFrameHeader(b).length) {
				t.Fatalf("parseFrame(%x) = incomplete, but the frame is whole", b)
			}
			return
		case err != nil:
			var pe *frameParseError
			if fr != nil || !errors.As(err, &pe) || n != frameHeaderLen+int(parseFrameHeader(b).length) {
				t.Fatalf("parseFrame(%x) = %v, %d, %v: want nil frame, whole length, *frameParseError", b, fr, n, err)
			}
			if pe.code != ErrCodeProtocol && pe.code != ErrCodeFrameSize {
				t.Fatalf("parseFrame(%x) error code %v, want PROTOCOL_ERROR or FRAME_SIZE_ERROR", b, pe.code)
			}
			// The oracle must reject it too (for whatever reason).
			xfr := http2.NewFramer(nil, bytes.NewReader(b[:n]))
			xfr.SetMaxReadFrameSize(1<<24 - 1)
			if xf, xerr := xfr.ReadFrame(); xerr == nil {
				t.Fatalf("parseFrame(%x) = %v, but x/net/http2 reads %v", b[:n], err, xf)
			}
			return
		}
		if n != frameHeaderLen+int(fr.length) || n > len(b) {
			t.Fatalf("parseFrame(%x) consumed %d, want %d", b, n, frameHeaderLen+int(fr.length))
		}
		out := appendFrame(nil, fr)
		if want := canonicalFrame(b[:n]); !bytes.Equal(out, want) {
			t.Fatalf("appendFrame(parseFrame(%x)) = %x, want %x", b[:n], out, want)
		}
		fr2, n2, err2 := parseFrame(out)
		if err2 != nil || n2 != len(out) {
			t.Fatalf("parseFrame(%x) = %v, %d, %v after the round trip", out, fr2, n2, err2)
		}
		if !framesEqual(fr, fr2) {
			t.Fatalf("parseFrame(%x) = %+v, want %+v", out, fr2, fr)
		}
	})
}

// framesEqual compares parsed frames, treating nil and empty slices alike.
func framesEqual(a, b *frame) bool {
	if a.frameHeader != b.frameHeader || a.padLen != b.padLen || a.priority != b.priority ||
		a.depend != b.depend || a.excl != b.excl || a.weight != b.weight || !bytes.Equal(a.data, b.data) ||
		a.code != b.code || a.last != b.last || a.incr != b.incr || a.promised != b.promised ||
		len(a.settings) != len(b.settings) {
		return false
	}
	for i := range a.settings {
		if a.settings[i] != b.settings[i] {
			return false
		}
	}
	return true
}

// --- FuzzHPACKDecode ---

func FuzzHPACKDecode(f *testing.F) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	f.Add(hpackBlock(enc, &buf, getRequest...), byte(1))
	f.Add(hpackBlock(hpack.NewEncoder(&buf), &buf, ":method", "POST", ":scheme", "http", ":path", "/x",
		"host", "h", "content-length", "0", "te", "trailers"), byte(0))
	f.Add(hpackBlock(hpack.NewEncoder(&buf), &buf, ":method", "CONNECT", ":authority", "h:443"), byte(2))
	// A dynamic table size update to 4096.
	f.Add([]byte{0x3f, 0xe1, 0x1f}, byte(0))
	// RFC 7541 C.4.1.
	f.Add([]byte{0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff}, byte(1))
	// A varint overflow.
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, byte(0))
	// Split after x-first (byte 12 of 22): the first fragment's fields must
	// survive into the CONTINUATION's Receive call.
	f.Add(hpackBlock(hpack.NewEncoder(&buf), &buf, ":method", "GET", ":scheme", "https", ":path", "/",
		"x-first", "1", "x-second", "2"), byte(0x91))
	f.Fuzz(func(t *testing.T, block []byte, flags byte) {
		if len(block) > 1<<17 {
			block = block[:1<<17]
		}
		// flags: bit 0 END_STREAM, bits 2-3 the config, bits 4-7 where to
		// split the block into HEADERS and a CONTINUATION delivered by a later
		// Receive call (0: not split).
		cfg := fuzzConfig(flags >> 2 & 3)
		d := newConnDriver(t, cfg)
		d.handshake()
		maxFrame := int(min(d.cfg.MaxFrameSize, 16384))
		if cut := len(block) * int(flags>>4) / 16; cut > 0 && cut < len(block) && cut <= maxFrame {
			fl := uint8(0)
			if flags&1 != 0 {
				fl = 0x1
			}
			d.receive(wireFrame(0x1, fl, 1, block[:cut]))
			d.advance(time.Millisecond)
			d.receive(wireContinuations(1, block[cut:], maxFrame))
		} else {
			d.receive(wireHeaders(1, block, flags&1 != 0, maxFrame))
		}

		// Differential check against x/net's decoder with the same limits.
		xdec := hpack.NewDecoder(d.cfg.HeaderTableSize, nil)
		xdec.SetMaxStringLength(int(2 * d.cfg.MaxHeaderListSize))
		xfields, xerr := xdec.DecodeFull(block)
		frames := d.frames()
		goAways, rsts := frameErrors(frames)
		var req *Event
		for i := range d.events {
			if d.events[i].Kind == EventRequest {
				req = &d.events[i]
			}
		}
		if xerr != nil {
			if req != nil {
				t.Fatalf("x/net rejects the block (%v) but the Conn delivered %+v", xerr, *req)
			}
			if !d.c.Closed() || len(goAways) != 1 ||
				goAways[0].Code != http2.ErrCodeCompression && goAways[0].Code != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("x/net rejects the block (%v); want GOAWAY COMPRESSION_ERROR or ENHANCE_YOUR_CALM, got closed=%v %v", xerr, d.c.Closed(), goAways)
			}
		} else {
			for _, g := range goAways {
				if g.Code == http2.ErrCodeCompression {
					t.Fatalf("x/net decodes the block but the Conn sent %v", g)
				}
			}
			if req != nil {
				checkRequestEvent(t, *req, xfields)
			} else if len(rsts) == 0 && len(goAways) == 0 && !answered(frames, 1) {
				t.Fatalf("block decodes to %v but the Conn neither delivered it nor answered it", xfields)
			}
		}
		d.finish()
	})
}

// answered reports whether the server sent HEADERS on stream id (a 431).
func answered(frames []srvFrame, id uint32) bool {
	for _, f := range frames {
		if f.Type == http2.FrameHeaders && f.Stream == id {
			return true
		}
	}
	return false
}

// checkRequestEvent checks that an EventRequest is the decoded field list.
func checkRequestEvent(t *testing.T, e Event, fields []hpack.HeaderField) {
	t.Helper()
	var pseudo = map[string]string{}
	var regular []HeaderField
	host, hasHost := "", false
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			pseudo[f.Name] = f.Value
			continue
		}
		regular = append(regular, HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive})
		if f.Name == "host" {
			host, hasHost = f.Value, true
		}
	}
	authority, ok := pseudo[":authority"]
	if !ok && hasHost {
		authority = host
	}
	if e.Method != pseudo[":method"] || e.Scheme != pseudo[":scheme"] || e.Path != pseudo[":path"] ||
		e.Authority != authority || e.Protocol != pseudo[":protocol"] {
		t.Fatalf("EventRequest %s %s %s %s %s, decoded %v", e.Method, e.Scheme, e.Authority, e.Path, e.Protocol, fields)
	}
	if len(e.Fields) != len(regular) {
		t.Fatalf("EventRequest fields %v, decoded %v", e.Fields, regular)
	}
	for i := range regular {
		if e.Fields[i].Name != regular[i].Name || e.Fields[i].Value != regular[i].Value {
			t.Fatalf("EventRequest field %d = %v, decoded %v", i, e.Fields[i], regular[i])
		}
	}
}

// --- FuzzConnReceive ---

func FuzzConnReceive(f *testing.F) {
	for i, w := range seedExchanges() {
		f.Add(byte(i), []byte{}, w)
		f.Add(byte(i+1), []byte{1, 7, 0, 30, 0, 255}, w)
	}
	for i, w := range frameVectorSeeds(f) {
		f.Add(byte(i), []byte{5}, w)
	}
	f.Fuzz(func(t *testing.T, cfgSel byte, splits, data []byte) {
		d := newConnDriver(t, fuzzConfig(cfgSel))
		d.handshake()
		// Each split byte is the size of the next chunk; 0 fires the timer.
		for _, s := range splits {
			if len(data) == 0 || d.c.Closed() {
				break
			}
			if s == 0 {
				d.fireTimer()
				continue
			}
			k := min(int(s), len(data))
			d.advance(time.Millisecond)
			d.receive(data[:k])
			data = data[k:]
		}
		d.advance(time.Millisecond)
		d.receive(data)
		d.finish()
	})
}

// --- FuzzConnOps ---

// opReader hands out fuzz bytes; past the end it returns zeros.
type opReader struct{ b []byte }

func (r *opReader) more() bool { return len(r.b) > 0 }

func (r *opReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *opReader) u16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }

func (r *opReader) u32() uint32 { return uint32(r.u16())<<16 | uint32(r.u16()) }

func (r *opReader) bytes(n int) []byte {
	n = min(n, len(r.b))
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// The operations of FuzzConnOps. Each is one opcode byte followed by its
// arguments; opsBuilder writes the same layout for the seeds.
const (
	opHeaders      = iota // sel, kind, flags
	opData                // sel, flags, len(2)
	opWindowUpdate        // sel, incr(4)
	opRST                 // sel, code
	opSettings            // flags, count, count × (id, value(4))
	opPing                // flags, value
	opPriority            // sel, dep, weight
	opGoAway              // last, code
	opContinuation        // sel, flags
	opRaw                 // n, n bytes
	opWriteHeaders        // sel, kind, end
	opWriteData           // sel, len(2), end
	opResetStream         // sel, code
	opConsumed            // sel, n(2)
	opShutdown            //
	opGoAwayApp           // code
	opTimeout             //
	opSleep               // tenths of a second
	opTransport           // mode, arg
	opAbort               //
	numOps
)

// Flags of opHeaders.
const (
	hfEnd      = 1 << iota // END_STREAM
	hfSplit                // split the block into HEADERS + CONTINUATION
	hfOpen                 // leave the block open: the rest waits for opContinuation
	hfPadded               // PADDED with 3 bytes of padding
	hfPriority             // PRIORITY fields
)

// badRequestHeaders are malformed requests from research/attacks.md §4.
var badRequestHeaders = [][]string{
	{":method", "GET", ":scheme", "https", ":path", "/", "X-Foo", "1"},
	{":method", "GET", ":scheme", "https", ":path", "/", "connection", "close"},
	{":method", "GET", ":scheme", "https", ":path", "/", "te", "gzip"},
	{":method", "GET", ":scheme", "https", "x", "1", ":path", "/"},
	{":method", "GET", ":scheme", "https", ":path", "/", ":status", "200"},
	{":method", "GET", ":scheme", "https"},
	{":method", "GET", ":scheme", "https", ":path", ""},
	{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "u@h"},
	{":method", "GET", ":scheme", "https", ":path", "/", "x", "a\r\nb"},
	{":method", "GET", ":scheme", "https", ":path", "/", "content-length", "+5"},
	{":method", "CONNECT", ":scheme", "https", ":path", "/", ":authority", "h:1"},
	{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "h"},
	{":method", "GET", ":method", "GET", ":scheme", "https", ":path", "/"},
}

type opsState struct {
	d        *connDriver
	enc      *hpack.Encoder
	encBuf   bytes.Buffer
	next     uint32   // next new client stream id
	streams  []uint32 // streams the peer opened
	pending  []byte   // rest of a header block left open
	pendID   uint32
	pingSeen uint64

	blocks  map[uint32][][]HeaderField // regular fields of each header block sent, per stream
	checked int                        // events already compared with blocks
}

// checkFields compares the fields of new EventRequest and EventTrailers
// events with the header blocks the peer sent: a request carries exactly the
// regular fields of the stream's first block, trailers those of a later one.
func (s *opsState) checkFields() {
	d := s.d
	d.t.Helper()
	for ; s.checked < len(d.events); s.checked++ {
		e := d.events[s.checked]
		if e.Kind != EventRequest && e.Kind != EventTrailers {
			continue
		}
		sent := s.blocks[uint32(e.Stream)]
		if e.Kind == EventRequest && len(sent) > 0 {
			sent = sent[:1]
		} else if len(sent) > 0 {
			sent = sent[1:]
		}
		if !slices.ContainsFunc(sent, func(want []HeaderField) bool {
			return slices.EqualFunc(e.Fields, want, func(a, b HeaderField) bool { return a.Name == b.Name && a.Value == b.Value })
		}) {
			d.fatalf("%v on stream %d carries %v; the peer sent %v", e.Kind, e.Stream, e.Fields, s.blocks[uint32(e.Stream)])
		}
	}
}

// stream picks a stream: one the peer opened, a new one, or a small raw id.
func (s *opsState) stream(sel byte, open bool) uint32 {
	switch {
	case sel < 0xc0 && len(s.streams) > 0:
		return s.streams[int(sel)%len(s.streams)]
	case sel < 0xf0 && open:
		id := s.next
		s.next += 2
		s.streams = append(s.streams, id)
		return id
	case sel < 0xf0:
		return s.next
	}
	return uint32(sel & 0x0f)
}

func (s *opsState) requestBlock(r *opReader, kind byte) ([]byte, []string) {
	var nv []string
	switch kind % 8 {
	case 0:
		nv = getRequest
	case 1:
		nv = []string{":method", "POST", ":scheme", "https", ":path", "/p", ":authority", "h",
			"content-length", fmt.Sprint(kind >> 3)}
	case 2:
		nv = []string{":method", "POST", ":scheme", "http", ":path", "/p", "host", "h"}
	case 3:
		nv = []string{"x-trailer", "1"}
	case 4:
		nv = []string{":method", "CONNECT", ":authority", "h:443"}
	case 5:
		nv = badRequestHeaders[int(kind>>3)%len(badRequestHeaders)]
	case 6:
		nv = append([]string(nil), getRequest...)
		for i := range 20 + int(kind>>3)*8 {
			nv = append(nv, fmt.Sprintf("x-%d", i), strings.Repeat("v", 40))
		}
	case 7:
		n := int(r.byte() % 4)
		nv = append([]string(nil), getRequest[:6]...)
		for range n {
			nv = append(nv, string(r.bytes(int(r.byte()%8))), string(r.bytes(int(r.byte()%8))))
		}
	}
	return hpackBlock(s.enc, &s.encBuf, nv...), nv
}

var responseKinds = [][]HeaderField{
	{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "text/plain"}},
	{{Name: ":status", Value: "100"}},
	{{Name: ":status", Value: "204"}},
	{{Name: "grpc-status", Value: "0"}}, // trailers
	{{Name: ":status", Value: "200"}, {Name: "Connection", Value: "close"}},
	{{Name: ":status", Value: "101"}},
	{{Name: ":status", Value: "200"}, {Name: "x-big", Value: strings.Repeat("b", 40000)}},
	{{Name: ":status", Value: "103"}, {Name: "link", Value: "</a>; rel=preload"}},
}

var commandErrors = []error{ErrConnClosed, ErrStreamClosed, ErrUnknownStream, ErrInvalidHeader, ErrHeadersNotSent}

func (s *opsState) checkCommandError(what string, err error) {
	s.d.t.Helper()
	if err == nil {
		return
	}
	for _, e := range commandErrors {
		if errors.Is(err, e) {
			return
		}
	}
	s.d.fatalf("%s returned %v, which is not a documented sentinel", what, err)
}

// command runs an application command with the stats check.
func (s *opsState) command(what string, appDriven bool, fn func()) {
	s.d.t.Helper()
	before := s.d.c.pendingOut()
	fn()
	s.d.checkStats(what, before, appDriven)
	s.d.drain()
	s.d.receive(nil)
}

func (s *opsState) step(r *opReader) {
	d := s.d
	d.advance(time.Millisecond)
	maxFrame := 16384
	switch op := r.byte() % numOps; op {
	case opHeaders:
		id := s.stream(r.byte(), true)
		block, nv := s.requestBlock(r, r.byte())
		var regular []HeaderField
		for i := 0; i+1 < len(nv); i += 2 {
			if !strings.HasPrefix(nv[i], ":") {
				regular = append(regular, HeaderField{Name: nv[i], Value: nv[i+1]})
			}
		}
		s.blocks[id] = append(s.blocks[id], regular)
		flags := r.byte()
		var fl uint8
		if flags&hfEnd != 0 {
			fl |= 0x1
		}
		var prefix, pad []byte
		if flags&hfPadded != 0 {
			fl |= 0x8
			prefix, pad = []byte{3}, []byte{0, 0, 0}
		}
		if flags&hfPriority != 0 {
			fl |= 0x20
			prefix = append(prefix, be32(id-2)...) // id-2 may be the stream itself for tiny ids
			prefix = append(prefix, 15)
		}
		first, rest := block, []byte(nil)
		if flags&(hfSplit|hfOpen) != 0 && len(block) > 1 {
			first, rest = block[:len(block)/2], block[len(block)/2:]
		}
		if len(first) > maxFrame {
			first, rest = first[:maxFrame], append(first[maxFrame:], rest...)
		}
		if len(rest) == 0 {
			fl |= 0x4
		}
		out := wireFrame(0x1, fl, id, prefix, first, pad)
		if len(rest) > 0 && flags&hfOpen != 0 {
			s.pending, s.pendID = rest, id
		} else if len(rest) > 0 {
			out = append(out, wireContinuations(id, rest, maxFrame)...)
		}
		d.receive(out)
	case opData:
		id := s.stream(r.byte(), false)
		flags := r.byte()
		n := int(r.u16() % 2048)
		fl := flags & 0x1
		var prefix, pad []byte
		if flags&0x8 != 0 {
			fl |= 0x8
			prefix, pad = []byte{flags >> 4}, make([]byte, flags>>4)
		}
		d.receive(wireFrame(0x0, fl, id, prefix, bytes.Repeat([]byte{'d'}, n), pad))
	case opWindowUpdate:
		id := s.stream(r.byte(), false)
		incr := r.u32()
		if incr&0x7000_0000 == 0x7000_0000 {
			incr &= 0xffff // mostly modest increments, sometimes huge ones
		}
		d.receive(wireWindowUpdate(id, incr))
	case opRST:
		d.receive(wireRST(s.stream(r.byte(), false), uint32(r.byte()%16)))
	case opSettings:
		flags := r.byte()
		if flags&1 != 0 {
			d.receive(wireSettingsAck())
			return
		}
		var kv []uint32
		for range r.byte() % 5 {
			id := uint32(r.byte() % 9)
			v := r.u32()
			switch id {
			case 4: // INITIAL_WINDOW_SIZE: mostly valid
				if flags&2 == 0 {
					v &= 0x7fffffff
				}
			case 5: // MAX_FRAME_SIZE: mostly valid
				if flags&4 == 0 {
					v = 16384 + v%(1<<24-16384)
				}
			}
			kv = append(kv, id, v)
		}
		d.receive(wireSettings(kv...))
	case opPing:
		flags := r.byte()
		d.receive(wirePing(flags&1 != 0, uint64(r.byte())))
	case opPriority:
		id := s.stream(r.byte(), false)
		d.receive(wireFrame(0x2, 0, id, be32(uint32(r.byte())), []byte{r.byte()}))
	case opGoAway:
		d.receive(wireGoAway(uint32(r.byte()), uint32(r.byte()%16), "fuzz"))
	case opContinuation:
		sel, flags := r.byte(), r.byte()
		id, frag := s.pendID, s.pending
		if frag == nil {
			id, frag = s.stream(sel, false), r.bytes(int(flags>>4))
		}
		s.pending = nil
		d.receive(wireFrame(0x9, flags&0x4, id, frag))
	case opRaw:
		d.receive(r.bytes(int(r.byte() % 32)))
	case opWriteHeaders:
		id := StreamID(s.stream(r.byte(), false))
		fields := responseKinds[int(r.byte())%len(responseKinds)]
		end := r.byte()&1 != 0
		s.command("WriteHeaders", true, func() {
			s.checkCommandError("WriteHeaders", d.c.WriteHeaders(d.now, id, fields, end))
		})
	case opWriteData:
		id := StreamID(s.stream(r.byte(), false))
		p := bytes.Repeat([]byte{'r'}, int(r.u16()%5000))
		end := r.byte()&1 != 0
		s.command("WriteData", false, func() {
			n, err := d.c.WriteData(d.now, id, p, end)
			s.checkCommandError("WriteData", err)
			if n < 0 || n > len(p) || err != nil && n != 0 {
				d.fatalf("WriteData(%d bytes) = %d, %v", len(p), n, err)
			}
		})
	case opResetStream:
		id := StreamID(s.stream(r.byte(), false))
		code := ErrCode(r.byte() % 16)
		s.command("ResetStream", false, func() {
			err := d.c.ResetStream(d.now, id, code)
			s.checkCommandError("ResetStream", err)
			if err == nil {
				d.gone[id] = true // "No event follows for it."
			}
		})
	case opConsumed:
		id := StreamID(s.stream(r.byte(), false))
		n := int(r.u16())
		s.command("Consumed", false, func() { d.c.Consumed(d.now, id, n) })
	case opShutdown:
		s.command("Shutdown", false, func() { d.c.Shutdown(d.now) })
	case opGoAwayApp:
		code := ErrCode(r.byte() % 16)
		s.command("GoAway", false, func() { d.c.GoAway(d.now, code, "app") })
	case opTimeout:
		d.fireTimer()
	case opSleep:
		d.advance(time.Duration(r.byte()) * 100 * time.Millisecond)
	case opTransport:
		mode, arg := r.byte()%4, r.byte()
		d.blocked, d.partial, d.chunk = false, 0, 0
		switch mode {
		case 1:
			d.blocked = true
		case 2:
			d.partial = int(arg)*16 + 1
		case 3:
			d.chunk = int(arg) + 1
		}
		d.drain()
		d.receive(nil)
	case opAbort:
		s.command("Abort", false, func() {
			d.aborted = true // queued output is dropped, even after close
			d.c.Abort(d.now, io.ErrUnexpectedEOF)
		})
	}
}

// opsBuilder writes operation lists for the seeds.
type opsBuilder []byte

func (b *opsBuilder) op(code byte, args ...byte) *opsBuilder {
	*b = append(append(*b, code), args...)
	return b
}

func opsSeeds() [][]byte {
	const newStream, first = 0xc0, 0x00
	get := new(opsBuilder).
		op(opHeaders, newStream, 0, hfEnd).
		op(opWriteHeaders, first, 0, 0).
		op(opWriteData, first, 0, 10, 1).
		op(opTimeout)
	post := new(opsBuilder).
		op(opHeaders, newStream, 1|5<<3, 0). // content-length 5
		op(opData, first, 0, 0, 3).
		op(opData, first, 1, 0, 2).
		op(opConsumed, first, 0, 5).
		op(opWriteHeaders, first, 2, 1)
	ping := new(opsBuilder).
		op(opPing, 0, 7).
		op(opPing, 1, 1).
		op(opSleep, 50).
		op(opTimeout)
	shutdown := new(opsBuilder).
		op(opHeaders, newStream, 0, hfEnd).
		op(opShutdown).
		op(opPing, 1, 1). // ACK of the shutdown PING (payload 1)
		op(opHeaders, newStream, 0, hfEnd).
		op(opWriteHeaders, first, 0, 1).
		op(opTimeout).
		op(opTimeout)
	flow := new(opsBuilder).
		op(opHeaders, newStream, 0, hfEnd).
		op(opWriteHeaders, first, 0, 0).
		op(opTransport, 2, 3).
		op(opWriteData, first, 0x0f, 0xa0, 1). // 4000 bytes
		op(opWindowUpdate, first, 0, 0, 0x10, 0).
		op(opWindowUpdate, 0xf0, 0, 1, 0, 0).
		op(opSettings, 0, 1, 4, 0, 1, 0, 0).
		op(opTransport, 0, 0)
	trailers := new(opsBuilder).
		op(opHeaders, newStream, 2, hfSplit).
		op(opData, first, 0, 0, 9).
		op(opHeaders, first, 3, hfEnd|hfOpen).
		op(opContinuation, 0, 4).
		op(opWriteHeaders, first, 0, 0).
		op(opWriteData, first, 0, 4, 0).
		op(opWriteHeaders, first, 3, 1)
	smallWindow := new(opsBuilder).
		op(opSettings, 0, 1, 4, 0, 0, 0, 100). // INITIAL_WINDOW_SIZE 100
		op(opHeaders, newStream, 2, 0).
		op(opWriteHeaders, first, 0, 0).
		op(opWriteData, first, 0x0f, 0xa0, 1). // 4000 bytes
		op(opWindowUpdate, first, 0, 0, 0, 50).
		op(opWindowUpdate, 0xf0, 0, 0, 0, 10). // connection
		op(opSettings, 0, 1, 4, 0, 0, 1, 0).   // INITIAL_WINDOW_SIZE 256
		op(opTimeout)
	return [][]byte{*get, *post, *ping, *shutdown, *flow, *trailers, *smallWindow}
}

func FuzzConnOps(f *testing.F) {
	for i, s := range opsSeeds() {
		for sel := range byte(4) {
			f.Add(sel+byte(i)*4, s)
		}
	}
	f.Fuzz(runOps)
}

// knownCrashers are committed crashers (testdata/fuzz/FuzzConnOps/<name>)
// of h2sm bugs not fixed yet, keyed by their input (cfgSel byte, then the
// ops). They are skipped, naming the bug, so that go test stays green and
// -fuzz can still start; fuzzing still reports the bug when it finds
// another input for it. Remove an entry when its bug is fixed: the input
// then runs as a regression test.
var knownCrashers = map[string]string{
	"1" + "x0002000x0C7 00007": "nil dereference in finishBlock: trailers completed by CONTINUATION after ResetStream " +
		"(testdata/fuzz/FuzzConnOps/8b696766a97c6e19; see TestConnTrailersAfterResetStream)",
}

func skipKnownCrasher(t *testing.T, cfgSel byte, ops []byte) {
	t.Helper()
	if bug, ok := knownCrashers[string(append([]byte{cfgSel}, ops...))]; ok {
		t.Skip("BUG: " + bug)
	}
}

// runOps is the body of FuzzConnOps.
func runOps(t *testing.T, cfgSel byte, ops []byte) {
	skipKnownCrasher(t, cfgSel, ops)
	d := newConnDriver(t, fuzzConfig(cfgSel))
	s := &opsState{d: d, next: 1, blocks: map[uint32][][]HeaderField{}}
	s.enc = hpack.NewEncoder(&s.encBuf)
	s.enc.SetMaxDynamicTableSizeLimit(d.cfg.HeaderTableSize)
	d.handshake()
	r := &opReader{b: ops}
	for i := 0; i < 256 && r.more(); i++ {
		s.step(r)
		s.checkFields()
	}
	d.finish()
}

// --- regression tests for what the fuzz targets check ---

// TestFuzzSeedsRun runs the seed corpora once under plain `go test`, with a
// check that the GET seed really produces a response (so the driver is not
// vacuously green).
func TestFuzzSeedsRun(t *testing.T) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	d := newConnDriver(t, Config{})
	d.handshake()
	d.receive(wireHeaders(1, hpackBlock(enc, &buf, getRequest...), true, 16384))
	if len(d.events) != 1 || d.events[0].Kind != EventRequest || d.events[0].Path != "/" {
		t.Fatalf("events after GET = %+v, want one EventRequest for /", d.events)
	}
	if err := d.c.WriteHeaders(d.now, 1, []HeaderField{{Name: ":status", Value: "200"}}, false); err != nil {
		t.Fatal(err)
	}
	if n, err := d.c.WriteData(d.now, 1, []byte("hello"), true); n != 5 || err != nil {
		t.Fatalf("WriteData = %d, %v", n, err)
	}
	d.drain()
	frames := d.frames()
	var body []byte
	for _, f := range frames {
		if f.Type == http2.FrameData && f.Stream == 1 {
			body = append(body, f.Data...)
		}
	}
	if string(body) != "hello" {
		t.Fatalf("response body %q, want hello\n%s", body, d.trace())
	}
	d.finish()
}

// TestConnStatsQueuedControlFramesOverLimit: the overflow that closes the
// connection leaves QueuedControlFrames at MaxQueuedControlFrames+1, counting
// a frame that was never queued.
func TestConnStatsQueuedControlFramesOverLimit(t *testing.T) {
	d := newConnDriver(t, Config{MaxQueuedControlFrames: 2})
	d.handshake()
	var in []byte
	for i := range 3 {
		in = append(in, wirePing(false, uint64(i))...)
	}
	d.c.Receive(d.now, in) // one call, no draining in between
	s := d.c.Stats()
	if !d.c.Closed() {
		t.Fatalf("3 PINGs with MaxQueuedControlFrames=2 did not close the connection")
	}
	if s.QueuedControlFrames > 2 {
		t.Skipf("BUG: Stats().QueuedControlFrames = %d > MaxQueuedControlFrames 2 after the overflow (controlFrame increments before checking)", s.QueuedControlFrames)
	}
}

// TestConnTrailersAfterResetStream: the application resets a stream while
// the client's trailer block for it is still arriving (HEADERS without
// END_HEADERS, then CONTINUATION). finishBlock looks the stream up again and
// dereferences nil: a panic reachable from peer bytes plus a legal command
// (STYLE.md §4: "No panic is reachable from peer bytes or from caller
// misuse"). Found by FuzzConnOps (testdata/fuzz/FuzzConnOps/8b696766a97c6e19).
// The block must still be decoded (HPACK state) and then discarded, as for
// any stream reset by this side (§5.1 closed).
func TestConnTrailersAfterResetStream(t *testing.T) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	d := newConnDriver(t, Config{})
	d.handshake()
	d.receive(wireHeaders(1, hpackBlock(enc, &buf, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a"), false, 16384))
	trailers := hpackBlock(enc, &buf, "x-checksum", "abc")
	d.receive(wireFrame(0x1, 0x1, 1, trailers[:2])) // HEADERS, END_STREAM, no END_HEADERS
	if err := d.c.ResetStream(d.now, 1, ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	d.drain()
	panicked := func() (p any) {
		defer func() { p = recover() }()
		d.receive(wireFrame(0x9, 0x4, 1, trailers[2:])) // CONTINUATION, END_HEADERS
		return nil
	}()
	if panicked != nil {
		t.Skipf("BUG: CONTINUATION ending a trailer block after ResetStream panics: %v", panicked)
	}
	if d.c.Closed() {
		t.Errorf("connection closed; want the trailer block discarded\n%s", d.trace())
	}
	// HPACK stays in sync: a later request decodes.
	d.receive(wireHeaders(3, hpackBlock(enc, &buf, getRequest...), true, 16384))
	if last := d.events[len(d.events)-1]; last.Kind != EventRequest || last.Stream != 3 {
		t.Errorf("last event %v on stream %d, want EventRequest on 3\n%s", last.Kind, last.Stream, d.trace())
	}
	d.finish()
}

// TestFuzzCorpusFiles replays committed crashers, if any, so that they stay
// fixed (go test does this for testdata/fuzz automatically; this test only
// makes sure the directory names match the targets).
func TestFuzzCorpusFiles(t *testing.T) {
	targets := map[string]bool{"FuzzFrameParse": true, "FuzzHPACKDecode": true, "FuzzConnReceive": true, "FuzzConnOps": true}
	dirs, err := os.ReadDir(filepath.Join("testdata", "fuzz"))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range dirs {
		if !targets[e.Name()] {
			t.Errorf("testdata/fuzz/%s names no fuzz target", e.Name())
		}
	}
}
