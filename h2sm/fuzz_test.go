package h2sm

import (
	"bytes"
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

// The fuzz targets of STYLE.md §5.6. They drive a Conn through connDriver
// (fuzzdriver_test.go), which checks the invariants after every call.

// --- fuzz configurations ---

// fuzzConfig picks one of a few configurations: the defaults, tight limits
// and short timers, manual flow control with timers off, and extreme limits.
// Each keeps StreamSendBuffer ≤ 2×MaxFrameSize (see outputSlack).
func fuzzConfig(sel byte) Config {
	cfg := fuzzConfigBase(sel)
	if sel&4 != 0 {
		// Half the inputs borrow buffers from a pool that poisons what it
		// takes back: a byte used after Put corrupts the output.
		cfg.Buffers = &poisonPool{}
	}
	return cfg
}

func fuzzConfigBase(sel byte) Config {
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

		// Differential check against x/net's decoder with the same limits. Its
		// table starts at 4096 bytes: a smaller SETTINGS_HEADER_TABLE_SIZE
		// only bounds the size updates the client may send (RFC 7541 §4.2);
		// the table shrinks when the client sends one.
		xdec := hpack.NewDecoder(4096, nil)
		xdec.SetAllowedMaxDynamicTableSize(d.cfg.HeaderTableSize)
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
				// x/net's decoder allows a size update after a field while its
				// table is empty; the Conn applies RFC 7541 §4.2 strictly
				// (catalogue #14b, tested directly by TestSizeUpdateScan).
				if g.Code == http2.ErrCodeCompression && !strings.Contains(g.Debug, "size update after a field") {
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
	d       *connDriver
	enc     *hpack.Encoder
	encBuf  bytes.Buffer
	next    uint32   // next new client stream id
	streams []uint32 // streams the peer opened
	pending []byte   // rest of a header block left open
	pendID  uint32

	blocks  map[uint32][][]HeaderField // regular fields of each header block sent, per stream
	checked int                        // events already compared with blocks
	unknown map[uint32]bool            // streams whose blocks got random bytes
	raw     bool                       // random bytes were sent: any block is possible
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
		if s.raw || s.unknown[uint32(e.Stream)] {
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
			s.unknown[id] = true
		}
		s.pending = nil
		d.receive(wireFrame(0x9, flags&0x4, id, frag))
	case opRaw:
		s.raw = true
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
var knownCrashers = map[string]string{}

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
	s := &opsState{d: d, next: 1, blocks: map[uint32][][]HeaderField{}, unknown: map[uint32]bool{}}
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
		t.Errorf("Stats().QueuedControlFrames = %d > MaxQueuedControlFrames 2 after the overflow", s.QueuedControlFrames)
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
		t.Fatalf("CONTINUATION ending a trailer block after ResetStream panics: %v", panicked)
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

// TestFuzzCorpusFiles checks that every directory under testdata/fuzz names
// a fuzz target: go test replays the committed crashers there only for a
// target of that name, so a misnamed directory would silently not run.
func TestFuzzCorpusFiles(t *testing.T) {
	targets := map[string]bool{"FuzzFrameParse": true, "FuzzHPACKDecode": true, "FuzzConnReceive": true, "FuzzConnOps": true, "FuzzHeaderValidation": true}
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
