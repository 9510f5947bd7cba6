package memory

import (
	"bytes"
	"encoding/binary"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// defaultFragment is the largest header block fragment WriteHeaders puts in
// one frame unless told otherwise: the smallest SETTINGS_MAX_FRAME_SIZE, so
// the default is always legal.
const defaultFragment = 16384

// --- header field builders ---

// GET returns the header fields of a GET request for path:
// :method GET, :scheme https, :authority example.com and :path.
func GET(path string) []h2sm.HeaderField { return Request("GET", path) }

// POST returns the header fields of a POST request for path, as GET does.
func POST(path string) []h2sm.HeaderField { return Request("POST", path) }

// Request returns the header fields of a request: :method method, :scheme
// https, :authority example.com, :path path, then extra. The slice is new.
func Request(method, path string, extra ...h2sm.HeaderField) []h2sm.HeaderField {
	f := make([]h2sm.HeaderField, 0, 4+len(extra))
	f = append(f,
		h2sm.HeaderField{Name: ":method", Value: method},
		h2sm.HeaderField{Name: ":scheme", Value: "https"},
		h2sm.HeaderField{Name: ":authority", Value: "example.com"},
		h2sm.HeaderField{Name: ":path", Value: path},
	)
	return append(f, extra...)
}

// Fields returns header fields from alternating names and values, as in
// Fields(":status", "200", "content-type", "text/plain"). It panics if the
// number of arguments is odd.
func Fields(nameValue ...string) []h2sm.HeaderField {
	if len(nameValue)%2 != 0 {
		panic("memory.Fields: odd number of arguments")
	}
	f := make([]h2sm.HeaderField, 0, len(nameValue)/2)
	for i := 0; i < len(nameValue); i += 2 {
		f = append(f, h2sm.HeaderField{Name: nameValue[i], Value: nameValue[i+1]})
	}
	return f
}

// --- HEADERS options ---

// A HeadersOption changes how WriteHeaders frames a header block.
type HeadersOption interface {
	applyHeaders(*headersParams)
}

// headersParams is what the HeadersOptions set.
type headersParams struct {
	end, noEndHeaders bool
	padded            bool
	pad               int
	priority          bool
	prio              http2.PriorityParam
	split             []int
	maxFragment       int
}

// headersFlag is a HeadersOption without a parameter.
type headersFlag uint8

// HeadersOptions without a parameter.
const (
	// EndStream sets END_STREAM on the HEADERS frame.
	EndStream headersFlag = iota + 1
	// NoEndHeaders leaves END_HEADERS off the last frame written, so that
	// the test goes on with WriteContinuation (or interrupts the block).
	NoEndHeaders
)

func (f headersFlag) applyHeaders(hp *headersParams) {
	switch f {
	case EndStream:
		hp.end = true
	case NoEndHeaders:
		hp.noEndHeaders = true
	}
}

// headersFunc is a HeadersOption with parameters.
type headersFunc func(*headersParams)

func (f headersFunc) applyHeaders(hp *headersParams) { f(hp) }

// Padded sets PADDED on the HEADERS frame with n bytes of zero padding (0 to
// 255; 0 still sets the flag).
func Padded(n int) HeadersOption {
	return headersFunc(func(hp *headersParams) { hp.padded, hp.pad = true, n })
}

// Priority sets PRIORITY on the HEADERS frame with the given dependency,
// weight (zero-indexed, as on the wire: 15 means 16) and exclusive bit.
func Priority(dep h2sm.StreamID, weight uint8, excl bool) HeadersOption {
	return headersFunc(func(hp *headersParams) {
		hp.priority = true
		hp.prio = http2.PriorityParam{StreamDep: uint32(dep), Weight: weight, Exclusive: excl}
	})
}

// SplitAt splits the header block into fragments: the HEADERS frame carries
// the first sizes[0] bytes, each CONTINUATION the next size, and the rest of
// the block follows in frames no larger than MaxFragment's limit. Sizes
// beyond the block are clamped; a zero size makes an empty fragment.
func SplitAt(sizes ...int) HeadersOption {
	return headersFunc(func(hp *headersParams) { hp.split = append(hp.split[:0:0], sizes...) })
}

// MaxFragment sets the largest fragment one frame carries (default 16384).
// A larger value lets a test send a frame over the server's
// SETTINGS_MAX_FRAME_SIZE.
func MaxFragment(n int) HeadersOption {
	return headersFunc(func(hp *headersParams) { hp.maxFragment = n })
}

// fragments splits block as the options say. There is at least one.
func (hp *headersParams) fragments(block []byte) [][]byte {
	var frags [][]byte
	for _, n := range hp.split {
		n = max(0, min(n, len(block)))
		frags = append(frags, block[:n])
		block = block[n:]
	}
	limit := hp.maxFragment
	if limit <= 0 {
		limit = defaultFragment
	}
	if len(frags) == 0 || len(block) > 0 {
		for {
			n := min(len(block), limit)
			frags = append(frags, block[:n])
			block = block[n:]
			if len(block) == 0 {
				break
			}
		}
	}
	return frags
}

// --- writers ---

// EncodeHeaders returns fields encoded with the client's HPACK encoder, for
// frames a test builds by hand. The encoder's dynamic table now assumes the
// server decodes this block, so the test must send it (and in order with the
// blocks WriteHeaders sends).
func (p *Peer) EncodeHeaders(fields []h2sm.HeaderField) []byte {
	p.encBuf.Reset()
	for _, f := range fields {
		// Writing to a bytes.Buffer cannot fail.
		_ = p.enc.WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive})
	}
	return bytes.Clone(p.encBuf.Bytes())
}

// Preface writes the client connection preface (RFC 9113 §3.4).
func (p *Peer) Preface() {
	p.t.Helper()
	p.send([]byte(http2.ClientPreface))
}

// Handshake writes the preface and the client's SETTINGS (see
// WithSettings), reads the server's SETTINGS and checks them against the
// Conn's Config, reads the connection WINDOW_UPDATE the server sends when
// its ConnWindowSize is above 65535, acknowledges the server's SETTINGS and
// reads the server's SETTINGS ACK. It leaves none of these frames pending.
func (p *Peer) Handshake() {
	p.t.Helper()
	p.Preface()
	p.WriteSettings(p.opts.settings...)
	p.wantServerSettings()
	p.WriteSettingsAck()
	p.WantFrame("server acknowledges the client's SETTINGS", Settings{Ack: true})
}

// WriteSettings writes a SETTINGS frame with the given values, in order.
func (p *Peer) WriteSettings(settings ...http2.Setting) {
	p.t.Helper()
	p.write(p.fw.WriteSettings(settings...))
}

// WriteSettingsAck writes a SETTINGS frame with ACK.
func (p *Peer) WriteSettingsAck() {
	p.t.Helper()
	p.write(p.fw.WriteSettingsAck())
}

// WriteHeaders encodes fields with the client's HPACK encoder and writes
// them on stream id as a HEADERS frame followed, if the options split the
// block, by CONTINUATION frames; all are handed to the Conn at once. By
// default the block is split at 16384 bytes and the last frame has
// END_HEADERS.
func (p *Peer) WriteHeaders(id h2sm.StreamID, fields []h2sm.HeaderField, opts ...HeadersOption) {
	p.t.Helper()
	var hp headersParams
	for _, o := range opts {
		o.applyHeaders(&hp)
	}
	if hp.padded && (hp.pad < 0 || hp.pad > 255) {
		p.t.Fatalf("memory: Padded(%d): padding must be in [0, 255]", hp.pad)
		return
	}
	frags := hp.fragments(p.EncodeHeaders(fields))
	for i, frag := range frags {
		endHeaders := i == len(frags)-1 && !hp.noEndHeaders
		var err error
		if i == 0 {
			err = p.writeHeadersFrame(id, frag, &hp, endHeaders)
		} else {
			err = p.fw.WriteContinuation(uint32(id), endHeaders, frag)
		}
		if err != nil {
			p.t.Fatalf("memory: writing HEADERS: %v", err)
			return
		}
	}
	p.write(nil)
}

// writeHeadersFrame writes the first frame of a header block. The Framer
// cannot express PADDED with no padding or PRIORITY with all-zero fields,
// so those are built by hand.
func (p *Peer) writeHeadersFrame(id h2sm.StreamID, frag []byte, hp *headersParams, endHeaders bool) error {
	if (!hp.padded || hp.pad > 0) && (!hp.priority || !hp.prio.IsZero()) {
		return p.fw.WriteHeaders(http2.HeadersFrameParam{
			StreamID: uint32(id), BlockFragment: frag, EndStream: hp.end, EndHeaders: endHeaders,
			PadLength: uint8(hp.pad), Priority: hp.prio,
		})
	}
	var flags http2.Flags
	var payload []byte
	if hp.end {
		flags |= http2.FlagHeadersEndStream
	}
	if endHeaders {
		flags |= http2.FlagHeadersEndHeaders
	}
	if hp.padded {
		flags |= http2.FlagHeadersPadded
		payload = append(payload, byte(hp.pad))
	}
	if hp.priority {
		flags |= http2.FlagHeadersPriority
		v := hp.prio.StreamDep
		if hp.prio.Exclusive {
			v |= 1 << 31
		}
		payload = binary.BigEndian.AppendUint32(payload, v)
		payload = append(payload, hp.prio.Weight)
	}
	payload = append(payload, frag...)
	payload = append(payload, make([]byte, hp.pad)...)
	return p.fw.WriteRawFrame(http2.FrameHeaders, flags, uint32(id), payload)
}

// WriteContinuation writes a CONTINUATION frame with a fragment, as from
// EncodeHeaders.
func (p *Peer) WriteContinuation(id h2sm.StreamID, endHeaders bool, fragment []byte) {
	p.t.Helper()
	p.write(p.fw.WriteContinuation(uint32(id), endHeaders, fragment))
}

// WriteData writes a DATA frame. data is not retained.
func (p *Peer) WriteData(id h2sm.StreamID, data []byte, end bool) {
	p.t.Helper()
	p.write(p.fw.WriteData(uint32(id), end, data))
}

// WriteDataPadded writes a DATA frame with PADDED and pad bytes of zero
// padding (0 to 255; 0 still sets the flag).
func (p *Peer) WriteDataPadded(id h2sm.StreamID, data []byte, end bool, pad int) {
	p.t.Helper()
	if pad < 0 || pad > 255 {
		p.t.Fatalf("memory: WriteDataPadded: padding %d must be in [0, 255]", pad)
		return
	}
	p.write(p.fw.WriteDataPadded(uint32(id), end, data, make([]byte, pad)))
}

// WritePriority writes a PRIORITY frame; weight is zero-indexed as on the
// wire.
func (p *Peer) WritePriority(id, dep h2sm.StreamID, weight uint8, excl bool) {
	p.t.Helper()
	p.write(p.fw.WritePriority(uint32(id), http2.PriorityParam{StreamDep: uint32(dep), Weight: weight, Exclusive: excl}))
}

// WriteRSTStream writes a RST_STREAM frame.
func (p *Peer) WriteRSTStream(id h2sm.StreamID, code h2sm.ErrCode) {
	p.t.Helper()
	p.write(p.fw.WriteRSTStream(uint32(id), http2.ErrCode(code)))
}

// WritePing writes a PING frame.
func (p *Peer) WritePing(ack bool, data [8]byte) {
	p.t.Helper()
	p.write(p.fw.WritePing(ack, data))
}

// WriteGoAway writes a GOAWAY frame.
func (p *Peer) WriteGoAway(last h2sm.StreamID, code h2sm.ErrCode, debug string) {
	p.t.Helper()
	p.write(p.fw.WriteGoAway(uint32(last), http2.ErrCode(code), []byte(debug)))
}

// WriteWindowUpdate writes a WINDOW_UPDATE frame; stream 0 is the
// connection. Any increment may be written, 0 included.
func (p *Peer) WriteWindowUpdate(id h2sm.StreamID, incr uint32) {
	p.t.Helper()
	p.write(p.fw.WriteWindowUpdate(uint32(id), incr))
}

// WritePushPromise writes a PUSH_PROMISE frame (which a client must never
// send) with fields encoded as one block.
func (p *Peer) WritePushPromise(id, promised h2sm.StreamID, fields []h2sm.HeaderField) {
	p.t.Helper()
	p.write(p.fw.WritePushPromise(http2.PushPromiseParam{
		StreamID: uint32(id), PromiseID: uint32(promised),
		BlockFragment: p.EncodeHeaders(fields), EndHeaders: true,
	}))
}

// WriteRawFrame writes a frame with any type, flags and payload, for
// malformed and unknown frames. payload is not retained.
func (p *Peer) WriteRawFrame(typ http2.FrameType, flags http2.Flags, id h2sm.StreamID, payload []byte) {
	p.t.Helper()
	p.write(p.fw.WriteRawFrame(typ, flags, uint32(id), payload))
}

// WriteRaw hands arbitrary bytes to the Conn, for partial frames and
// garbage. b is not retained.
func (p *Peer) WriteRaw(b []byte) {
	p.t.Helper()
	p.tracef("-> raw %d bytes", len(b))
	p.send(bytes.Clone(b))
}

// write sends what the Framer wrote, or fails the test with its error.
func (p *Peer) write(err error) {
	p.t.Helper()
	if err != nil {
		p.wbuf.Reset()
		p.t.Fatalf("memory: writing a frame: %v", err)
		return
	}
	b := bytes.Clone(p.wbuf.Bytes())
	p.wbuf.Reset()
	p.send(b)
}

// send traces b, queues it as input and drains.
func (p *Peer) send(b []byte) {
	p.t.Helper()
	p.traceInput(b)
	p.in = append(p.in, b...)
	p.drain()
}
