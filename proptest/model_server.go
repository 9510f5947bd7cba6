package proptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// This file checks what the server sent, frame by frame.

// frameSource feeds one frame at a time to the checking Framer.
type frameSource struct{ b []byte }

func (s *frameSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// serverBytes splits the Conn's output into frames and passes them through
// the filter, if any, to the checker.
func (m *model) serverBytes(out []byte) {
	m.obuf = append(m.obuf, out...)
	for len(m.obuf) >= frameHeaderSz {
		n := frameHeaderSz + (int(m.obuf[0])<<16 | int(m.obuf[1])<<8 | int(m.obuf[2]))
		if len(m.obuf) < n {
			break
		}
		frame := bytes.Clone(m.obuf[:n])
		m.obuf = append(m.obuf[:0], m.obuf[n:]...)
		if m.d.filter != nil {
			m.d.filter.Filter(frame, m.serverFrame)
		} else {
			m.serverFrame(frame)
		}
	}
}

// serverFrame checks one frame the server sent.
func (m *model) serverFrame(raw []byte) {
	d := m.d
	d.stepOut = append(d.stepOut, raw...)
	if m.outBroken {
		d.tracef("<- %s (not checked)", renderFrame(raw))
		return
	}
	m.src.b = raw
	f, err := m.fr.ReadFrame()
	if err != nil {
		d.tracef("<- %s", renderFrame(raw))
		d.fail(PropOutputParses, "the server sent a frame x/net/http2's Framer rejects: %v (%v)", err, m.fr.ErrorDetail())
		m.outBroken = true
		return
	}
	h := f.Header()
	d.tracef("<- %s", renderFrame(raw))
	sf := sentFrame{typ: h.Type, flags: h.Flags, stream: h.StreamID}
	if limit := m.cliBound().maxFrame; h.Length > limit {
		d.fail(PropOutputParses, "%v frame of %d bytes; the client allows %d (§4.2)", h.Type, h.Length, limit)
	}
	m.lifecycle(h)
	switch f := f.(type) {
	case *http2.SettingsFrame:
		m.serverSettings(f)
	case *http2.WindowUpdateFrame:
		m.serverWindowUpdate(f)
	case *http2.DataFrame:
		m.serverData(f)
	case *http2.HeadersFrame:
		m.block = append(m.block[:0], f.HeaderBlockFragment()...)
		m.blockID, m.blockEnd = h.StreamID, f.StreamEnded()
		if f.HeadersEnded() {
			m.endBlock()
		}
	case *http2.ContinuationFrame:
		m.block = append(m.block, f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			m.endBlock()
		}
	case *http2.RSTStreamFrame:
		sf.code = h2sm.ErrCode(f.ErrCode)
		if r := m.streams[h.StreamID]; r != nil {
			r.srvRST, r.srvRSTCode = true, sf.code
		}
	case *http2.PingFrame:
		if f.IsAck() {
			found := false
			for i, q := range m.cliPings {
				if q == f.Data {
					m.cliPings = append(m.cliPings[:i], m.cliPings[i+1:]...)
					found = true
					break
				}
			}
			if !found {
				d.fail(PropControlAnswered, "PING ACK %x answers no PING the client sent (§6.7)", f.Data)
			}
		} else {
			m.srvPings = append(m.srvPings, f.Data)
		}
	case *http2.GoAwayFrame:
		sf.code = h2sm.ErrCode(f.ErrCode)
		m.serverGoAway(f)
	case *http2.PushPromiseFrame:
		d.fail(PropStreamLifecycle, "PUSH_PROMISE: the server never pushes")
	}
	d.stepFrames = append(d.stepFrames, sf)
}

// lifecycle checks that a frame is allowed on its stream (RFC 9113 §5.1).
func (m *model) lifecycle(h http2.FrameHeader) {
	id := h.StreamID
	if id == 0 || h.Type == http2.FrameContinuation || h.Type == http2.FramePriority {
		return
	}
	bad := func(format string, args ...any) {
		m.d.fail(PropStreamLifecycle, "%v on stream %d: "+format, append([]any{h.Type, id}, args...)...)
	}
	if id%2 == 0 {
		bad("a server-initiated stream; the server never pushes (§5.1.1)")
		return
	}
	r := m.streams[id]
	if r == nil || !r.touched {
		bad("the stream is idle: the client never used it (§5.1)")
		return
	}
	switch {
	case r.srvRST:
		bad("after the server's RST_STREAM (§5.1 closed)")
		return
	case r.clientRST:
		bad("after the client's RST_STREAM (§5.1 closed)")
		return
	}
	switch h.Type {
	case http2.FrameHeaders, http2.FrameData:
		switch {
		case !r.requested:
			bad("no request was sent on the stream")
		case r.srvEnded:
			bad("after the server's END_STREAM (§5.1 half-closed (local))")
		case m.goAwaySent && id > m.goAwayLast:
			bad("above the last stream id %d of the server's GOAWAY (§6.8)", m.goAwayLast)
		}
	case http2.FrameWindowUpdate:
		if r.clientEnded && r.srvEnded {
			bad("the stream is closed (§5.1)")
		}
	}
}

// serverSettings applies the server's SETTINGS, or a SETTINGS ACK.
func (m *model) serverSettings(f *http2.SettingsFrame) {
	d := m.d
	if f.IsAck() {
		if m.cliAwaiting == 0 {
			d.fail(PropControlAnswered, "SETTINGS ACK without an unacknowledged client SETTINGS (§6.5.3)")
			return
		}
		m.cliAwaiting--
		if len(m.cli) > 1 {
			m.cli = m.cli[1:]
		}
		m.ackedMin = min(m.ackedMin, m.cli[0].table)
		return
	}
	m.srvSeen = true
	m.srvUnacked++
	_ = f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			d.fail(PropOutputParses, "server SETTINGS %v: %v (§6.5.2)", s, err)
			return nil
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			m.srv.maxConcurrent = s.Val
		case http2.SettingInitialWindowSize:
			m.srv.initial = int64(s.Val)
			for _, r := range m.order {
				if w := m.clientStreamWin(r); w > maxWindow {
					d.fail(PropWindowsBounded, "SETTINGS_INITIAL_WINDOW_SIZE takes the window of stream %d to %d > 2^31-1 (§6.9.2)", r.id, w)
				}
			}
		case http2.SettingMaxFrameSize:
			m.srv.maxFrame = s.Val
		case http2.SettingHeaderTableSize:
			// As x/net/http2's Transport: the encoder follows the server's
			// limit up to its own 4096.
			d.enc.SetMaxDynamicTableSize(min(s.Val, rfcTableSize))
		}
		return nil
	})
}

// serverWindowUpdate applies a WINDOW_UPDATE the server sent.
func (m *model) serverWindowUpdate(f *http2.WindowUpdateFrame) {
	incr := int64(f.Increment)
	if f.StreamID == 0 {
		m.connSendGrant += incr
		if w := m.clientConnWin(); w > maxWindow {
			m.d.fail(PropWindowsBounded, "WINDOW_UPDATE takes the connection window to %d > 2^31-1 (§6.9.1)", w)
		}
		return
	}
	r := m.streams[f.StreamID]
	if r == nil {
		return
	}
	r.sendGrant += incr
	if w := m.clientStreamWin(r); w > maxWindow {
		m.d.fail(PropWindowsBounded, "WINDOW_UPDATE takes the window of stream %d to %d > 2^31-1 (§6.9.1)", r.id, w)
	}
}

// serverData checks a DATA frame against the windows, the response framing
// and the body the application wrote.
func (m *model) serverData(f *http2.DataFrame) {
	d := m.d
	n := int64(f.Length)
	m.connRecvSent += n
	r := m.streams[f.StreamID]
	if r == nil {
		return
	}
	r.recvSent += n
	// RFC 9113 §6.9.1: "A sender MUST NOT send a flow-controlled frame with a
	// length that exceeds the space available in either of the flow-control
	// windows advertised by the receiver."
	// A DATA frame without payload consumes no window: it may carry
	// END_STREAM while a window is closed or negative (§6.9.2).
	if n > 0 && m.connRecvSent > rfcWindow+m.connRecvGrant {
		d.fail(PropDataWithinWindows, "connection window overrun: %d DATA bytes sent, %d granted", m.connRecvSent, rfcWindow+m.connRecvGrant)
	}
	if grant := m.cliBound().initial + r.recvGrant; n > 0 && r.recvSent > grant {
		d.fail(PropDataWithinWindows, "window of stream %d overrun: %d DATA bytes sent, at most %d granted", r.id, r.recvSent, grant)
	}
	switch {
	case !r.srvFinal:
		d.fail(PropResponseFraming, "DATA on stream %d before the final response HEADERS (§8.1)", r.id)
	case r.srvTrailers:
		d.fail(PropResponseFraming, "DATA on stream %d after the trailers (§8.1)", r.id)
	}
	r.srvBody = append(r.srvBody, f.Data()...)
	if !bytes.HasPrefix(r.appBody, r.srvBody) {
		d.fail(PropResponseBody, "stream %d: the client received %d body bytes that are not a prefix of the %d the application wrote (differ at offset %d)",
			r.id, len(r.srvBody), len(r.appBody), firstDiff(r.srvBody, r.appBody))
	}
	if f.StreamEnded() {
		r.srvEnded = true
		switch {
		case !r.appEnded || r.appTrailers:
			d.fail(PropResponseBody, "stream %d: END_STREAM on DATA the application did not end", r.id)
		case len(r.srvBody) != len(r.appBody):
			d.fail(PropResponseBody, "stream %d: END_STREAM after %d of %d body bytes", r.id, len(r.srvBody), len(r.appBody))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// endBlock decodes a complete header block and checks it as a response.
func (m *model) endBlock() {
	d := m.d
	if m.hpackBad {
		return
	}
	hf, err := m.decodeBlock(m.block)
	if err != nil {
		d.fail(PropOutputParses, "header block on stream %d does not decode with an independent HPACK decoder: %v", m.blockID, err)
		m.hpackBad = true
		return
	}
	fields := make([]h2sm.HeaderField, len(hf))
	for i, f := range hf {
		fields[i] = h2sm.HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive}
	}
	d.tracef("   %s", renderFields(fields))
	r := m.streams[m.blockID]
	if r == nil {
		return
	}
	m.responseBlock(r, fields, m.blockEnd)
}

// decodeBlock decodes a header block, checking the dynamic table size
// updates that open it against the client's SETTINGS_HEADER_TABLE_SIZE
// (RFC 7541 §4.2, §6.3; RFC 9113 §4.3.1).
func (m *model) decodeBlock(block []byte) ([]hpack.HeaderField, error) {
	allowed := m.cliBound().table
	mustShrink := m.ackedMin < m.decMax
	shrinkTo := m.ackedMin
	m.ackedMin = math.MaxUint32
	first := true
	for n := 0; len(block) > 0 && block[0]&0xe0 == 0x20; n++ {
		size, rest, ok := readVarint(block, 5)
		switch {
		case !ok:
			return nil, errors.New("truncated dynamic table size update")
		case n == 2:
			return nil, errors.New("more than two dynamic table size updates (RFC 7541 §4.2)")
		case size > uint64(allowed):
			return nil, fmt.Errorf("dynamic table size update to %d, above the %d the client allows (RFC 7541 §6.3)", size, allowed)
		case first && mustShrink && size > uint64(shrinkTo):
			return nil, fmt.Errorf("first table size update is %d; SETTINGS_HEADER_TABLE_SIZE went down to %d (RFC 7541 §4.2)", size, shrinkTo)
		}
		first = false
		m.dec.SetMaxDynamicTableSize(uint32(size))
		m.decMax = uint32(size)
		block = rest
	}
	if first && mustShrink {
		return nil, fmt.Errorf("no dynamic table size update although SETTINGS_HEADER_TABLE_SIZE went down from %d to %d (RFC 7541 §4.2)", m.decMax, shrinkTo)
	}
	m.dec.SetAllowedMaxDynamicTableSize(allowed)
	return m.dec.DecodeFull(block)
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

// responseBlock checks a response header block against RFC 9113 §8.1 and
// against what the application wrote.
func (m *model) responseBlock(r *streamRec, fields []h2sm.HeaderField, end bool) {
	d := m.d
	k := len(r.srvHeaders)
	r.srvHeaders = append(r.srvHeaders, fields)
	bad := func(format string, args ...any) {
		d.fail(PropResponseFraming, "stream %d: "+format, append([]any{r.id}, args...)...)
	}
	if end {
		r.srvEnded = true
	}
	hasStatus := len(fields) > 0 && fields[0].Name == ":status"
	if !r.evRequest {
		// A response the Conn makes on its own (431 to an oversized request).
		if k > 0 || !hasStatus || !end {
			bad("header block the application never wrote: %s", renderFields(fields))
		}
		return
	}
	if k >= len(r.appHeaders) {
		bad("header block %d the application never wrote: %s", k, renderFields(fields))
	} else if want := r.appHeaders[k]; !equalFields(fields, want) {
		bad("header block %d differs from what the application wrote:\n\tgot  %s\n\twant %s", k, renderFields(fields), renderFields(want))
	}
	if !r.srvFinal {
		switch {
		case !hasStatus:
			bad("response without :status first (§8.3.2)")
		case fields[0].Value[0] == '1':
			if end {
				bad("1xx response with END_STREAM (§8.1)")
			}
		default:
			r.srvFinal = true
		}
		return
	}
	for _, f := range fields {
		if len(f.Name) > 0 && f.Name[0] == ':' {
			bad("pseudo-header %s in trailers (§8.1)", f.Name)
		}
	}
	if !end {
		bad("second header block without END_STREAM (§8.1)")
	}
	r.srvTrailers = true
	if len(r.srvBody) != len(r.appBody) {
		d.fail(PropResponseBody, "stream %d: trailers after %d of %d body bytes", r.id, len(r.srvBody), len(r.appBody))
	}
}

func equalFields(a, b []h2sm.HeaderField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// serverGoAway checks a GOAWAY the server sent (RFC 9113 §6.8).
func (m *model) serverGoAway(f *http2.GoAwayFrame) {
	d := m.d
	last := f.LastStreamID
	// §6.8: "Endpoints MUST NOT increase the value they send in the last
	// stream identifier, since the peers might already have retried
	// unprocessed requests on another connection."
	if m.goAwaySent && last > m.goAwayLast {
		d.fail(PropGoAwayRules, "GOAWAY last stream id went up from %d to %d (§6.8)", m.goAwayLast, last)
	} else {
		m.goAwayLast = last
	}
	m.goAwaySent = true
	m.goAwayCode = append(m.goAwayCode, h2sm.ErrCode(f.ErrCode))
	for _, r := range m.order {
		if r.evRequest && r.id > last {
			d.fail(PropGoAwayRules, "GOAWAY last stream id %d, but stream %d was delivered to the application (§6.8)", last, r.id)
		}
	}
	if d.valid() && f.ErrCode != http2.ErrCodeNo && !m.excused(h2sm.ErrCode(f.ErrCode)) && !slices.Contains(m.appCodes, h2sm.ErrCode(f.ErrCode)) {
		d.fail(PropConformingPeers, "GOAWAY %v to a conforming client (%q)", f.ErrCode, f.DebugData())
	}
}

// excused reports whether a conforming client may still get code because it
// exceeded an anti-abuse budget of the Config.
func (m *model) excused(code h2sm.ErrCode) bool {
	return code == h2sm.ErrCodeEnhanceYourCalm && m.emptyFrames > m.d.cfg.MaxEmptyFrames
}
