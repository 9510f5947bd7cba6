package memory

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Rendering limits: long values are cut so that a trace stays readable.
const (
	maxValueRender = 64
	maxDataRender  = 32
)

// Trace returns everything that happened so far, one line per frame, event,
// command or timer, each ending in a newline. The rendering is
// deterministic, so golden tests may compare it; see the package
// documentation for the format.
func (p *Peer) Trace() string {
	if len(p.trace) == 0 {
		return ""
	}
	return strings.Join(p.trace, "\n") + "\n"
}

// Note adds a line to the trace, to mark a step of the test in it.
func (p *Peer) Note(format string, args ...any) {
	p.tracef("# "+format, args...)
}

// tracef appends a line to the trace, prefixed with the virtual time.
func (p *Peer) tracef(format string, args ...any) {
	line := fmt.Sprintf("%-8s %s", relTime(p.clock.Now()), fmt.Sprintf(format, args...))
	p.trace = append(p.trace, line)
	if p.opts.log != nil {
		_, _ = io.WriteString(p.opts.log, line+"\n")
	}
}

// relTime renders t as the time since Epoch, as in "+1.500s".
func relTime(t time.Time) string {
	return fmt.Sprintf("+%.3fs", t.Sub(Epoch).Seconds())
}

// --- input tracing ---

// inputTrace decodes the bytes the client writes, for the trace and for the
// limits the client grants the server. It never affects what the Conn gets.
type inputTrace struct {
	prefaceN int    // bytes of the preface seen
	raw      bool   // the input is not HTTP/2 (bad preface): no more decoding
	buf      []byte // a partial frame
	src      frameSource
	fr       *http2.Framer
	dec      *hpack.Decoder // mirrors the server's HPACK decoder
	block    []byte         // header block being collected
}

func (it *inputTrace) init() {
	it.fr = http2.NewFramer(nil, &it.src)
	it.fr.AllowIllegalReads = true
	it.fr.SetMaxReadFrameSize(maxReadFrameSize)
	it.dec = hpack.NewDecoder(initialTableSize, nil)
}

// traceInput renders the frames that b completes and records what they
// grant the server.
func (p *Peer) traceInput(b []byte) {
	it := &p.intrace
	if it.raw {
		return
	}
	if it.prefaceN < len(http2.ClientPreface) {
		k := min(len(http2.ClientPreface)-it.prefaceN, len(b))
		if string(b[:k]) != http2.ClientPreface[it.prefaceN:it.prefaceN+k] {
			it.raw = true
			p.limits.blind = true
			p.tracef("-> %d bytes that are not the client preface (no longer decoded)", len(b))
			return
		}
		it.prefaceN += k
		b = b[k:]
		if it.prefaceN == len(http2.ClientPreface) {
			p.tracef("-> PREFACE")
		}
	}
	it.buf = append(it.buf, b...)
	for {
		n, ok := frameLen(it.buf)
		if !ok {
			return
		}
		raw := it.buf[:n]
		it.src.b = raw
		f, err := it.fr.ReadFrame()
		if err != nil {
			if http2.FrameType(raw[3]) == http2.FrameSettings && raw[4]&byte(http2.FlagSettingsAck) == 0 {
				p.limits.undecodable()
			}
			p.tracef("-> %s (malformed: %v)", renderHeader(raw), err)
		} else {
			p.limits.granted(f)
			p.tracef("-> %s%s", renderFrame(f), it.blockFields(f))
		}
		it.buf = append(it.buf[:0], it.buf[n:]...)
	}
}

// blockFields collects the client's header blocks and renders each, decoded,
// on the frame that ends it.
func (it *inputTrace) blockFields(f http2.Frame) string {
	var frag []byte
	var end bool
	switch f := f.(type) {
	case *http2.HeadersFrame:
		it.block, frag, end = it.block[:0], f.HeaderBlockFragment(), f.HeadersEnded()
	case *http2.PushPromiseFrame:
		it.block, frag, end = it.block[:0], f.HeaderBlockFragment(), f.HeadersEnded()
	case *http2.ContinuationFrame:
		frag, end = f.HeaderBlockFragment(), f.HeadersEnded()
	default:
		return ""
	}
	it.block = append(it.block, frag...)
	if !end {
		return ""
	}
	hf, err := decodeBlock(it.dec, it.block, math.MaxUint32)
	it.block = it.block[:0]
	if err != nil {
		return fmt.Sprintf(" (hpack: %v)", err)
	}
	return renderFields(fromHPACK(hf))
}

// frameSource is an io.Reader over the bytes of one frame, so that a Framer
// never reads past it.
type frameSource struct{ b []byte }

// Read implements io.Reader.
func (s *frameSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// frameLen returns the length of the whole frame at the start of b, and
// false if b does not hold all of it yet.
func frameLen(b []byte) (int, bool) {
	if len(b) < 9 {
		return 0, false
	}
	n := 9 + (int(b[0])<<16 | int(b[1])<<8 | int(b[2]))
	return n, len(b) >= n
}

// --- rendering ---

// renderHeader renders a frame from its header alone.
func renderHeader(raw []byte) string {
	length := int(raw[0])<<16 | int(raw[1])<<8 | int(raw[2])
	id := (uint32(raw[5])<<24 | uint32(raw[6])<<16 | uint32(raw[7])<<8 | uint32(raw[8])) & (1<<31 - 1)
	return fmt.Sprintf("%v stream=%d flags=%#x len=%d", http2.FrameType(raw[3]), id, raw[4], length)
}

// renderFrame renders a parsed frame without its decoded header fields.
func renderFrame(f http2.Frame) string {
	h := f.Header()
	var b strings.Builder
	b.WriteString(h.Type.String())
	known := http2.Flags(0)
	flag := func(fl http2.Flags, name string) {
		known |= fl
		if h.Flags.Has(fl) {
			b.WriteString(" " + name)
		}
	}
	switch f := f.(type) {
	case *http2.DataFrame:
		fmt.Fprintf(&b, " stream=%d", h.StreamID)
		flag(http2.FlagDataEndStream, "END_STREAM")
		flag(http2.FlagDataPadded, "PADDED")
		fmt.Fprintf(&b, " len=%d", len(f.Data()))
		if h.Flags.Has(http2.FlagDataPadded) {
			fmt.Fprintf(&b, " pad=%d", int(h.Length)-1-len(f.Data()))
		}
		if len(f.Data()) > 0 {
			b.WriteString(" " + renderBytes(f.Data(), maxDataRender))
		}
	case *http2.HeadersFrame:
		fmt.Fprintf(&b, " stream=%d", h.StreamID)
		flag(http2.FlagHeadersEndStream, "END_STREAM")
		flag(http2.FlagHeadersEndHeaders, "END_HEADERS")
		flag(http2.FlagHeadersPadded, "PADDED")
		flag(http2.FlagHeadersPriority, "PRIORITY")
		if f.HasPriority() {
			b.WriteString(renderPriority(f.Priority))
		}
		fmt.Fprintf(&b, " len=%d", len(f.HeaderBlockFragment()))
	case *http2.ContinuationFrame:
		fmt.Fprintf(&b, " stream=%d", h.StreamID)
		flag(http2.FlagContinuationEndHeaders, "END_HEADERS")
		fmt.Fprintf(&b, " len=%d", len(f.HeaderBlockFragment()))
	case *http2.PriorityFrame:
		fmt.Fprintf(&b, " stream=%d%s", h.StreamID, renderPriority(f.PriorityParam))
	case *http2.RSTStreamFrame:
		fmt.Fprintf(&b, " stream=%d %v", h.StreamID, h2sm.ErrCode(f.ErrCode))
	case *http2.SettingsFrame:
		flag(http2.FlagSettingsAck, "ACK")
		b.WriteString(renderSettings(f))
	case *http2.PushPromiseFrame:
		fmt.Fprintf(&b, " stream=%d promised=%d", h.StreamID, f.PromiseID)
		flag(http2.FlagPushPromiseEndHeaders, "END_HEADERS")
		flag(http2.FlagPushPromisePadded, "PADDED")
		fmt.Fprintf(&b, " len=%d", len(f.HeaderBlockFragment()))
	case *http2.PingFrame:
		flag(http2.FlagPingAck, "ACK")
		fmt.Fprintf(&b, " %x", f.Data)
	case *http2.GoAwayFrame:
		fmt.Fprintf(&b, " last=%d %v", f.LastStreamID, h2sm.ErrCode(f.ErrCode))
		if len(f.DebugData()) > 0 {
			b.WriteString(" " + renderBytes(f.DebugData(), maxValueRender))
		}
	case *http2.WindowUpdateFrame:
		fmt.Fprintf(&b, " stream=%d incr=%d", h.StreamID, f.Increment)
	default:
		fmt.Fprintf(&b, " stream=%d len=%d", h.StreamID, h.Length)
		known = h.Flags
		if h.Flags != 0 {
			fmt.Fprintf(&b, " flags=%#x", uint8(h.Flags))
		}
	}
	if extra := h.Flags &^ known; extra != 0 {
		fmt.Fprintf(&b, " flags=%#x", uint8(extra))
	}
	if h.StreamID != 0 {
		switch h.Type {
		case http2.FrameSettings, http2.FramePing, http2.FrameGoAway:
			fmt.Fprintf(&b, " stream=%d", h.StreamID)
		}
	}
	return b.String()
}

func renderPriority(pp http2.PriorityParam) string {
	s := fmt.Sprintf(" dep=%d weight=%d", pp.StreamDep, pp.Weight)
	if pp.Exclusive {
		s += " excl"
	}
	return s
}

// renderSettings renders the settings sorted by identifier.
func renderSettings(f *http2.SettingsFrame) string {
	var s []http2.Setting
	_ = f.ForeachSetting(func(st http2.Setting) error { s = append(s, st); return nil })
	var b strings.Builder
	for _, st := range sortedSettings(s) {
		fmt.Fprintf(&b, " %v=%d", st.ID, st.Val)
	}
	return b.String()
}

// renderEvent renders an event without the "ev" prefix.
func renderEvent(ev h2sm.Event) string {
	var b strings.Builder
	b.WriteString(ev.Kind.String())
	switch ev.Kind {
	case h2sm.EventConnClosed:
	default:
		fmt.Fprintf(&b, " stream=%d", ev.Stream)
	}
	if ev.EndStream {
		b.WriteString(" END_STREAM")
	}
	for _, kv := range [...]struct{ k, v string }{
		{"method", ev.Method}, {"scheme", ev.Scheme}, {"authority", ev.Authority},
		{"path", ev.Path}, {"protocol", ev.Protocol},
	} {
		if kv.v != "" {
			fmt.Fprintf(&b, " %s=%s", kv.k, renderValue(kv.v))
		}
	}
	if ev.Kind == h2sm.EventData {
		fmt.Fprintf(&b, " len=%d", len(ev.Data))
		if len(ev.Data) > 0 {
			b.WriteString(" " + renderBytes(ev.Data, maxDataRender))
		}
	}
	if len(ev.Fields) > 0 {
		b.WriteString(" |")
		b.WriteString(renderFields(ev.Fields))
	}
	if ev.Err != nil {
		b.WriteString(renderErr(ev.Err))
	} else if ev.Kind == h2sm.EventConnClosed {
		b.WriteString(" err=nil")
	}
	return b.String()
}

// renderErr renders an error as ` err="..."`, and nil as "".
func renderErr(err error) string {
	if err == nil {
		return ""
	}
	return " err=" + strconv.Quote(err.Error())
}

// renderFields renders header fields as " name=value ...".
func renderFields(fields []h2sm.HeaderField) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(" " + renderValue(f.Name) + "=" + renderValue(f.Value))
		if f.Sensitive {
			b.WriteString("(sensitive)")
		}
	}
	return b.String()
}

// renderValue quotes s if it would be ambiguous in a trace line, and cuts
// it if it is long.
func renderValue(s string) string {
	cut := ""
	if len(s) > maxValueRender {
		cut = fmt.Sprintf("...(%d bytes)", len(s))
		s = s[:maxValueRender]
	}
	if s == "" || strings.ContainsAny(s, " =\"|\\") || !printable(s) {
		s = strconv.Quote(s)
	}
	return s + cut
}

// renderBytes renders a payload, quoted and cut after limit bytes.
func renderBytes(p []byte, limit int) string {
	if len(p) > limit {
		return fmt.Sprintf("%q...(%d bytes)", p[:limit], len(p))
	}
	return fmt.Sprintf("%q", p)
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// flagName returns name if set, else "".
func flagName(set bool, name string) string {
	if set {
		return name
	}
	return ""
}

// fromHPACK converts decoded fields.
func fromHPACK(hf []hpack.HeaderField) []h2sm.HeaderField {
	out := make([]h2sm.HeaderField, len(hf))
	for i, f := range hf {
		out[i] = h2sm.HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive}
	}
	return out
}
