package memory

import (
	"errors"
	"fmt"
	"math"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// RFC 9113 defaults the oracle starts from.
const (
	initialTableSize  = 4096  // SETTINGS_HEADER_TABLE_SIZE (§6.5.2)
	initialWindow     = 65535 // SETTINGS_INITIAL_WINDOW_SIZE and the connection window (§6.9.2)
	initialFrameLimit = 16384 // SETTINGS_MAX_FRAME_SIZE (§6.5.2)
)

// outFrame is a frame the server sent, waiting for the test to read it.
type outFrame struct {
	hdr  http2.FrameHeader
	raw  []byte // the whole frame, header included
	line string // its rendering, as in the trace
	// fields is set on the frame that ends a header block: the whole block,
	// decoded.
	fields []h2sm.HeaderField
}

// peerLimits are upper bounds on what the client allowed the server, from
// the frames the client wrote. They are bounds rather than exact values
// because the Conn may not have consumed those frames yet: a setting is
// known to apply only once the server acknowledged it, so until then the
// larger of the old and new values is allowed, and the oracle never fails a
// correct server.
type peerLimits struct {
	blind bool // the input is not decodable: no checks

	// settings[0] holds the values the server acknowledged last (the RFC
	// defaults at first), the rest those of the client's SETTINGS frames it
	// has not acknowledged yet, in order.
	settings []settingValues

	connGrant  int64 // initialWindow + connection WINDOW_UPDATEs
	connSent   int64 // DATA bytes received
	streamWins map[uint32]*streamWin
}

// settingValues are the settings in effect after one of the client's
// SETTINGS frames.
type settingValues struct {
	maxFrame uint32 // SETTINGS_MAX_FRAME_SIZE
	initial  int64  // SETTINGS_INITIAL_WINDOW_SIZE
	table    uint32 // SETTINGS_HEADER_TABLE_SIZE
}

type streamWin struct{ grant, sent int64 } // WINDOW_UPDATEs and DATA bytes

func (l *peerLimits) init() {
	l.settings = []settingValues{{maxFrame: initialFrameLimit, initial: initialWindow, table: initialTableSize}}
	l.connGrant = initialWindow
	l.streamWins = make(map[uint32]*streamWin)
}

// bound returns, for each setting, the largest value that may be in effect.
func (l *peerLimits) bound() settingValues {
	b := l.settings[0]
	for _, s := range l.settings[1:] {
		b.maxFrame = max(b.maxFrame, s.maxFrame)
		b.initial = max(b.initial, s.initial)
		b.table = max(b.table, s.table)
	}
	return b
}

// acked records the server's SETTINGS ACK: the oldest SETTINGS the client
// sent is now in effect.
func (l *peerLimits) acked() {
	if len(l.settings) > 1 {
		l.settings = l.settings[1:]
	}
}

// undecodable records a SETTINGS frame the client wrote that does not parse:
// the server may still acknowledge it, so it counts, with every value at
// its largest.
func (l *peerLimits) undecodable() {
	l.settings = append(l.settings, settingValues{maxFrame: maxReadFrameSize, initial: 1<<31 - 1, table: math.MaxUint32})
}

func (l *peerLimits) stream(id uint32) *streamWin {
	w := l.streamWins[id]
	if w == nil {
		w = &streamWin{}
		l.streamWins[id] = w
	}
	return w
}

// granted records a frame the client wrote.
func (l *peerLimits) granted(f http2.Frame) {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return
		}
		v := l.settings[len(l.settings)-1]
		_ = f.ForeachSetting(func(s http2.Setting) error {
			switch s.ID {
			case http2.SettingMaxFrameSize:
				v.maxFrame = s.Val
			case http2.SettingInitialWindowSize:
				v.initial = int64(s.Val)
			case http2.SettingHeaderTableSize:
				v.table = s.Val
			}
			return nil
		})
		l.settings = append(l.settings, v)
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			l.connGrant += int64(f.Increment)
		} else {
			l.stream(f.StreamID).grant += int64(f.Increment)
		}
	}
}

// decodeOutput splits the server's output into frames, checks them and
// queues them for the test.
func (p *Peer) decodeOutput() {
	p.t.Helper()
	for {
		n, ok := frameLen(p.raw)
		if !ok {
			return
		}
		raw := append([]byte(nil), p.raw[:n]...)
		p.raw = append(p.raw[:0], p.raw[n:]...)
		if !p.decodeFrame(raw) {
			return
		}
	}
}

// decodeFrame checks one frame of output and queues it. It reports false
// after failing the test.
func (p *Peer) decodeFrame(raw []byte) bool {
	p.t.Helper()
	p.src.b = raw
	f, err := p.fr.ReadFrame()
	if err != nil {
		line := renderHeader(raw)
		p.tracef("<- %s (malformed: %v)", line, err)
		p.t.Fatalf("memory: the server sent a malformed frame %s: %v (%v)", line, err, p.fr.ErrorDetail())
		return false
	}
	of := outFrame{hdr: f.Header(), raw: raw, line: renderFrame(f)}
	h := of.hdr
	lim := &p.limits
	if limit := lim.bound().maxFrame; h.Length > limit && !lim.blind {
		p.t.Errorf("memory: the server sent a %d-byte %v frame; the client allows %d (RFC 9113 §4.2)", h.Length, h.Type, limit)
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		p.block = append(p.block[:0], f.HeaderBlockFragment()...)
		if f.HeadersEnded() && !p.endBlock(&of) {
			return false
		}
	case *http2.PushPromiseFrame:
		p.block = append(p.block[:0], f.HeaderBlockFragment()...)
		if f.HeadersEnded() && !p.endBlock(&of) {
			return false
		}
	case *http2.ContinuationFrame:
		p.block = append(p.block, f.HeaderBlockFragment()...)
		if f.HeadersEnded() && !p.endBlock(&of) {
			return false
		}
	case *http2.SettingsFrame:
		if f.IsAck() {
			lim.acked()
		} else {
			if v, ok := f.Value(http2.SettingHeaderTableSize); ok {
				// As x/net/http2's Transport does: the encoder's table
				// follows the server's limit, up to its own (4096).
				p.enc.SetMaxDynamicTableSize(v)
			}
		}
	case *http2.DataFrame:
		p.checkFlow(f)
	}
	p.tracef("<- %s%s", of.line, renderFields(of.fields))
	p.frames = append(p.frames, of)
	return true
}

// endBlock decodes a complete header block onto the frame that ends it.
func (p *Peer) endBlock(of *outFrame) bool {
	p.t.Helper()
	hf, err := decodeBlock(p.dec, p.block, p.limits.bound().table)
	p.block = p.block[:0]
	if err != nil {
		p.tracef("<- %s (hpack: %v)", of.line, err)
		p.t.Fatalf("memory: the server sent a header block the client cannot decode: %v", err)
		return false
	}
	of.fields = fromHPACK(hf)
	if of.fields == nil {
		of.fields = []h2sm.HeaderField{}
	}
	return true
}

// checkFlow checks a DATA frame against the windows the client granted
// (RFC 9113 §6.9.1: "A sender MUST NOT send a flow-controlled frame with a
// length that exceeds the space available in either of the flow-control
// windows advertised by the receiver").
func (p *Peer) checkFlow(f *http2.DataFrame) {
	p.t.Helper()
	lim := &p.limits
	n := int64(f.Length)
	w := lim.stream(f.StreamID)
	lim.connSent += n
	w.sent += n
	if lim.blind {
		return
	}
	if lim.connSent > lim.connGrant {
		p.t.Errorf("memory: the server overran the connection window: %d DATA bytes sent, %d granted", lim.connSent, lim.connGrant)
	}
	if grant := lim.bound().initial + w.grant; w.sent > grant {
		p.t.Errorf("memory: the server overran the window of stream %d: %d DATA bytes sent, at most %d granted", f.StreamID, w.sent, grant)
	}
}

// wantServerSettings reads the server's first SETTINGS (and connection
// WINDOW_UPDATE) and checks them against the Conn's Config.
func (p *Peer) wantServerSettings() {
	p.t.Helper()
	f := p.next("memory: Handshake", "the server's SETTINGS")
	if f == nil {
		return
	}
	sf, ok := parseFrame(f.raw).(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		p.t.Fatalf("memory: Handshake: got %s, want the server's SETTINGS", f.line)
		return
	}
	cfg := p.conn.Config()
	// The RFC's initial values (§6.5.2) apply to absent settings; "unlimited"
	// is math.MaxUint32.
	want := []struct {
		id   http2.SettingID
		def  uint32
		want uint32
	}{
		{http2.SettingHeaderTableSize, initialTableSize, cfg.HeaderTableSize},
		{http2.SettingMaxConcurrentStreams, math.MaxUint32, cfg.MaxConcurrentStreams},
		{http2.SettingInitialWindowSize, initialWindow, cfg.InitialWindowSize},
		{http2.SettingMaxFrameSize, initialFrameLimit, cfg.MaxFrameSize},
		{http2.SettingMaxHeaderListSize, math.MaxUint32, cfg.MaxHeaderListSize},
		{http2.SettingEnableConnectProtocol, 0, b2u(cfg.EnableConnectProtocol)},
	}
	for _, w := range want {
		got, ok := sf.Value(w.id)
		if !ok {
			got = w.def
		}
		if got != w.want {
			p.t.Errorf("memory: Handshake: server SETTINGS %v = %d, Config says %d (%s)", w.id, got, w.want, f.line)
		}
	}
	if cfg.ConnWindowSize > initialWindow {
		p.WantFrame("server opens the connection window", WindowUpdate{Stream: 0, Incr: cfg.ConnWindowSize - initialWindow})
	}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// decodeBlock decodes a whole header block. The dynamic table size updates
// that open it are applied here rather than by dec: RFC 7541 §4.2 allows two
// (the smallest size since the last block, then the final one), and
// x/net's decoder refuses the second one when the table is not empty.
func decodeBlock(dec *hpack.Decoder, block []byte, allowed uint32) ([]hpack.HeaderField, error) {
	dec.SetAllowedMaxDynamicTableSize(allowed)
	for n := 0; len(block) > 0 && block[0]&0xe0 == 0x20; n++ {
		size, rest, ok := readVarint(block, 5)
		switch {
		case !ok:
			return nil, errors.New("truncated dynamic table size update")
		case n == 2:
			return nil, errors.New("more than two dynamic table size updates (RFC 7541 §4.2)")
		case size > uint64(allowed):
			return nil, fmt.Errorf("dynamic table size update to %d, above the %d allowed", size, allowed)
		}
		dec.SetMaxDynamicTableSize(uint32(size))
		block = rest
	}
	return dec.DecodeFull(block)
}

// readVarint reads an HPACK integer with an n-bit prefix (RFC 7541 §5.1).
func readVarint(b []byte, n uint) (v uint64, rest []byte, ok bool) {
	mask := uint64(1)<<n - 1
	v = uint64(b[0]) & mask
	b = b[1:]
	if v < mask {
		return v, b, true
	}
	for shift := uint(0); len(b) > 0 && shift < 63; shift += 7 {
		c := b[0]
		b = b[1:]
		v += uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, b, true
		}
	}
	return 0, nil, false
}

// parseFrame parses a frame that the strict Framer already accepted. The
// frame owns its memory.
func parseFrame(raw []byte) http2.Frame {
	src := &frameSource{b: raw}
	fr := http2.NewFramer(nil, src)
	fr.AllowIllegalReads = true
	fr.SetMaxReadFrameSize(maxReadFrameSize)
	f, err := fr.ReadFrame()
	if err != nil {
		panic("memory: internal error: re-parsing a frame: " + err.Error())
	}
	return f
}
