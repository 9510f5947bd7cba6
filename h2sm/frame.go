package h2sm

import (
	"encoding/binary"
	"strconv"
)

// FrameType is an HTTP/2 frame type (RFC 9113 §6).
type FrameType uint8

// The frame types of RFC 9113 §6.
const (
	FrameData         FrameType = 0x0
	FrameHeaders      FrameType = 0x1
	FramePriority     FrameType = 0x2
	FrameRSTStream    FrameType = 0x3
	FrameSettings     FrameType = 0x4
	FramePushPromise  FrameType = 0x5
	FramePing         FrameType = 0x6
	FrameGoAway       FrameType = 0x7
	FrameWindowUpdate FrameType = 0x8
	FrameContinuation FrameType = 0x9

	numFrameTypes = 10
)

var frameTypeNames = [numFrameTypes]string{
	"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
	"PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION",
}

// String returns the RFC name of the type, as in "WINDOW_UPDATE", or
// "UNKNOWN_FRAME_TYPE_n".
func (t FrameType) String() string {
	if t < numFrameTypes {
		return frameTypeNames[t]
	}
	return "UNKNOWN_FRAME_TYPE_" + strconv.Itoa(int(t))
}

// Frame flags (RFC 9113 §6).
const (
	flagEndStream  uint8 = 0x1
	flagAck        uint8 = 0x1
	flagEndHeaders uint8 = 0x4
	flagPadded     uint8 = 0x8
	flagPriority   uint8 = 0x20
)

// SettingID is an HTTP/2 setting identifier (RFC 9113 §6.5.2).
type SettingID uint16

// The settings of RFC 9113 §6.5.2 and RFC 8441.
const (
	SettingHeaderTableSize       SettingID = 0x1
	SettingEnablePush            SettingID = 0x2
	SettingMaxConcurrentStreams  SettingID = 0x3
	SettingInitialWindowSize     SettingID = 0x4
	SettingMaxFrameSize          SettingID = 0x5
	SettingMaxHeaderListSize     SettingID = 0x6
	SettingEnableConnectProtocol SettingID = 0x8
)

// clientPreface is the connection preface a client sends first (RFC 9113 §3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// frameHeader is the fixed 9-octet frame header (RFC 9113 §4.1).
type frameHeader struct {
	length uint32
	typ    FrameType
	flags  uint8
	stream StreamID
}

// parseFrameHeader reads a frame header from b, which holds at least 9 bytes.
// RFC 9113 §4.1: the reserved bit "MUST be ignored when receiving".
func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    FrameType(b[3]),
		flags:  b[4],
		stream: StreamID(binary.BigEndian.Uint32(b[5:9]) & (1<<31 - 1)),
	}
}

func (h frameHeader) has(f uint8) bool { return h.flags&f != 0 }

// appendFrameHeader appends a frame header.
func appendFrameHeader(dst []byte, length int, typ FrameType, flags uint8, id StreamID) []byte {
	return append(dst, byte(length>>16), byte(length>>8), byte(length), byte(typ), flags,
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// stripPadding removes the Pad Length octet and the padding of a PADDED
// DATA, HEADERS or PUSH_PROMISE payload. ok is false when the padding is as
// long as the payload or longer, which RFC 9113 §6.1 and §6.2 make a
// connection error PROTOCOL_ERROR. prefix is the length of the fields that
// sit between the Pad Length and the data (5 for HEADERS with PRIORITY).
func stripPadding(h frameHeader, p []byte, prefix int) (body []byte, padLen int, ok bool) {
	if !h.has(flagPadded) {
		if len(p) < prefix {
			return nil, 0, false
		}
		return p, 0, true
	}
	if len(p) < 1 {
		return nil, 0, false
	}
	padLen = int(p[0])
	// §6.1: "If the length of the padding is the length of the frame payload
	// or greater, the recipient MUST treat this as a connection error of type
	// PROTOCOL_ERROR."
	if padLen >= len(p) || len(p)-1-padLen < prefix {
		return nil, 0, false
	}
	return p[1 : len(p)-padLen], padLen, true
}

// A frame is a parsed frame: its header and payload, with the payload split
// into its fields for the types that have them. It is used by the fuzz
// round-trip and by the trace renderer; the connection parses its inputs in
// place without building one.
type frame struct {
	frameHeader
	padLen   int
	priority bool      // HEADERS with PRIORITY, or PRIORITY
	depend   StreamID  // stream dependency
	excl     bool      // exclusive dependency
	weight   uint8     // weight - 1 as sent
	data     []byte    // DATA payload, header block fragment, GOAWAY debug data, PING data
	code     ErrCode   // RST_STREAM, GOAWAY
	last     StreamID  // GOAWAY last stream id
	incr     uint32    // WINDOW_UPDATE
	settings []setting // SETTINGS
	promised StreamID  // PUSH_PROMISE
}

type setting struct {
	id  SettingID
	val uint32
}

// frameParseError says why a frame could not be parsed, as its error code.
type frameParseError struct {
	code   ErrCode
	reason string
}

func (e *frameParseError) Error() string { return "h2sm: " + e.code.String() + ": " + e.reason }

// parseFrame parses the frame at the start of b. It returns the frame, the
// bytes it used, and an error when b holds less than a whole frame (nil
// frame, n == 0) or the frame breaks a length or padding rule of RFC 9113 §6.
func parseFrame(b []byte) (f *frame, n int, err error) {
	if len(b) < frameHeaderLen {
		return nil, 0, nil
	}
	h := parseFrameHeader(b)
	if len(b) < frameHeaderLen+int(h.length) {
		return nil, 0, nil
	}
	p := b[frameHeaderLen : frameHeaderLen+int(h.length)]
	n = frameHeaderLen + int(h.length)
	f = &frame{frameHeader: h}
	bad := func(code ErrCode, reason string) (*frame, int, error) {
		return nil, n, &frameParseError{code, reason}
	}
	switch h.typ {
	case FrameData:
		if h.has(flagPadded) && len(p) < 1 {
			return bad(ErrCodeFrameSize, "too short for its Pad Length (§4.2)")
		}
		body, pad, ok := stripPadding(h, p, 0)
		if !ok {
			return bad(ErrCodeProtocol, "padding too long")
		}
		f.data, f.padLen = body, pad
	case FrameHeaders:
		prefix := 0
		if h.has(flagPriority) {
			prefix = 5
		}
		if h.has(flagPadded) && len(p) < 1+prefix || len(p) < prefix {
			return bad(ErrCodeFrameSize, "too short for its Pad Length or priority (§4.2)")
		}
		body, pad, ok := stripPadding(h, p, prefix)
		if !ok {
			return bad(ErrCodeProtocol, "padding too long")
		}
		f.padLen = pad
		if prefix > 0 {
			f.priority = true
			v := binary.BigEndian.Uint32(body)
			f.excl, f.depend, f.weight = v>>31 == 1, StreamID(v&(1<<31-1)), body[4]
			body = body[5:]
		}
		f.data = body
	case FramePriority:
		if len(p) != 5 {
			return bad(ErrCodeFrameSize, "PRIORITY length != 5")
		}
		v := binary.BigEndian.Uint32(p)
		f.priority = true
		f.excl, f.depend, f.weight = v>>31 == 1, StreamID(v&(1<<31-1)), p[4]
	case FrameRSTStream:
		if len(p) != 4 {
			return bad(ErrCodeFrameSize, "RST_STREAM length != 4")
		}
		f.code = ErrCode(binary.BigEndian.Uint32(p))
	case FrameSettings:
		if len(p)%6 != 0 || (h.has(flagAck) && len(p) != 0) {
			return bad(ErrCodeFrameSize, "SETTINGS length")
		}
		for i := 0; i < len(p); i += 6 {
			f.settings = append(f.settings, setting{SettingID(binary.BigEndian.Uint16(p[i:])), binary.BigEndian.Uint32(p[i+2:])})
		}
	case FramePushPromise:
		body, pad, ok := stripPadding(h, p, 4)
		if !ok {
			return bad(ErrCodeProtocol, "padding too long")
		}
		f.padLen = pad
		f.promised = StreamID(binary.BigEndian.Uint32(body) & (1<<31 - 1))
		f.data = body[4:]
	case FramePing:
		if len(p) != 8 {
			return bad(ErrCodeFrameSize, "PING length != 8")
		}
		f.data = p
	case FrameGoAway:
		if len(p) < 8 {
			return bad(ErrCodeFrameSize, "GOAWAY length < 8")
		}
		f.last = StreamID(binary.BigEndian.Uint32(p) & (1<<31 - 1))
		f.code = ErrCode(binary.BigEndian.Uint32(p[4:]))
		f.data = p[8:]
	case FrameWindowUpdate:
		if len(p) != 4 {
			return bad(ErrCodeFrameSize, "WINDOW_UPDATE length != 4")
		}
		f.incr = binary.BigEndian.Uint32(p) & (1<<31 - 1)
	default: // CONTINUATION and unknown types keep their payload
		f.data = p
	}
	return f, n, nil
}

// appendFrame appends f in wire form. Padding is written as zeros. It is the
// inverse of parseFrame for every frame parseFrame accepts.
func appendFrame(dst []byte, f *frame) []byte {
	var body []byte
	switch f.typ {
	case FrameData, FrameHeaders, FramePushPromise:
		if f.has(flagPadded) {
			body = append(body, byte(f.padLen))
		}
		if f.typ == FrameHeaders && f.has(flagPriority) {
			body = appendPriority(body, f)
		}
		if f.typ == FramePushPromise {
			body = appendUint32(body, uint32(f.promised))
		}
		body = append(body, f.data...)
		if f.has(flagPadded) {
			body = append(body, make([]byte, f.padLen)...)
		}
	case FramePriority:
		body = appendPriority(body, f)
	case FrameRSTStream:
		body = appendUint32(body, uint32(f.code))
	case FrameSettings:
		for _, s := range f.settings {
			body = append(body, byte(s.id>>8), byte(s.id))
			body = appendUint32(body, s.val)
		}
	case FrameGoAway:
		body = appendUint32(body, uint32(f.last))
		body = appendUint32(body, uint32(f.code))
		body = append(body, f.data...)
	case FrameWindowUpdate:
		body = appendUint32(body, f.incr)
	default:
		body = f.data
	}
	dst = appendFrameHeader(dst, len(body), f.typ, f.flags, f.stream)
	return append(dst, body...)
}

func appendPriority(dst []byte, f *frame) []byte {
	v := uint32(f.depend)
	if f.excl {
		v |= 1 << 31
	}
	return append(appendUint32(dst, v), f.weight)
}
