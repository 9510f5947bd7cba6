package memory

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// An ExpectedFrame is what WantFrame expects the server to have sent next:
// a Data, Headers, RSTStream, Settings, Ping, GoAway or WindowUpdate.
type ExpectedFrame interface {
	describe() string
	expect(p *Peer, why string)
}

// Data expects one DATA frame on Stream. EndStream is always compared; Data
// is compared when non-nil (use []byte{} for an empty payload). Padding is
// not compared.
type Data struct {
	Stream    h2sm.StreamID
	Data      []byte
	EndStream bool
}

// Headers expects a whole header block on Stream: a HEADERS frame and the
// CONTINUATION frames up to END_HEADERS, decoded. EndStream is always
// compared; Fields (name, value and Sensitive, in order) when non-nil, and
// Frames (the number of frames the block spans) when non-zero.
type Headers struct {
	Stream    h2sm.StreamID
	Fields    []h2sm.HeaderField
	EndStream bool
	Frames    int
}

// RSTStream expects a RST_STREAM frame.
type RSTStream struct {
	Stream h2sm.StreamID
	Code   h2sm.ErrCode
}

// Settings expects a SETTINGS frame. Values are compared when non-nil,
// regardless of order.
type Settings struct {
	Ack    bool
	Values []http2.Setting
}

// Ping expects a PING frame; Ack and Data are both compared.
type Ping struct {
	Ack  bool
	Data [8]byte
}

// GoAway expects a GOAWAY frame. Debug, the debug data, is compared when
// non-empty.
type GoAway struct {
	LastStream h2sm.StreamID
	Code       h2sm.ErrCode
	Debug      string
}

// WindowUpdate expects a WINDOW_UPDATE frame (Stream 0 is the connection).
// Incr is compared when non-zero.
type WindowUpdate struct {
	Stream h2sm.StreamID
	Incr   uint32
}

// --- frames ---

// WantFrame reads the next frame (for Headers, the next header block) and
// fails the test unless it is what want describes. why says what the test
// checks.
func (p *Peer) WantFrame(why string, want ExpectedFrame) {
	p.t.Helper()
	want.expect(p, why)
}

// WantGoAway expects a GOAWAY frame with last stream id last and code.
func (p *Peer) WantGoAway(why string, last h2sm.StreamID, code h2sm.ErrCode) {
	p.t.Helper()
	p.WantFrame(why, GoAway{LastStream: last, Code: code})
}

// WantRSTStream expects a RST_STREAM frame on stream id with code.
func (p *Peer) WantRSTStream(why string, id h2sm.StreamID, code h2sm.ErrCode) {
	p.t.Helper()
	p.WantFrame(why, RSTStream{Stream: id, Code: code})
}

// WantHeaders expects a header block on stream id with END_STREAM set as end
// says, and returns its decoded fields.
func (p *Peer) WantHeaders(why string, id h2sm.StreamID, end bool) []h2sm.HeaderField {
	p.t.Helper()
	return p.wantHeaders(why, Headers{Stream: id, EndStream: end}).Fields
}

// WantData expects one or more DATA frames on stream id and returns their
// payloads concatenated, and whether the last one had END_STREAM. It reads
// DATA frames on id for as long as they come next, up to END_STREAM.
func (p *Peer) WantData(why string, id h2sm.StreamID) (data []byte, end bool) {
	p.t.Helper()
	want := fmt.Sprintf("DATA stream=%d", id)
	f := p.next(why, want)
	if f == nil {
		return nil, false
	}
	if f.hdr.Type != http2.FrameData || f.hdr.StreamID != uint32(id) {
		p.t.Fatalf("%s:\n\tgot  %s\n\twant %s", why, f.line, want)
		return nil, false
	}
	data = []byte{}
	for {
		df := parseFrame(f.raw).(*http2.DataFrame)
		data = append(data, df.Data()...)
		end = df.StreamEnded()
		if end || p.fhead == len(p.frames) {
			return data, end
		}
		if n := p.frames[p.fhead]; n.hdr.Type != http2.FrameData || n.hdr.StreamID != uint32(id) {
			return data, end
		}
		f = p.pop()
	}
}

// ReadFrame returns the next frame the server sent, and false if there is
// none. The frame owns its memory. Header blocks are not decoded: see
// ReadHeaders.
func (p *Peer) ReadFrame() (http2.Frame, bool) {
	if p.fhead == len(p.frames) {
		return nil, false
	}
	return parseFrame(p.pop().raw), true
}

// ReadHeaders returns the next header block, decoded, if the next frame is
// a HEADERS frame; otherwise it returns false and reads nothing. A block
// that is not complete fails the test.
func (p *Peer) ReadHeaders() (Headers, bool) {
	p.t.Helper()
	if p.fhead == len(p.frames) || p.frames[p.fhead].hdr.Type != http2.FrameHeaders {
		return Headers{}, false
	}
	h, _ := p.readBlock("ReadHeaders")
	return h, true
}

// WantNoFrame fails the test if a frame (or part of one) from the server is
// waiting to be read. Output the client has not read (SetReading) is not
// seen.
func (p *Peer) WantNoFrame(why string) {
	p.t.Helper()
	var left []string
	for _, f := range p.frames[p.fhead:] {
		left = append(left, "<- "+f.line)
	}
	if len(p.raw) > 0 {
		left = append(left, fmt.Sprintf("<- %d bytes of a partial frame", len(p.raw)))
	}
	if len(left) > 0 {
		p.t.Fatalf("%s: want no frame, have:\n\t%s", why, strings.Join(left, "\n\t"))
	}
}

// --- events ---

// NextEvent returns the next event the Conn produced, and false if there is
// none. Its slices are copies the test may keep.
func (p *Peer) NextEvent() (h2sm.Event, bool) {
	if p.ehead == len(p.events) {
		return h2sm.Event{}, false
	}
	ev := p.events[p.ehead]
	p.events[p.ehead] = h2sm.Event{}
	p.ehead++
	if p.ehead == len(p.events) {
		p.events, p.ehead = p.events[:0], 0
	}
	return ev, true
}

// WantEvent reads the next event and fails the test unless it matches want,
// which it returns. The comparison rule:
//   - Kind, Stream and EndStream are always compared;
//   - Method, Scheme, Authority, Path and Protocol when non-empty;
//   - Fields when non-nil (an empty non-nil slice wants no fields), Data
//     likewise; ContentLength when non-zero;
//   - Err when non-nil, with errors.Is, which for *h2sm.ConnError and
//     *h2sm.StreamError matches on Code; if want's error is one of those with
//     Remote set, the event's must have Remote set too.
func (p *Peer) WantEvent(why string, want h2sm.Event) h2sm.Event {
	p.t.Helper()
	ev, ok := p.NextEvent()
	if !ok {
		p.t.Fatalf("%s: no event, want %s", why, renderEvent(want))
		return h2sm.Event{}
	}
	if diff := eventDiff(ev, want); diff != "" {
		p.t.Fatalf("%s: %s differs\n\tgot  %s\n\twant %s", why, diff, renderEvent(ev), renderEvent(want))
	}
	return ev
}

// WantNoEvent fails the test if an event is waiting to be read.
func (p *Peer) WantNoEvent(why string) {
	p.t.Helper()
	if p.ehead < len(p.events) {
		p.t.Fatalf("%s: want no event, have:\n\t%s", why, strings.Join(p.unreadEvents(), "\n\t"))
	}
}

// WantIdle fails the test if a frame or an event is waiting to be read.
func (p *Peer) WantIdle(why string) {
	p.t.Helper()
	if left := p.unread(); len(left) > 0 {
		p.t.Fatalf("%s: want nothing pending, have:\n\t%s", why, strings.Join(left, "\n\t"))
	}
}

// WantClosed reads the next event, which must be EventConnClosed, checks
// that the Conn is in PhaseClosed, and returns the event's error (nil for a
// graceful close).
func (p *Peer) WantClosed(why string) error {
	p.t.Helper()
	ev, ok := p.NextEvent()
	switch {
	case !ok:
		p.t.Fatalf("%s: no event, want ConnClosed", why)
		return nil
	case ev.Kind != h2sm.EventConnClosed:
		p.t.Fatalf("%s: got %s, want ConnClosed", why, renderEvent(ev))
		return nil
	case p.conn.Phase() != h2sm.PhaseClosed:
		p.t.Fatalf("%s: got ConnClosed in phase %v", why, p.conn.Phase())
	}
	return ev.Err
}

// Discard drops every frame and event waiting to be read, for a test that
// leaves them on purpose. Part of a frame still being received is kept: the
// rest of it follows.
func (p *Peer) Discard() {
	n, m := len(p.frames)-p.fhead, len(p.events)-p.ehead
	p.frames, p.fhead = p.frames[:0], 0
	p.events, p.ehead = p.events[:0], 0
	p.tracef("# discarded %d frames and %d events", n, m)
}

// --- expectations ---

func (w Data) describe() string {
	s := fmt.Sprintf("DATA stream=%d%s", w.Stream, flagName(w.EndStream, " END_STREAM"))
	if w.Data != nil {
		s += fmt.Sprintf(" len=%d %s", len(w.Data), renderBytes(w.Data, maxDataRender))
	}
	return s
}

func (w Data) expect(p *Peer, why string) {
	p.t.Helper()
	f := p.nextOf(why, w, http2.FrameData)
	if f == nil {
		return
	}
	df := parseFrame(f.raw).(*http2.DataFrame)
	if df.StreamID != uint32(w.Stream) || df.StreamEnded() != w.EndStream ||
		w.Data != nil && !bytes.Equal(df.Data(), w.Data) {
		p.mismatch(why, f, w)
	}
}

func (w Headers) describe() string {
	s := fmt.Sprintf("HEADERS stream=%d%s", w.Stream, flagName(w.EndStream, " END_STREAM"))
	if w.Frames != 0 {
		s += fmt.Sprintf(" frames=%d", w.Frames)
	}
	return s + renderFields(w.Fields)
}

func (w Headers) expect(p *Peer, why string) {
	p.t.Helper()
	p.wantHeaders(why, w)
}

func (w RSTStream) describe() string {
	return fmt.Sprintf("RST_STREAM stream=%d %v", w.Stream, w.Code)
}

func (w RSTStream) expect(p *Peer, why string) {
	p.t.Helper()
	f := p.nextOf(why, w, http2.FrameRSTStream)
	if f == nil {
		return
	}
	rf := parseFrame(f.raw).(*http2.RSTStreamFrame)
	if rf.StreamID != uint32(w.Stream) || h2sm.ErrCode(rf.ErrCode) != w.Code {
		p.mismatch(why, f, w)
	}
}

func (w Settings) describe() string {
	s := "SETTINGS" + flagName(w.Ack, " ACK")
	for _, st := range sortedSettings(w.Values) {
		s += fmt.Sprintf(" %v=%d", st.ID, st.Val)
	}
	return s
}

func (w Settings) expect(p *Peer, why string) {
	p.t.Helper()
	f := p.nextOf(why, w, http2.FrameSettings)
	if f == nil {
		return
	}
	sf := parseFrame(f.raw).(*http2.SettingsFrame)
	ok := sf.IsAck() == w.Ack
	if w.Values != nil {
		var got []http2.Setting
		_ = sf.ForeachSetting(func(s http2.Setting) error { got = append(got, s); return nil })
		ok = ok && slices.Equal(sortedSettings(got), sortedSettings(w.Values))
	}
	if !ok {
		p.mismatch(why, f, w)
	}
}

func (w Ping) describe() string {
	return fmt.Sprintf("PING%s %x", flagName(w.Ack, " ACK"), w.Data)
}

func (w Ping) expect(p *Peer, why string) {
	p.t.Helper()
	f := p.nextOf(why, w, http2.FramePing)
	if f == nil {
		return
	}
	pf := parseFrame(f.raw).(*http2.PingFrame)
	if pf.IsAck() != w.Ack || pf.Data != w.Data {
		p.mismatch(why, f, w)
	}
}

func (w GoAway) describe() string {
	s := fmt.Sprintf("GOAWAY last=%d %v", w.LastStream, w.Code)
	if w.Debug != "" {
		s += " " + renderBytes([]byte(w.Debug), maxValueRender)
	}
	return s
}

func (w GoAway) expect(p *Peer, why string) {
	p.t.Helper()
	f := p.nextOf(why, w, http2.FrameGoAway)
	if f == nil {
		return
	}
	gf := parseFrame(f.raw).(*http2.GoAwayFrame)
	if gf.LastStreamID != uint32(w.LastStream) || h2sm.ErrCode(gf.ErrCode) != w.Code ||
		w.Debug != "" && string(gf.DebugData()) != w.Debug {
		p.mismatch(why, f, w)
	}
}

func (w WindowUpdate) describe() string {
	if w.Incr == 0 {
		return fmt.Sprintf("WINDOW_UPDATE stream=%d incr=any", w.Stream)
	}
	return fmt.Sprintf("WINDOW_UPDATE stream=%d incr=%d", w.Stream, w.Incr)
}

func (w WindowUpdate) expect(p *Peer, why string) {
	p.t.Helper()
	f := p.nextOf(why, w, http2.FrameWindowUpdate)
	if f == nil {
		return
	}
	wf := parseFrame(f.raw).(*http2.WindowUpdateFrame)
	if wf.StreamID != uint32(w.Stream) || w.Incr != 0 && wf.Increment != w.Incr {
		p.mismatch(why, f, w)
	}
}

// --- helpers ---

// pop removes the next frame from the queue; there must be one.
func (p *Peer) pop() *outFrame {
	f := &p.frames[p.fhead]
	p.fhead++
	if p.fhead == len(p.frames) {
		// The returned pointer stays valid: the backing array is only
		// reused by later appends, after the caller is done with it.
		p.frames, p.fhead = p.frames[:0], 0
	}
	return f
}

// next pops the next frame, or fails the test if there is none.
func (p *Peer) next(why, want string) *outFrame {
	p.t.Helper()
	if p.fhead == len(p.frames) {
		reason := "no frame from the server"
		if !p.reading {
			reason += " (the client is not reading: SetReading)"
		}
		p.t.Fatalf("%s: %s, want %s", why, reason, want)
		return nil
	}
	f := *p.pop()
	return &f
}

// nextOf pops the next frame and checks its type.
func (p *Peer) nextOf(why string, want ExpectedFrame, typ http2.FrameType) *outFrame {
	p.t.Helper()
	f := p.next(why, want.describe())
	if f != nil && f.hdr.Type != typ {
		p.mismatch(why, f, want)
		return nil
	}
	return f
}

func (p *Peer) mismatch(why string, got *outFrame, want ExpectedFrame) {
	p.t.Helper()
	p.t.Fatalf("%s:\n\tgot  %s%s\n\twant %s", why, got.line, renderFields(got.fields), want.describe())
}

// wantHeaders reads a header block and compares it with want.
func (p *Peer) wantHeaders(why string, want Headers) Headers {
	p.t.Helper()
	if p.fhead < len(p.frames) && p.frames[p.fhead].hdr.Type != http2.FrameHeaders {
		p.mismatch(why, p.pop(), want)
		return Headers{}
	}
	got, lines := p.readBlock(why + ": " + want.describe())
	if got.Stream != want.Stream || got.EndStream != want.EndStream ||
		want.Frames != 0 && got.Frames != want.Frames ||
		want.Fields != nil && !slices.Equal(got.Fields, want.Fields) {
		p.t.Fatalf("%s:\n\tgot  %s\n\twant %s", why, strings.Join(lines, "\n\t     "), want.describe())
	}
	return got
}

// readBlock pops a HEADERS frame and its CONTINUATIONs. The decoded fields
// are on the frame that ends the block.
func (p *Peer) readBlock(why string) (Headers, []string) {
	p.t.Helper()
	first := p.next(why, "HEADERS")
	if first == nil {
		return Headers{}, nil
	}
	h := Headers{
		Stream:    h2sm.StreamID(first.hdr.StreamID),
		EndStream: first.hdr.Flags.Has(http2.FlagHeadersEndStream),
		Frames:    1,
	}
	lines := []string{first.line}
	f := first
	for f.fields == nil {
		if p.fhead == len(p.frames) {
			p.t.Fatalf("%s: header block not complete: %s", why, strings.Join(lines, "; "))
			return h, lines
		}
		f = p.pop()
		lines = append(lines, f.line)
		h.Frames++
	}
	lines[len(lines)-1] += renderFields(f.fields)
	h.Fields = f.fields
	return h, lines
}

func (p *Peer) unreadEvents() []string {
	var left []string
	for _, ev := range p.events[p.ehead:] {
		left = append(left, "ev "+renderEvent(ev))
	}
	return left
}

// eventDiff names the first field in which got does not match want under
// WantEvent's rule, or returns "".
func eventDiff(got, want h2sm.Event) string {
	switch {
	case got.Kind != want.Kind:
		return "Kind"
	case got.Stream != want.Stream:
		return "Stream"
	case got.EndStream != want.EndStream:
		return "EndStream"
	case want.Method != "" && got.Method != want.Method:
		return "Method"
	case want.Scheme != "" && got.Scheme != want.Scheme:
		return "Scheme"
	case want.Authority != "" && got.Authority != want.Authority:
		return "Authority"
	case want.Path != "" && got.Path != want.Path:
		return "Path"
	case want.Protocol != "" && got.Protocol != want.Protocol:
		return "Protocol"
	case want.Fields != nil && !slices.Equal(got.Fields, want.Fields):
		return "Fields"
	case want.ContentLength != 0 && got.ContentLength != want.ContentLength:
		return "ContentLength"
	case want.Data != nil && !bytes.Equal(got.Data, want.Data):
		return "Data"
	case want.Err != nil && !errors.Is(got.Err, want.Err):
		return "Err"
	case want.Err != nil && remote(want.Err) && !remote(got.Err):
		return "Err.Remote"
	}
	return ""
}

// remote reports whether err is a *h2sm.ConnError or *h2sm.StreamError
// received from the peer.
func remote(err error) bool {
	var ce *h2sm.ConnError
	var se *h2sm.StreamError
	switch {
	case errors.As(err, &ce):
		return ce.Remote
	case errors.As(err, &se):
		return se.Remote
	}
	return false
}

func sortedSettings(s []http2.Setting) []http2.Setting {
	s = slices.Clone(s)
	slices.SortStableFunc(s, func(a, b http2.Setting) int { return int(a.ID) - int(b.ID) })
	return s
}
