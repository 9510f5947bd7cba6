package proptest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// An Op is one command of a run: something the client does (a frame), the
// application does (a Conn command) or the clock does. Its parameters are
// raw random numbers that apply resolves against the model when it runs
// (which stream, how many bytes the windows allow), so that any
// subsequence of a valid run is a valid run: shrinking never produces a
// client that breaks the protocol by accident.
type Op interface {
	apply(d *Driver)
	String() string
}

// Request building blocks. Package-level arrays, never modified.
var (
	methods = [...]string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"}
	paths   = [...]string{"/", "/index.html", "/a/b?c=d&e=f", "/%E2%82%AC/x", "*"}
)

// requestField returns the i-th optional request field.
func requestField(i int, seed uint8) h2sm.HeaderField {
	switch i % 6 {
	case 0:
		return h2sm.HeaderField{Name: "user-agent", Value: "proptest/1"}
	case 1:
		return h2sm.HeaderField{Name: "accept", Value: "*/*"}
	case 2:
		return h2sm.HeaderField{Name: "x-seed", Value: strconv.Itoa(int(seed))}
	case 3:
		return h2sm.HeaderField{Name: "te", Value: "trailers"}
	case 4:
		return h2sm.HeaderField{Name: "cookie", Value: "a=" + strconv.Itoa(int(seed)), Sensitive: true}
	default:
		return h2sm.HeaderField{Name: "x-long", Value: strings.Repeat("v", 10+int(seed))}
	}
}

// pattern returns n bytes of body at offset off of a stream: every byte
// depends on its position, so a lost, repeated or reordered frame shows.
func pattern(seed uint8, off, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		k := off + i
		p[i] = seed ^ byte(k) ^ byte(k>>8)*31
	}
	return p
}

// pick returns the sel-th of the records that satisfy ok, in id order.
func (m *model) pick(sel uint32, ok func(r *streamRec) bool) *streamRec {
	var c []*streamRec
	for _, r := range m.order {
		if ok(r) {
			c = append(c, r)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[int(sel%uint32(len(c)))]
}

// clientMaySend reports whether the client may still send DATA on r.
func clientMaySend(r *streamRec) bool {
	return r.requested && !r.clientEnded && !r.clientRST && !r.srvRST
}

// skip notes in the trace that a command found nothing to act on.
func (d *Driver) skip(why string) { d.tracef("   skip: %s", why) }

// flush sends the frames the client's Framer wrote since the last flush, as
// one write.
func (d *Driver) flush() {
	b := append([]byte(nil), d.wbuf.Bytes()...)
	d.wbuf.Reset()
	d.send(b)
}

// --- peer commands ---

// OpenStream sends a request: HEADERS, split into CONTINUATIONs at random
// points, optionally padded and with a priority.
type OpenStream struct {
	End           bool
	Method, Path  uint8
	Extra         uint8
	ContentLength int32 // -1: none
	Splits        []uint8
	Pad           int16 // -1: not padded
	Prio          bool
	Dep           uint32
	Weight        uint8
	Seed          uint8
}

// String renders the command for traces and failure reports.
func (o OpenStream) String() string {
	s := fmt.Sprintf("OpenStream{end=%v m=%d p=%d extra=%d cl=%d splits=%v pad=%d", o.End, o.Method, o.Path, o.Extra, o.ContentLength, o.Splits, o.Pad)
	if o.Prio {
		s += fmt.Sprintf(" prio=%d/%d", o.Dep, o.Weight)
	}
	return s + "}"
}

func (o OpenStream) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() || m.inDead || m.goAwaySent || m.clientGoAway {
		d.skip("no new stream after GOAWAY or close")
		return
	}
	id := m.nextID
	method := methods[int(o.Method)%len(methods)]
	path := paths[int(o.Path)%len(paths)]
	if path == "*" && method != "OPTIONS" {
		path = "/"
	}
	fields := []h2sm.HeaderField{
		{Name: ":method", Value: method}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "example.com"}, {Name: ":path", Value: path},
	}
	cl := int64(-1)
	if !o.End && o.ContentLength >= 0 {
		cl = int64(o.ContentLength)
		fields = append(fields, h2sm.HeaderField{Name: "content-length", Value: strconv.FormatInt(cl, 10)})
	}
	for i := range int(o.Extra % 6) {
		fields = append(fields, requestField(i+int(o.Seed), o.Seed))
	}
	r := m.stream(id)
	r.intent, r.contentLength = fields, cl
	accepted := m.activeStreams() < m.srv.maxConcurrent
	r.overLimit = !accepted
	d.tracef("   request %s", renderFields(fields))

	frags := splitBlock(d.encode(fields), o.Splits)
	pad := o.Pad
	if pad == 0 {
		pad = 1 // the Framer cannot express PADDED without padding
	}
	var prio http2.PriorityParam
	if o.Prio {
		prio = http2.PriorityParam{StreamDep: o.Dep % (id + 2), Weight: o.Weight}
		if prio.StreamDep == id {
			prio.StreamDep = 0
		}
	}
	for i, frag := range frags {
		endHeaders := i == len(frags)-1
		var err error
		if i == 0 {
			err = d.fw.WriteHeaders(http2.HeadersFrameParam{
				StreamID: id, BlockFragment: frag, EndStream: o.End, EndHeaders: endHeaders,
				PadLength: uint8(max(pad, 0)), Priority: prio,
			})
		} else {
			err = d.fw.WriteContinuation(id, endHeaders, frag)
		}
		if err != nil {
			panic(err)
		}
	}
	d.flush()
	if !d.valid() {
		return
	}
	if accepted {
		d.expect(PropRequestEvents, func() string { return checkRequest(r, o.End) })
	} else {
		d.expect(PropRequestEvents, func() string {
			switch {
			case r.evRequest:
				return fmt.Sprintf("stream %d over SETTINGS_MAX_CONCURRENT_STREAMS=%d reached the application", id, m.srv.maxConcurrent)
			case !r.srvRST || r.srvRSTCode != h2sm.ErrCodeRefusedStream && r.srvRSTCode != h2sm.ErrCodeProtocol:
				return fmt.Sprintf("stream %d over SETTINGS_MAX_CONCURRENT_STREAMS=%d not refused with RST_STREAM REFUSED_STREAM or PROTOCOL_ERROR (§5.1.2)", id, m.srv.maxConcurrent)
			}
			return ""
		})
	}
}

// checkRequest compares the request event of r with what the client sent.
func checkRequest(r *streamRec, end bool) string {
	if !r.evRequest {
		return fmt.Sprintf("request on stream %d, under the concurrency limit, did not reach the application", r.id)
	}
	ev := r.evEvent
	var regular []h2sm.HeaderField
	cl := int64(-1)
	for _, f := range r.intent {
		if f.Name[0] != ':' {
			regular = append(regular, f)
		}
		if f.Name == "content-length" {
			cl, _ = strconv.ParseInt(f.Value, 10, 64)
		}
	}
	got := fmt.Sprintf("%s %s %s %s end=%v cl=%d %s", ev.Method, ev.Scheme, ev.Authority, ev.Path, ev.EndStream, ev.ContentLength, renderFields(ev.Fields))
	want := fmt.Sprintf("%s %s %s %s end=%v cl=%d %s", r.intent[0].Value, r.intent[1].Value, r.intent[2].Value, r.intent[3].Value, end, cl, renderFields(regular))
	if got != want || !equalFields(ev.Fields, regular) && len(ev.Fields)+len(regular) > 0 {
		return fmt.Sprintf("request event on stream %d differs from what the client sent:\n\tgot  %s\n\twant %s", r.id, got, want)
	}
	return ""
}

// splitBlock splits a header block at the given points (fractions of 256);
// every fragment has at least one byte.
func splitBlock(block []byte, splits []uint8) [][]byte {
	var at []int
	for _, s := range splits {
		at = append(at, len(block)*int(s)/256)
	}
	slices.Sort(at)
	var frags [][]byte
	prev := 0
	for _, a := range at {
		if a > prev && a < len(block) {
			frags = append(frags, block[prev:a])
			prev = a
		}
	}
	return append(frags, block[prev:])
}

// Data sends a DATA frame of a random size, with or without padding, on a
// stream the client may send on, within the windows and the content-length.
type Data struct {
	Sel  uint32
	Size uint32
	Pad  int16 // -1: not padded
	End  bool
	Seed uint8
}

// String renders the command for traces and failure reports.
func (o Data) String() string {
	return fmt.Sprintf("Data{sel=%d size=%d pad=%d end=%v}", o.Sel, o.Size, o.Pad, o.End)
}

func (o Data) apply(d *Driver) {
	m := &d.m
	r := m.pick(o.Sel, clientMaySend)
	if d.conn.Closed() || r == nil {
		d.skip("no stream to send on")
		return
	}
	size := int(o.Size)
	if r.contentLength >= 0 {
		size = max(0, min(size, int(r.contentLength)-len(r.reqBody)))
	}
	room := int(min(m.clientConnWin(), m.clientStreamWin(r), int64(m.srv.maxFrame)))
	pad := int(o.Pad)
	if pad >= 0 && size+pad+1 > room {
		pad = -1
	}
	if pad < 0 {
		size = max(0, min(size, room))
	}
	end := o.End && (r.contentLength < 0 || len(r.reqBody)+size == int(r.contentLength))
	if size == 0 && pad < 0 && !end && o.Size > 0 {
		d.skip(fmt.Sprintf("stream %d: window closed", r.id))
		return
	}
	data := pattern(o.Seed, len(r.reqBody), size)
	if pad >= 0 {
		d.writeFrame(func(fw *http2.Framer) error { return fw.WriteDataPadded(r.id, end, data, make([]byte, pad)) })
	} else {
		d.writeFrame(func(fw *http2.Framer) error { return fw.WriteData(r.id, end, data) })
	}
}

// ClientTrailers ends a request with a trailer block.
type ClientTrailers struct {
	Sel  uint32
	Seed uint8
}

// String renders the command for traces and failure reports.
func (o ClientTrailers) String() string { return fmt.Sprintf("ClientTrailers{sel=%d}", o.Sel) }

func (o ClientTrailers) apply(d *Driver) {
	m := &d.m
	r := m.pick(o.Sel, func(r *streamRec) bool {
		return clientMaySend(r) && (r.contentLength < 0 || int64(len(r.reqBody)) == r.contentLength)
	})
	if d.conn.Closed() || r == nil {
		d.skip("no stream to end")
		return
	}
	fields := []h2sm.HeaderField{{Name: "x-trailer", Value: "t" + strconv.Itoa(int(o.Seed))}, {Name: "x-count", Value: strconv.Itoa(len(r.reqBody))}}
	d.tracef("   trailers %s", renderFields(fields))
	block := d.encode(fields)
	d.writeFrame(func(fw *http2.Framer) error {
		return fw.WriteHeaders(http2.HeadersFrameParam{StreamID: r.id, BlockFragment: block, EndStream: true, EndHeaders: true})
	})
}

// WindowUpdate grants the server credit on the connection or a stream,
// never taking a window above 2^31-1.
type WindowUpdate struct {
	Conn bool
	Sel  uint32
	Incr uint32
}

// String renders the command for traces and failure reports.
func (o WindowUpdate) String() string {
	if o.Conn {
		return fmt.Sprintf("WindowUpdate{conn incr=%d}", o.Incr)
	}
	return fmt.Sprintf("WindowUpdate{sel=%d incr=%d}", o.Sel, o.Incr)
}

func (o WindowUpdate) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() {
		d.skip("closed")
		return
	}
	var id uint32
	room := int64(maxWindow) - m.serverConnWin()
	if !o.Conn {
		r := m.pick(o.Sel, func(r *streamRec) bool { return r.requested && !r.srvEnded && !r.srvRST && !r.clientRST })
		if r == nil {
			d.skip("no stream to credit")
			return
		}
		id, room = r.id, int64(maxWindow)-m.serverStreamWin(r)
	}
	incr := min(int64(max(o.Incr, 1)), room)
	if incr < 1 {
		d.skip("window at 2^31-1")
		return
	}
	d.writeFrame(func(fw *http2.Framer) error { return fw.WriteWindowUpdate(id, uint32(incr)) })
}

// RSTStream resets a stream that is not closed.
type RSTStream struct {
	Sel  uint32
	Code uint8
}

// String renders the command for traces and failure reports.
func (o RSTStream) String() string { return fmt.Sprintf("RSTStream{sel=%d code=%d}", o.Sel, o.Code) }

func (o RSTStream) apply(d *Driver) {
	m := &d.m
	r := m.pick(o.Sel, func(r *streamRec) bool { return r.requested && !r.closed() })
	if d.conn.Closed() || r == nil {
		d.skip("no stream to reset")
		return
	}
	code := h2sm.ErrCode(o.Code % 14)
	known := r.evRequest && !r.evReset && !r.appReset
	d.writeFrame(func(fw *http2.Framer) error { return fw.WriteRSTStream(r.id, http2.ErrCode(code)) })
	if d.valid() && known {
		d.expect(PropRequestEvents, func() string {
			if !r.evReset {
				return fmt.Sprintf("the client reset stream %d with %v; the application was not told", r.id, code)
			}
			return ""
		})
	}
}

// Ping sends a PING.
type Ping struct{ Data [8]byte }

// String renders the command for traces and failure reports.
func (o Ping) String() string { return fmt.Sprintf("Ping{%x}", o.Data) }

func (o Ping) apply(d *Driver) {
	if d.conn.Closed() {
		d.skip("closed")
		return
	}
	d.writeFrame(func(fw *http2.Framer) error { return fw.WritePing(false, o.Data) })
}

// AckControl acknowledges the server's outstanding PINGs and SETTINGS.
type AckControl struct{}

// String renders the command for traces and failure reports.
func (AckControl) String() string { return "AckControl{}" }

func (AckControl) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() || len(m.srvPings) == 0 && m.srvUnacked == 0 {
		d.skip("nothing to acknowledge")
		return
	}
	for _, p := range m.srvPings {
		_ = d.fw.WritePing(true, p)
	}
	for range m.srvUnacked {
		_ = d.fw.WriteSettingsAck()
	}
	d.flush()
}

// SettingChoice is one entry of a Settings command: Kind picks the setting,
// Val its value, resolved so that the frame is valid.
type SettingChoice struct {
	Kind uint8
	Val  uint32
}

// Settings sends SETTINGS with random valid values, unknown identifiers
// included.
type Settings struct{ Entries []SettingChoice }

// String renders the command for traces and failure reports.
func (o Settings) String() string { return fmt.Sprintf("Settings%v", o.Entries) }

func (o Settings) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() {
		d.skip("closed")
		return
	}
	var ss []http2.Setting
	for _, e := range o.Entries {
		v := e.Val
		var s http2.Setting
		switch e.Kind % 7 {
		case 0:
			s.ID = http2.SettingInitialWindowSize
			choices := [...]uint32{0, 1, 100, 16384, 65535, 1 << 20, maxWindow, v % maxWindow}
			v = choices[v%uint32(len(choices))]
			// No stream window may go above 2^31-1 (§6.9.2).
			limit := int64(maxWindow)
			for _, r := range m.order {
				if !r.closed() {
					limit = min(limit, maxWindow-(r.recvGrant-r.recvSent))
				}
			}
			s.Val = uint32(max(0, min(int64(v), limit)))
		case 1:
			s.ID = http2.SettingMaxFrameSize
			choices := [...]uint32{16384, 16385, 32768, 1<<24 - 1, 16384 + v%(1<<24-16384)}
			s.Val = choices[v%uint32(len(choices))]
		case 2:
			s.ID = http2.SettingHeaderTableSize
			choices := [...]uint32{0, 1, 64, 4096, 8192, v % 65536}
			s.Val = choices[v%uint32(len(choices))]
		case 3:
			s.ID, s.Val = http2.SettingEnablePush, 0
		case 4:
			s.ID, s.Val = http2.SettingMaxConcurrentStreams, v
		case 5:
			s.ID, s.Val = http2.SettingMaxHeaderListSize, v
		default:
			s.ID, s.Val = http2.SettingID(0x10+v%0xffef), v
		}
		ss = append(ss, s)
	}
	d.writeFrame(func(fw *http2.Framer) error { return fw.WriteSettings(ss...) })
}

// Priority sends PRIORITY on an open, closed or idle stream.
type Priority struct {
	Sel    uint32
	Idle   bool
	Dep    uint32
	Weight uint8
	Excl   bool
}

// String renders the command for traces and failure reports.
func (o Priority) String() string {
	return fmt.Sprintf("Priority{sel=%d idle=%v dep=%d w=%d excl=%v}", o.Sel, o.Idle, o.Dep, o.Weight, o.Excl)
}

func (o Priority) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() {
		d.skip("closed")
		return
	}
	id := m.nextID + 2*(o.Sel%4)
	if r := m.pick(o.Sel, func(r *streamRec) bool { return r.requested }); !o.Idle && r != nil {
		id = r.id
	}
	dep := o.Dep % (m.nextID + 8)
	if dep == id {
		dep = 0
	}
	d.writeFrame(func(fw *http2.Framer) error {
		return fw.WritePriority(id, http2.PriorityParam{StreamDep: dep, Weight: o.Weight, Exclusive: o.Excl})
	})
}

// Unknown sends a frame of an unknown type, which the Conn must ignore
// (RFC 9113 §4.1), on stream 0 or a stream the client opened.
type Unknown struct {
	Type     uint8
	Flags    uint8
	OnStream bool
	Sel      uint32
	Len      uint8
}

// String renders the command for traces and failure reports.
func (o Unknown) String() string {
	return fmt.Sprintf("Unknown{type=%#02x flags=%#02x stream=%v len=%d}", 0x0a+o.Type%246, o.Flags, o.OnStream, o.Len)
}

func (o Unknown) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() {
		d.skip("closed")
		return
	}
	var id uint32
	if r := m.pick(o.Sel, func(r *streamRec) bool { return r.requested }); o.OnStream && r != nil {
		id = r.id
	}
	payload := pattern(o.Flags, 0, int(o.Len))
	d.writeFrame(func(fw *http2.Framer) error {
		return fw.WriteRawFrame(http2.FrameType(0x0a+o.Type%246), http2.Flags(o.Flags), id, payload)
	})
}

// ClientGoAway sends GOAWAY NO_ERROR: the client is leaving.
type ClientGoAway struct{}

// String renders the command for traces and failure reports.
func (ClientGoAway) String() string { return "ClientGoAway{}" }

func (ClientGoAway) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() || m.clientGoAway {
		d.skip("closed or GOAWAY already sent")
		return
	}
	serverGoAway := m.goAwaySent
	d.writeFrame(func(fw *http2.Framer) error { return fw.WriteGoAway(0, http2.ErrCodeNo, []byte("bye")) })
	if !d.valid() {
		return
	}
	d.expect(PropGoAwayRules, func() string {
		if serverGoAway || d.conn.Closed() && m.goAwaySent {
			return ""
		}
		for _, f := range d.stepFrames {
			if f.typ == http2.FrameGoAway {
				return ""
			}
		}
		return "the client's GOAWAY was not answered with a GOAWAY"
	})
}

// Advance moves the virtual clock, firing the timers on the way.
type Advance struct {
	Dur   time.Duration
	Early bool
}

// String renders the command for traces and failure reports.
func (o Advance) String() string { return fmt.Sprintf("Advance{%v early=%v}", o.Dur, o.Early) }

func (o Advance) apply(d *Driver) { d.advance(o.Dur, o.Early) }
