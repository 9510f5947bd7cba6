package proptest

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// RFC 9113 values the model starts from.
const (
	rfcWindow     = 65535     // initial flow-control windows (§6.9.2)
	rfcFrameSize  = 16384     // SETTINGS_MAX_FRAME_SIZE (§6.5.2)
	rfcTableSize  = 4096      // SETTINGS_HEADER_TABLE_SIZE (§6.5.2)
	maxWindow     = 1<<31 - 1 // §6.9.1
	frameHeaderSz = 9
	// creditSlack is how much receive credit the Conn may hold back to batch
	// its WINDOW_UPDATEs (the package doc of h2sm: "WINDOW_UPDATE batched";
	// the batch is announced once it reaches 4 KiB).
	creditSlack = 4096
)

// settingValues are the client's settings in effect after one of its
// SETTINGS frames.
type settingValues struct {
	maxFrame uint32
	initial  int64
	table    uint32
}

// serverSettings are the server's SETTINGS as the client applied them.
type serverSettings struct {
	maxConcurrent uint32
	initial       int64
	maxFrame      uint32
}

// streamRec is everything known about one stream: what the client sent
// (parsed from the bytes the Conn consumed), what the server sent (parsed
// from its output), what the application saw (events) and did (commands).
type streamRec struct {
	id uint32

	// Client → server.
	touched        bool // the client sent a frame naming the stream
	requested      bool // the client sent a HEADERS on it (the request)
	clientTrailers bool // the client sent a second HEADERS (trailers)
	clientEnded    bool // END_STREAM sent
	clientRST      bool
	clientRSTCode  h2sm.ErrCode
	reqBody        []byte // DATA payload without padding
	dataLen        int64  // DATA payload with padding (flow control)
	sendGrant      int64  // the server's WINDOW_UPDATEs for the stream
	recvGrant      int64  // the client's WINDOW_UPDATEs for the stream

	// What the client meant (valid runs).
	intent        []h2sm.HeaderField
	contentLength int64
	overLimit     bool // opened at or over the server's MAX_CONCURRENT_STREAMS

	// Server → client.
	recvSent    int64 // DATA bytes the server sent
	srvHeaders  [][]h2sm.HeaderField
	srvFinal    bool // final (non-1xx) response received
	srvTrailers bool
	srvEnded    bool
	srvRST      bool
	srvRSTCode  h2sm.ErrCode
	srvBody     []byte

	// The application.
	evRequest    bool
	evEvent      h2sm.Event
	evEnded      bool
	evReset      bool
	evLocalReset bool
	evData       []byte
	unconsumed   int // manual flow control: body delivered, not yet Consumed
	appHeaders   [][]h2sm.HeaderField
	appFinal     bool
	appEnded     bool // END_STREAM requested and accepted (data, headers or trailers)
	appTrailers  bool
	appBody      []byte // accepted by WriteData
	appReset     bool
	appResetCode h2sm.ErrCode
	wantWritable bool
}

// closed reports whether the stream is closed as the client sees it.
func (r *streamRec) closed() bool {
	return r.clientRST || r.srvRST || r.clientEnded && r.srvEnded
}

// model is the connection as the client sees it: streams and their states,
// every flow-control window in both directions, both sides' SETTINGS, the
// HPACK table sizes, GOAWAY state and outstanding PINGs. It is fed the bytes
// the Conn consumed, the frames it sent and the events it emitted, and
// checks the properties as it goes.
type model struct {
	d *Driver

	// Client input as the Conn consumed it.
	prefaceN int
	ibuf     []byte
	inDead   bool // the Conn stopped reading (bad preface, oversized frame)

	// SETTINGS. cli[0] is in effect, the rest await the server's ACK.
	cli          []settingValues
	cliAwaiting  int // client SETTINGS frames not yet acknowledged
	srv          serverSettings
	srvSeen      bool
	srvUnacked   int // server SETTINGS the client has not acknowledged
	emptyFrames  int // empty DATA and CONTINUATION frames the client sent
	clientBlock  bool
	clientGoAway bool

	// Server output.
	obuf       []byte
	src        frameSource
	fr         *http2.Framer
	outBroken  bool // the output stopped parsing: later frames are not checked
	dec        *hpack.Decoder
	hpackBad   bool
	decMax     uint32 // the decoder's dynamic table size, from the updates
	ackedMin   uint32 // smallest HEADER_TABLE_SIZE acknowledged since the last block
	block      []byte
	blockID    uint32
	blockEnd   bool
	goAwaySent bool
	goAwayLast uint32
	goAwayCode []h2sm.ErrCode

	// Windows. conn*: the connection; send: client → server; recv: server → client.
	connSendGrant, connSendUsed int64
	connRecvGrant, connRecvSent int64

	streams map[uint32]*streamRec
	order   []*streamRec // in id order
	nextID  uint32

	cliPings [][8]byte // client PINGs awaiting the ACK
	srvPings [][8]byte // server PINGs the client has not acknowledged

	closedEv bool
	aborted  bool           // the application called Abort
	appCodes []h2sm.ErrCode // codes the application's GoAway asked for
	armed    bool
	deadline time.Time
}

func (m *model) init(d *Driver) {
	m.d = d
	m.cli = []settingValues{{maxFrame: rfcFrameSize, initial: rfcWindow, table: rfcTableSize}}
	m.cliAwaiting = 0
	m.srv = serverSettings{maxConcurrent: math.MaxUint32, initial: rfcWindow, maxFrame: rfcFrameSize}
	m.fr = http2.NewFramer(nil, &m.src)
	m.fr.SetMaxReadFrameSize(1<<24 - 1)
	m.dec = hpack.NewDecoder(rfcTableSize, nil)
	m.decMax = rfcTableSize
	m.ackedMin = math.MaxUint32
	m.streams = make(map[uint32]*streamRec)
	m.nextID = 1
}

// stream returns the record of stream id, creating it.
func (m *model) stream(id uint32) *streamRec {
	r := m.streams[id]
	if r == nil {
		r = &streamRec{id: id, contentLength: -1}
		m.streams[id] = r
		// Keep order sorted; ids mostly arrive in increasing order.
		i := len(m.order)
		m.order = append(m.order, r)
		for i > 0 && m.order[i-1].id > id {
			m.order[i] = m.order[i-1]
			i--
		}
		m.order[i] = r
	}
	return r
}

// cliBound returns, for each client setting, the largest value that may be
// in effect: a setting is known to apply only once the server acknowledged it.
func (m *model) cliBound() settingValues {
	b := m.cli[0]
	for _, s := range m.cli[1:] {
		b.maxFrame = max(b.maxFrame, s.maxFrame)
		b.initial = max(b.initial, s.initial)
		b.table = max(b.table, s.table)
	}
	return b
}

// Windows as the client sees them.
func (m *model) clientConnWin() int64 { return rfcWindow + m.connSendGrant - m.connSendUsed }
func (m *model) clientStreamWin(r *streamRec) int64 {
	return m.srv.initial + r.sendGrant - r.dataLen
}
func (m *model) serverConnWin() int64 { return rfcWindow + m.connRecvGrant - m.connRecvSent }
func (m *model) serverStreamWin(r *streamRec) int64 {
	return m.cliBound().initial + r.recvGrant - r.recvSent
}

// activeStreams counts the streams the server accepted and that are not closed.
func (m *model) activeStreams() uint32 {
	n := uint32(0)
	for _, r := range m.order {
		if r.evRequest && !r.closed() && !r.appReset && !r.evReset {
			n++
		}
	}
	return n
}

// --- client → server ---

// clientBytes parses the bytes the Conn consumed, exactly as far as it
// consumed them.
func (m *model) clientBytes(b []byte) {
	const preface = http2.ClientPreface
	for len(b) > 0 && !m.inDead && m.prefaceN < len(preface) {
		k := min(len(preface)-m.prefaceN, len(b))
		if string(b[:k]) != preface[m.prefaceN:m.prefaceN+k] {
			m.d.tracef("-> invalid preface bytes %q", b[:k])
			m.inDead = true
			return
		}
		m.prefaceN += k
		b = b[k:]
		if m.prefaceN == len(preface) {
			m.d.tracef("-> PREFACE")
		}
	}
	if m.inDead || len(b) == 0 {
		return
	}
	m.ibuf = append(m.ibuf, b...)
	for len(m.ibuf) >= frameHeaderSz {
		length := int(m.ibuf[0])<<16 | int(m.ibuf[1])<<8 | int(m.ibuf[2])
		if length > int(m.d.cfg.MaxFrameSize) {
			m.d.tracef("-> %s (over the server's SETTINGS_MAX_FRAME_SIZE)", renderHeader(m.ibuf[:frameHeaderSz]))
			m.inDead = true
			return
		}
		if len(m.ibuf) < frameHeaderSz+length {
			break
		}
		m.clientFrame(m.ibuf[:frameHeaderSz+length])
		m.ibuf = append(m.ibuf[:0], m.ibuf[frameHeaderSz+length:]...)
	}
}

// clientFrame records one frame the client sent and the Conn consumed.
func (m *model) clientFrame(raw []byte) {
	m.d.tracef("-> %s", renderFrame(raw))
	typ, flags := http2.FrameType(raw[3]), http2.Flags(raw[4])
	id := binary.BigEndian.Uint32(raw[5:9]) & (1<<31 - 1)
	p := raw[frameHeaderSz:]
	var r *streamRec
	if id != 0 {
		r = m.stream(id)
		r.touched = true
	}
	switch typ {
	case http2.FrameData:
		if r == nil {
			return
		}
		m.connSendUsed += int64(len(p))
		r.dataLen += int64(len(p))
		data, ok := p, true
		if flags.Has(http2.FlagDataPadded) {
			if len(p) == 0 || int(p[0]) >= len(p) {
				ok = false
			} else {
				data = p[1 : len(p)-int(p[0])]
			}
		}
		if ok {
			r.reqBody = append(r.reqBody, data...)
		}
		if flags.Has(http2.FlagDataEndStream) {
			r.clientEnded = true
		} else if len(data) == 0 {
			m.emptyFrames++
		}
	case http2.FrameHeaders:
		if r == nil {
			return
		}
		if !r.requested {
			r.requested = true
		} else {
			r.clientTrailers = true
		}
		if flags.Has(http2.FlagHeadersEndStream) {
			r.clientEnded = true
		}
		if id%2 == 1 && id >= m.nextID {
			m.nextID = id + 2
		}
		m.clientBlock = !flags.Has(http2.FlagHeadersEndHeaders)
	case http2.FrameContinuation:
		if len(p) == 0 && !flags.Has(http2.FlagContinuationEndHeaders) {
			m.emptyFrames++
		}
		m.clientBlock = !flags.Has(http2.FlagContinuationEndHeaders)
	case http2.FrameRSTStream:
		if r != nil && len(p) == 4 {
			r.clientRST = true
			r.clientRSTCode = h2sm.ErrCode(binary.BigEndian.Uint32(p))
		}
	case http2.FrameSettings:
		if flags.Has(http2.FlagSettingsAck) {
			if m.srvUnacked > 0 {
				m.srvUnacked--
			}
			return
		}
		m.cliAwaiting++
		m.cli = append(m.cli, m.parseClientSettings(id, p))
	case http2.FramePing:
		if id != 0 || len(p) != 8 {
			return
		}
		var b [8]byte
		copy(b[:], p)
		if flags.Has(http2.FlagPingAck) {
			for i, q := range m.srvPings {
				if q == b {
					m.srvPings = append(m.srvPings[:i], m.srvPings[i+1:]...)
					break
				}
			}
		} else {
			m.cliPings = append(m.cliPings, b)
		}
	case http2.FrameGoAway:
		m.clientGoAway = true
	case http2.FrameWindowUpdate:
		if len(p) != 4 {
			return
		}
		incr := int64(binary.BigEndian.Uint32(p) & (1<<31 - 1))
		if r == nil {
			m.connRecvGrant += incr
		} else {
			r.recvGrant += incr
		}
	}
}

// parseClientSettings returns the client settings after a SETTINGS frame.
// A frame the server must reject counts with every value at its largest:
// the model then never fails a correct server.
func (m *model) parseClientSettings(id uint32, p []byte) settingValues {
	v := m.cli[len(m.cli)-1]
	worst := settingValues{maxFrame: 1<<24 - 1, initial: maxWindow, table: math.MaxUint32}
	if id != 0 || len(p)%6 != 0 {
		return worst
	}
	for i := 0; i < len(p); i += 6 {
		s := http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(p[i:])), Val: binary.BigEndian.Uint32(p[i+2:])}
		if s.Valid() != nil {
			return worst
		}
		switch s.ID {
		case http2.SettingMaxFrameSize:
			v.maxFrame = s.Val
		case http2.SettingInitialWindowSize:
			v.initial = int64(s.Val)
		case http2.SettingHeaderTableSize:
			v.table = s.Val
		}
	}
	return v
}
