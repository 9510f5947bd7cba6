package proptest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// outcomeKind is what the RFC requires after an invalid frame.
type outcomeKind uint8

const (
	// outConnError: GOAWAY with one of the codes, and the connection closes.
	outConnError outcomeKind = iota
	// outStreamError: RST_STREAM on the stream with one of the codes, or
	// (RFC 9113 §5.4.1: a stream error may be treated as a connection
	// error) GOAWAY with one of them.
	outStreamError
	// outIgnored: the frame is ignored: no error, the connection stays open.
	outIgnored
	// outIgnoredOrConnError: ignored, or a connection error with one of the
	// codes (the RFC leaves the choice to the receiver).
	outIgnoredOrConnError
	// out431: a 431 response on the stream, or RST_STREAM on it (RFC 9113
	// §10.5.1: a larger field block than advertised).
	out431
	// outAny: any behaviour the other properties allow (a random frame).
	outAny
)

// outcome is the answer an injected frame requires.
type outcome struct {
	kind   outcomeKind
	codes  []h2sm.ErrCode
	stream uint32
	ack    bool // a SETTINGS ACK must follow
	rule   string
}

// String renders the outcome for traces and failure reports.
func (o outcome) String() string {
	var cs []string
	for _, c := range o.codes {
		cs = append(cs, c.String())
	}
	codes := strings.Join(cs, "|")
	switch o.kind {
	case outConnError:
		return "GOAWAY " + codes
	case outStreamError:
		return fmt.Sprintf("RST_STREAM %d or GOAWAY %s", o.stream, codes)
	case outIgnored:
		return "ignored"
	case outIgnoredOrConnError:
		return "ignored or GOAWAY " + codes
	case out431:
		return fmt.Sprintf("431 response or RST_STREAM on stream %d", o.stream)
	}
	return "anything the other properties allow"
}

// check compares what the Conn did during the step with the outcome.
func (o outcome) check(d *Driver) string {
	var goaway []h2sm.ErrCode
	var rst []h2sm.ErrCode
	ack := false
	for _, f := range d.stepFrames {
		switch {
		case f.typ == http2.FrameGoAway:
			goaway = append(goaway, f.code)
		case f.typ == http2.FrameRSTStream && f.stream == o.stream:
			rst = append(rst, f.code)
		case f.typ == http2.FrameSettings && f.flags.Has(http2.FlagSettingsAck):
			ack = true
		}
	}
	in := func(cs []h2sm.ErrCode) bool {
		for _, c := range cs {
			if slices.Contains(o.codes, c) {
				return true
			}
		}
		return false
	}
	got := fmt.Sprintf("got GOAWAY %v, RST_STREAM %v on stream %d, closed=%v", goaway, rst, o.stream, d.conn.Closed())
	errGoAway := func() bool {
		for _, c := range goaway {
			if c != h2sm.ErrCodeNo {
				return true
			}
		}
		return false
	}
	switch o.kind {
	case outConnError:
		if in(goaway) && d.conn.Closed() {
			return ""
		}
	case outStreamError:
		if in(rst) || in(goaway) && d.conn.Closed() {
			return ""
		}
	case outIgnored, outIgnoredOrConnError:
		if o.kind == outIgnoredOrConnError && in(goaway) && d.conn.Closed() {
			return ""
		}
		if !errGoAway() && len(rst) == 0 && !d.conn.Closed() && (!o.ack || ack) {
			return ""
		}
	case out431:
		r := d.m.streams[o.stream]
		if len(rst) > 0 || r != nil && len(r.srvHeaders) > 0 && len(r.srvHeaders[0]) > 0 &&
			r.srvHeaders[0][0] == (h2sm.HeaderField{Name: ":status", Value: "431"}) && r.srvEnded {
			return ""
		}
	default:
		return ""
	}
	return fmt.Sprintf("%s: want %v; %s", o.rule, o, got)
}

// raw builds a frame by hand.
func raw(typ http2.FrameType, flags http2.Flags, id uint32, payload []byte) []byte {
	b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), byte(typ), byte(flags)}
	b = binary.BigEndian.AppendUint32(b, id&(1<<31-1))
	return append(b, payload...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func setting(id http2.SettingID, v uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, uint16(id)), v)
}

// staticBlock is a request header block that uses only the static table
// and literals without indexing: decoding it leaves the HPACK dynamic table
// as it was, so it keeps the client's encoder in step however the Conn
// treats it.
func staticBlock() []byte {
	// :method GET, :scheme https, :path /, :authority example.com.
	return append([]byte{0x82, 0x87, 0x84, 0x01, 11}, "example.com"...)
}

const endHeaders = http2.FlagHeadersEndHeaders

// injectKind builds one invalid (or ignorable) frame for the current state,
// and the outcome the RFC requires. ok is false when the state does not
// allow the kind (no open stream, say).
type injectKind func(d *Driver, x uint32) (frames []byte, out outcome, ok bool)

// serverHolds: the Conn tracks the stream (it is open or half-closed).
func serverHolds(r *streamRec) bool {
	return r.evRequest && !r.closed() && !r.appReset && !r.evReset
}

func connErr(rule string, codes ...h2sm.ErrCode) outcome {
	return outcome{kind: outConnError, codes: codes, rule: rule}
}

func streamErr(id uint32, rule string, codes ...h2sm.ErrCode) outcome {
	return outcome{kind: outStreamError, stream: id, codes: codes, rule: rule}
}

const (
	protocol    = h2sm.ErrCodeProtocol
	frameSize   = h2sm.ErrCodeFrameSize
	flowControl = h2sm.ErrCodeFlowControl
	closedCode  = h2sm.ErrCodeStreamClosed
	compression = h2sm.ErrCodeCompression
)

// newStreamOK reports whether a new stream would be processed rather than
// refused or ignored.
func newStreamOK(d *Driver) bool {
	m := &d.m
	return !m.goAwaySent && !m.clientGoAway && m.activeStreams() < m.srv.maxConcurrent
}

// injectKinds is the catalogue of invalid frames, each with the answer
// RFC 9113 requires.
var injectKinds = [...]injectKind{
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameData, 0, 0, []byte("x")), connErr("§6.1 DATA on stream 0", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameHeaders, endHeaders|http2.FlagHeadersEndStream, d.m.nextID+1, staticBlock()),
			connErr("§5.1.1 even client stream id", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		n := int(x % 16)
		if n == 8 {
			n = 9
		}
		return raw(http2.FramePing, 0, 0, make([]byte, n)), connErr("§6.7 PING length != 8", frameSize), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FramePing, 0, 1+2*(x%5), make([]byte, 8)), connErr("§6.7 PING on a stream", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameSettings, 0, 1, nil), connErr("§6.5 SETTINGS on a stream", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		n := 1 + int(x%11)
		if n%6 == 0 {
			n++
		}
		return raw(http2.FrameSettings, 0, 0, make([]byte, n)), connErr("§6.5 SETTINGS length not a multiple of 6", frameSize), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameSettings, http2.FlagSettingsAck, 0, make([]byte, 6)), connErr("§6.5 SETTINGS ACK with a payload", frameSize), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameSettings, 0, 0, setting(http2.SettingInitialWindowSize, 1<<31+x%100)),
			connErr("§6.5.2 SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1", flowControl), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		v := 16383 - x%100
		if x%2 == 1 {
			v = 1<<24 + x%100
		}
		return raw(http2.FrameSettings, 0, 0, setting(http2.SettingMaxFrameSize, v)),
			connErr("§6.5.2 SETTINGS_MAX_FRAME_SIZE out of range", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameSettings, 0, 0, setting(http2.SettingEnablePush, 2+x%10)),
			connErr("§6.5.2 SETTINGS_ENABLE_PUSH not 0 or 1", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameWindowUpdate, 0, 0, u32(0)), connErr("§6.9 WINDOW_UPDATE increment 0 on the connection", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		n := 3 + 2*int(x%2)
		return raw(http2.FrameWindowUpdate, 0, 0, make([]byte, n)), connErr("§6.9 WINDOW_UPDATE length != 4", frameSize), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		w := d.m.serverConnWin()
		if w < 1 {
			return nil, outcome{}, false
		}
		return raw(http2.FrameWindowUpdate, 0, 0, u32(uint32(maxWindow-w+1))),
			connErr("§6.9.1 connection window above 2^31-1", flowControl), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, serverHolds)
		if r == nil {
			return nil, outcome{}, false
		}
		return raw(http2.FrameWindowUpdate, 0, r.id, u32(0)), streamErr(r.id, "§6.9 WINDOW_UPDATE increment 0 on a stream", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameWindowUpdate, 0, d.m.nextID+2*(x%4), u32(1)), connErr("§5.1 WINDOW_UPDATE on an idle stream", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameRSTStream, 0, 0, u32(0)), connErr("§6.4 RST_STREAM on stream 0", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameRSTStream, 0, d.m.nextID+2*(x%4), u32(8)), connErr("§6.4 RST_STREAM on an idle stream", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		id := uint32(1)
		if r := d.m.pick(x, func(r *streamRec) bool { return r.requested }); r != nil {
			id = r.id
		}
		return raw(http2.FrameRSTStream, 0, id, make([]byte, 3+2*int(x%2))), connErr("§6.4 RST_STREAM length != 4", frameSize), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FramePriority, 0, 0, []byte{0, 0, 0, 1, 15}), connErr("§6.3 PRIORITY on stream 0", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, serverHolds)
		if r == nil {
			return nil, outcome{}, false
		}
		return raw(http2.FramePriority, 0, r.id, make([]byte, 4+2*int(x%2))), streamErr(r.id, "§6.3 PRIORITY length != 5", frameSize), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, serverHolds)
		if r == nil {
			return nil, outcome{}, false
		}
		return raw(http2.FramePriority, 0, r.id, append(u32(r.id), 15)), streamErr(r.id, "§5.3.1 stream depends on itself", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		id := uint32(1)
		if r := d.m.pick(x, func(r *streamRec) bool { return r.requested }); r != nil {
			id = r.id
		}
		return raw(http2.FramePushPromise, endHeaders, id, append(u32(2), staticBlock()...)), connErr("§8.4 PUSH_PROMISE from a client", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		id := uint32(1)
		if r := d.m.pick(x, func(r *streamRec) bool { return r.requested }); r != nil {
			id = r.id
		}
		return raw(http2.FrameContinuation, http2.FlagContinuationEndHeaders, id, staticBlock()),
			connErr("§6.10 CONTINUATION without HEADERS", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameGoAway, 0, 1, make([]byte, 8)), connErr("§6.8 GOAWAY on a stream", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameData, 0, d.m.nextID+2*(x%4), []byte("x")), connErr("§5.1 DATA on an idle stream", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		id := uint32(1)
		if r := d.m.pick(x, func(r *streamRec) bool { return r.requested }); r != nil {
			id = r.id
		}
		return raw(http2.FrameData, 0, id, make([]byte, d.cfg.MaxFrameSize+1)), connErr("§4.2 frame over SETTINGS_MAX_FRAME_SIZE", frameSize), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		b := raw(http2.FrameHeaders, 0, d.m.nextID, staticBlock())
		return append(b, raw(http2.FramePing, 0, 0, make([]byte, 8))...), connErr("§6.10 header block interrupted", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, func(r *streamRec) bool { return serverHolds(r) && r.clientEnded })
		if r == nil {
			return nil, outcome{}, false
		}
		return raw(http2.FrameHeaders, endHeaders|http2.FlagHeadersEndStream, r.id, staticBlock()),
			streamErr(r.id, "§5.1 HEADERS on a half-closed (remote) stream", closedCode), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, func(r *streamRec) bool { return serverHolds(r) && r.clientEnded })
		if r == nil {
			return nil, outcome{}, false
		}
		return raw(http2.FrameData, 0, r.id, []byte("x")), streamErr(r.id, "§5.1 DATA on a half-closed (remote) stream", closedCode), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, func(r *streamRec) bool {
			return r.evRequest && r.clientEnded && r.srvEnded && !r.srvRST && !r.clientRST
		})
		if r == nil {
			return nil, outcome{}, false
		}
		o := streamErr(r.id, "§5.1 DATA on a closed stream", closedCode)
		return raw(http2.FrameData, 0, r.id, []byte("x")), o, true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, func(r *streamRec) bool {
			return r.evRequest && r.clientEnded && r.srvEnded && !r.srvRST && !r.clientRST
		})
		if r == nil {
			return nil, outcome{}, false
		}
		o := streamErr(r.id, "§5.1/§5.1.1 HEADERS on a closed stream", closedCode, protocol)
		return raw(http2.FrameHeaders, endHeaders|http2.FlagHeadersEndStream, r.id, staticBlock()), o, true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		if !newStreamOK(d) {
			return nil, outcome{}, false
		}
		block := []byte{0x80} // indexed field 0 (RFC 7541 §6.1)
		if x%2 == 1 {
			block = []byte{0xff, 0xff, 0x7f} // an index beyond both tables
		}
		return raw(http2.FrameHeaders, endHeaders|http2.FlagHeadersEndStream, d.m.nextID, block),
			connErr("§4.3 invalid HPACK index", compression), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		if !newStreamOK(d) {
			return nil, outcome{}, false
		}
		fields := []h2sm.HeaderField{
			{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
			{Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/"},
		}
		rule := ""
		switch x % 5 {
		case 0:
			fields, rule = fields[:3], "§8.3.1 request without :path"
		case 1:
			fields, rule = append(fields, h2sm.HeaderField{Name: "X-Upper", Value: "v"}), "§8.2 uppercase field name"
		case 2:
			fields, rule = append(fields, h2sm.HeaderField{Name: "connection", Value: "close"}), "§8.2.2 connection-specific field"
		case 3:
			fields, rule = append(fields, h2sm.HeaderField{Name: "te", Value: "gzip"}), "§8.2.2 te other than trailers"
		default:
			fields, rule = append([]h2sm.HeaderField{{Name: "x-first", Value: "v"}}, fields...), "§8.3 pseudo-header after a regular field"
		}
		id := d.m.nextID
		d.tracef("   malformed request %s", renderFields(fields))
		return raw(http2.FrameHeaders, endHeaders|http2.FlagHeadersEndStream, id, d.encode(fields)),
			streamErr(id, rule, protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		id := uint32(1)
		if r := d.m.pick(x, func(r *streamRec) bool { return r.requested }); r != nil {
			id = r.id
		}
		p := []byte{byte(4 + x%10), 'a', 'b', 'c'} // pad length >= payload length
		return raw(http2.FrameData, http2.FlagDataPadded, id, p), connErr("§6.1 padding as long as the payload", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		id := d.m.nextID + 2*(x%4)
		return raw(http2.FrameType(0x0a+x%200), http2.Flags(x), id, []byte("ext")),
			outcome{kind: outIgnored, stream: id, rule: "§4.1 unknown frame type"}, true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		p := binary.BigEndian.AppendUint64(nil, 1<<63|uint64(x))
		return raw(http2.FramePing, http2.FlagPingAck, 0, p), outcome{kind: outIgnored, rule: "§6.7 PING ACK nobody asked for"}, true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		return raw(http2.FrameSettings, 0, 0, setting(http2.SettingID(0x20+x%1000), x)),
			outcome{kind: outIgnored, ack: true, rule: "§6.5.2 unknown setting"}, true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, func(r *streamRec) bool { return r.requested && r.closed() })
		if r == nil {
			return nil, outcome{}, false
		}
		typ, p := http2.FrameWindowUpdate, u32(1+x%1000)
		if x%2 == 1 {
			typ, p = http2.FrameRSTStream, u32(8)
		}
		return raw(typ, 0, r.id, p), outcome{kind: outIgnoredOrConnError, stream: r.id, codes: []h2sm.ErrCode{protocol, closedCode},
			rule: "§5.1 WINDOW_UPDATE or RST_STREAM on a closed stream"}, true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, func(r *streamRec) bool { return serverHolds(r) && !r.clientEnded && r.contentLength >= 0 })
		if r == nil {
			return nil, outcome{}, false
		}
		n := int(r.contentLength) - len(r.reqBody) - 1 // one short
		if n < 0 {
			n = 1 // one over
		}
		if int64(n) > min(d.m.clientConnWin(), d.m.clientStreamWin(r), int64(d.m.srv.maxFrame)) {
			return nil, outcome{}, false
		}
		return raw(http2.FrameData, http2.FlagDataEndStream, r.id, make([]byte, n)),
			streamErr(r.id, "§8.1.1 body length differs from content-length", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		m := &d.m
		r := m.pick(x, serverHolds)
		if r == nil {
			return nil, outcome{}, false
		}
		// The server's send window on the stream is w = initial + grant -
		// sent; a WINDOW_UPDATE makes grant - sent positive, then
		// INITIAL_WINDOW_SIZE = 2^31-1 pushes the window over.
		w := m.serverStreamWin(r)
		incr := max(1, r.recvSent-r.recvGrant+1)
		if len(m.cli) > 1 || w+incr > maxWindow {
			return nil, outcome{}, false
		}
		b := raw(http2.FrameWindowUpdate, 0, r.id, u32(uint32(incr)))
		return append(b, raw(http2.FrameSettings, 0, 0, setting(http2.SettingInitialWindowSize, maxWindow))...),
			connErr("§6.9.2 SETTINGS_INITIAL_WINDOW_SIZE pushes a stream window above 2^31-1", flowControl), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		m := &d.m
		r := m.pick(x, serverHolds)
		if r == nil || len(m.cli) > 1 {
			return nil, outcome{}, false
		}
		w := m.serverStreamWin(r)
		if w < 1 {
			return nil, outcome{}, false
		}
		return raw(http2.FrameWindowUpdate, 0, r.id, u32(uint32(maxWindow-w+1))),
			streamErr(r.id, "§6.9.1 stream window above 2^31-1", flowControl), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		m := &d.m
		r := m.pick(x, func(r *streamRec) bool { return serverHolds(r) && !r.clientEnded })
		if r == nil {
			return nil, outcome{}, false
		}
		w := m.clientStreamWin(r)
		if w < 0 || w+1 > int64(m.srv.maxFrame) || w+1 > m.clientConnWin() {
			return nil, outcome{}, false
		}
		return raw(http2.FrameData, 0, r.id, make([]byte, w+1)), streamErr(r.id, "§6.9.1 DATA over the stream window", flowControl), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		r := d.m.pick(x, func(r *streamRec) bool { return serverHolds(r) && !r.clientEnded })
		if r == nil {
			return nil, outcome{}, false
		}
		return raw(http2.FrameHeaders, endHeaders, r.id, staticBlock()), streamErr(r.id, "§8.1 second HEADERS without END_STREAM", protocol), true
	},
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		if !newStreamOK(d) {
			return nil, outcome{}, false
		}
		id := d.m.nextID
		p := append(append(u32(id), 15), staticBlock()...)
		return raw(http2.FrameHeaders, endHeaders|http2.FlagHeadersEndStream|http2.FlagHeadersPriority, id, p),
			streamErr(id, "§5.3.1 HEADERS depending on itself", protocol), true
	},
	oversized,
	func(d *Driver, x uint32) ([]byte, outcome, bool) {
		p := append([]byte{byte(len(staticBlock()) + 1 + int(x%5))}, staticBlock()...)
		return raw(http2.FrameHeaders, endHeaders|http2.FlagHeadersEndStream|http2.FlagHeadersPadded, d.m.nextID, p),
			connErr("§6.2 HEADERS padding as long as the payload", protocol), true
	},
}

// oversized sends a request whose header list is over
// SETTINGS_MAX_HEADER_LIST_SIZE (but under four times it), in frames the
// server's SETTINGS_MAX_FRAME_SIZE allows.
func oversized(d *Driver, x uint32) ([]byte, outcome, bool) {
	if !newStreamOK(d) {
		return nil, outcome{}, false
	}
	id := d.m.nextID
	fields := []h2sm.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/"},
	}
	per := int(d.cfg.MaxHeaderListSize)/3 + 100
	for i := range 4 {
		fields = append(fields, h2sm.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("v", per)})
	}
	end := x%2 == 0
	frags := splitBlock(d.encode(fields), nil)
	var b []byte
	for off, i := 0, 0; off < len(frags[0]); i++ {
		n := min(len(frags[0])-off, int(d.m.srv.maxFrame))
		flags := http2.Flags(0)
		if off+n == len(frags[0]) {
			flags |= endHeaders
		}
		typ := http2.FrameContinuation
		if i == 0 {
			typ = http2.FrameHeaders
			if end {
				flags |= http2.FlagHeadersEndStream
			}
		}
		b = append(b, raw(typ, flags, id, frags[0][off:off+n])...)
		off += n
	}
	d.tracef("   request with 4 fields of %d bytes", per)
	return b, outcome{kind: out431, stream: id, rule: "§10.5.1 header list over SETTINGS_MAX_HEADER_LIST_SIZE"}, true
}

// randomFrame is a frame of a random type, flags, stream and payload: the
// Conn may do anything the other properties allow, but not panic or hang.
func randomFrame(d *Driver, x uint32) ([]byte, outcome) {
	ids := []uint32{0, 1, d.m.nextID, d.m.nextID + 1}
	if r := d.m.pick(x, func(r *streamRec) bool { return r.requested }); r != nil {
		ids = append(ids, r.id)
	}
	p := pattern(byte(x>>8), int(x>>16), int(x%24))
	return raw(http2.FrameType(x%11), http2.Flags(x>>4), ids[int(x>>12)%len(ids)], p), outcome{kind: outAny, rule: "random frame"}
}

// Inject sends one invalid frame chosen from the catalogue (or a random
// frame), and checks the answer the RFC requires.
type Inject struct {
	Kind uint8
	X    uint32
}

// String renders the command for traces and failure reports.
func (o Inject) String() string { return fmt.Sprintf("Inject{kind=%d x=%d}", o.Kind, o.X) }

func (o Inject) apply(d *Driver) {
	m := &d.m
	if d.conn.Closed() || m.inDead || m.clientBlock {
		d.skip("closed")
		return
	}
	var frames []byte
	var out outcome
	ok := false
	if k := int(o.Kind); k < len(injectKinds) {
		frames, out, ok = injectKinds[k](d, o.X)
	}
	if !ok {
		frames, out = randomFrame(d, o.X)
	}
	d.tracef("   inject (%s), expect %v", out.rule, out)
	d.send(frames)
	d.expect(PropInvalidFrame, func() string { return out.check(d) })
}

// Mutate corrupts one byte of the client's next write.
type Mutate struct {
	Pos uint32
	Xor uint8
}

// String renders the command for traces and failure reports.
func (o Mutate) String() string { return fmt.Sprintf("Mutate{pos=%d xor=%#02x}", o.Pos, 1+o.Xor%255) }

func (o Mutate) apply(d *Driver) {
	d.mutation = &mutation{pos: o.Pos, xor: 1 + o.Xor%255}
	d.tracef("   the next client write gets a corrupted byte")
}
