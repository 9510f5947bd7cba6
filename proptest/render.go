package proptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// Rendering limits, so that a trace stays readable.
const (
	maxValueRender = 48
	maxFieldsShown = 12
)

// renderHeader renders a frame header alone.
func renderHeader(raw []byte) string {
	length := int(raw[0])<<16 | int(raw[1])<<8 | int(raw[2])
	id := binary.BigEndian.Uint32(raw[5:9]) & (1<<31 - 1)
	return fmt.Sprintf("%v stream=%d flags=%#02x len=%d", http2.FrameType(raw[3]), id, raw[4], length)
}

// renderFrame renders one frame, header and payload, for the trace. It never
// fails: a payload that does not fit its type is shown as malformed.
func renderFrame(raw []byte) string {
	typ, flags := http2.FrameType(raw[3]), http2.Flags(raw[4])
	id := binary.BigEndian.Uint32(raw[5:9]) & (1<<31 - 1)
	p := raw[frameHeaderSz:]
	var b strings.Builder
	flag := func(f http2.Flags, name string) {
		if flags.Has(f) {
			b.WriteString(" " + name)
		}
	}
	malformed := func() string { return fmt.Sprintf("%s (malformed)", renderHeader(raw)) }
	switch typ {
	case http2.FrameData:
		fmt.Fprintf(&b, "DATA stream=%d len=%d", id, len(p))
		flag(http2.FlagDataEndStream, "END_STREAM")
		flag(http2.FlagDataPadded, "PADDED")
	case http2.FrameHeaders:
		fmt.Fprintf(&b, "HEADERS stream=%d len=%d", id, len(p))
		flag(http2.FlagHeadersEndStream, "END_STREAM")
		flag(http2.FlagHeadersEndHeaders, "END_HEADERS")
		flag(http2.FlagHeadersPadded, "PADDED")
		flag(http2.FlagHeadersPriority, "PRIORITY")
	case http2.FrameContinuation:
		fmt.Fprintf(&b, "CONTINUATION stream=%d len=%d", id, len(p))
		flag(http2.FlagContinuationEndHeaders, "END_HEADERS")
	case http2.FramePriority:
		if len(p) != 5 {
			return malformed()
		}
		dep := binary.BigEndian.Uint32(p)
		fmt.Fprintf(&b, "PRIORITY stream=%d dep=%d weight=%d", id, dep&(1<<31-1), p[4])
		if dep>>31 == 1 {
			b.WriteString(" exclusive")
		}
	case http2.FrameRSTStream:
		if len(p) != 4 {
			return malformed()
		}
		fmt.Fprintf(&b, "RST_STREAM stream=%d %v", id, http2.ErrCode(binary.BigEndian.Uint32(p)))
	case http2.FrameSettings:
		if flags.Has(http2.FlagSettingsAck) {
			if len(p) != 0 || id != 0 {
				return malformed()
			}
			return "SETTINGS ACK"
		}
		if len(p)%6 != 0 || id != 0 {
			return malformed()
		}
		b.WriteString("SETTINGS")
		for i := 0; i < len(p); i += 6 {
			fmt.Fprintf(&b, " %v=%d", http2.SettingID(binary.BigEndian.Uint16(p[i:])), binary.BigEndian.Uint32(p[i+2:]))
		}
	case http2.FramePing:
		if len(p) != 8 || id != 0 {
			return malformed()
		}
		b.WriteString("PING")
		flag(http2.FlagPingAck, "ACK")
		fmt.Fprintf(&b, " %x", p)
	case http2.FrameGoAway:
		if len(p) < 8 || id != 0 {
			return malformed()
		}
		fmt.Fprintf(&b, "GOAWAY last=%d %v", binary.BigEndian.Uint32(p)&(1<<31-1), http2.ErrCode(binary.BigEndian.Uint32(p[4:])))
		if len(p) > 8 {
			fmt.Fprintf(&b, " %q", cut(string(p[8:])))
		}
	case http2.FrameWindowUpdate:
		if len(p) != 4 {
			return malformed()
		}
		fmt.Fprintf(&b, "WINDOW_UPDATE stream=%d incr=%d", id, binary.BigEndian.Uint32(p)&(1<<31-1))
	case http2.FramePushPromise:
		fmt.Fprintf(&b, "PUSH_PROMISE stream=%d len=%d", id, len(p))
	default:
		fmt.Fprintf(&b, "UNKNOWN_TYPE(%#02x) stream=%d flags=%#02x len=%d", uint8(typ), id, uint8(flags), len(p))
	}
	return b.String()
}

// renderFields renders header fields on one line.
func renderFields(fields []h2sm.HeaderField) string {
	var b strings.Builder
	for i, f := range fields {
		if i == maxFieldsShown {
			fmt.Fprintf(&b, " …(%d more)", len(fields)-i)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", f.Name, cut(f.Value))
		if f.Sensitive {
			b.WriteString("(sensitive)")
		}
	}
	return "[" + b.String() + "]"
}

// renderEvent renders an event on one line. Determinism compares these.
func renderEvent(ev h2sm.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v stream=%d", ev.Kind, ev.Stream)
	if ev.EndStream {
		b.WriteString(" END_STREAM")
	}
	switch ev.Kind {
	case h2sm.EventRequest:
		fmt.Fprintf(&b, " %s %s %s %s", ev.Method, ev.Scheme, ev.Authority, cut(ev.Path))
		if ev.ContentLength >= 0 {
			fmt.Fprintf(&b, " content-length=%d", ev.ContentLength)
		}
		b.WriteString(" " + renderFields(ev.Fields))
	case h2sm.EventTrailers:
		b.WriteString(" " + renderFields(ev.Fields))
	case h2sm.EventData:
		fmt.Fprintf(&b, " len=%d", len(ev.Data))
	}
	if ev.Err != nil {
		var se *h2sm.StreamError
		var ce *h2sm.ConnError
		switch {
		case errors.As(ev.Err, &se):
			fmt.Fprintf(&b, " err=%v remote=%v %q", se.Code, se.Remote, se.Reason)
		case errors.As(ev.Err, &ce):
			fmt.Fprintf(&b, " err=%v remote=%v %q", ce.Code, ce.Remote, cut(ce.Reason))
		default:
			fmt.Fprintf(&b, " err=%v", ev.Err)
		}
	}
	return b.String()
}

func cut(s string) string {
	if len(s) > maxValueRender {
		return s[:maxValueRender] + "…"
	}
	return s
}
