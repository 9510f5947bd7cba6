package h2sm

import (
	"encoding/binary"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// blockMode says what a header block in progress is for.
type blockMode uint8

const (
	blockRequest  blockMode = iota // the request headers of a new stream
	blockTrailers                  // the trailers of an open stream
	blockDiscard                   // decoded only to keep HPACK in sync (§4.3)
)

// Bits of headerBlockState.pseudo, to detect duplicates.
const (
	pseudoMethod uint8 = 1 << iota
	pseudoScheme
	pseudoAuthority
	pseudoPath
	pseudoProtocol
)

// headerBlockState is the header block being received: HEADERS and its
// CONTINUATION frames up to END_HEADERS, decoded fragment by fragment.
type headerBlockState struct {
	active    bool // CONTINUATION expected
	stream    StreamID
	endStream bool
	mode      blockMode

	reject     bool    // after decoding, answer RST_STREAM with rejectCode
	rejectCode ErrCode // (state violations, refused streams)
	rejectWhy  string
	malformed  string // first §8 violation: RST_STREAM PROTOCOL_ERROR
	oversize   bool   // over MaxHeaderListSize or MaxHeaderFields: 431
	abuse      bool   // decoded size over 4×MaxHeaderListSize: GOAWAY

	scan       sizeUpdateScan // RFC 7541 §4.2, beyond what the decoder checks
	size       int64          // decoded header list size (§6.5.2: name + value + 32)
	encoded    int            // encoded bytes received
	frames     int            // CONTINUATION frames received
	fieldStart int            // first field of the block in fieldArena
	nfields    int
	regular    bool // a regular field was seen (pseudo-headers must precede)

	pseudo                                    uint8
	method, scheme, authority, path, protocol string
	host                                      string
	hasHost                                   bool
	contentLength                             int64
}

// onHeaders handles a HEADERS frame (RFC 9113 §6.2).
func (c *Conn) onHeaders(h frameHeader, p []byte) error {
	// §6.2: "If a HEADERS frame is received whose Stream Identifier field is
	// 0x00, the recipient MUST respond with a connection error ... PROTOCOL_ERROR."
	if h.stream == 0 {
		return connErr(ErrCodeProtocol, "HEADERS on stream 0 (§6.2)")
	}
	prefix := 0
	if h.has(flagPriority) {
		prefix = 5
	}
	// §4.2: a frame "too small to contain mandatory frame data" is a
	// FRAME_SIZE_ERROR (the Pad Length octet, the priority fields).
	if h.has(flagPadded) && len(p) < 1+prefix || len(p) < prefix {
		return connErr(ErrCodeFrameSize, "HEADERS too short for its Pad Length or priority fields (§4.2)")
	}
	body, _, ok := stripPadding(h, p, prefix)
	if !ok {
		return connErr(ErrCodeProtocol, "HEADERS padding too long (§6.2)")
	}
	var selfDep bool
	if prefix > 0 {
		selfDep = StreamID(binary.BigEndian.Uint32(body)&(1<<31-1)) == h.stream
		body = body[5:]
	}
	if c.hb == nil {
		c.hb = new(headerBlockState) // at the first request, then reused
	}
	*c.hb = headerBlockState{
		active: true, stream: h.stream, endStream: h.has(flagEndStream),
		fieldStart: len(c.fieldArena), contentLength: -1,
	}
	hb := c.hb
	if st := c.streams.get(h.stream); st != nil {
		hb.mode = blockTrailers
		in := inRecvHeaders
		if hb.endStream {
			in = inRecvHeadersES
		}
		if t := streamTransitions[st.state][in]; t.violation != violationNone {
			hb.mode, hb.reject, hb.rejectCode = blockDiscard, true, t.code
			hb.rejectWhy = "HEADERS not allowed in state " + st.state.String() + " (§5.1, §8.1)"
		}
	} else if h.stream%2 == 0 {
		// §5.1.1: "Streams initiated by a client MUST use odd-numbered stream
		// identifiers".
		return connErr(ErrCodeProtocol, "client stream id is even (§5.1.1)")
	} else if h.stream <= c.streams.maxClientID {
		switch {
		case c.streams.wasReset(h.stream) || c.goAway.ignored(h.stream) || !c.streams.inWindow(h.stream):
			// Sent before the peer saw our RST_STREAM (§5.1), or on a stream
			// too old for the id window to tell: decoded and discarded.
			hb.mode = blockDiscard
		case c.streams.wasOpened(h.stream):
			// §5.1 closed: a frame on a closed stream MAY be "a connection
			// error ... of type STREAM_CLOSED".
			return connErr(ErrCodeStreamClosed, "HEADERS on a closed stream (§5.1)")
		default:
			// §5.1.1: "The identifier of a newly established stream MUST be
			// numerically greater than all streams that the initiating endpoint
			// has opened" and "An endpoint that receives an unexpected stream
			// identifier MUST respond with a connection error ... of type
			// PROTOCOL_ERROR."
			return connErr(ErrCodeProtocol, "stream id not greater than the last one (§5.1.1)")
		}
	} else {
		c.streams.open(h.stream)
		switch {
		case c.goAway.ignored(h.stream):
			// §6.8: after GOAWAY we ignore streams above the last stream id,
			// but still decode the block.
			hb.mode = blockDiscard
		case uint32(c.streams.active) >= c.cfg.MaxConcurrentStreams:
			// §5.1.2: "An endpoint that receives a HEADERS frame that causes its
			// advertised concurrent stream limit to be exceeded MUST treat this
			// as a stream error ... of type PROTOCOL_ERROR or REFUSED_STREAM."
			hb.mode, hb.reject, hb.rejectCode = blockDiscard, true, ErrCodeRefusedStream
			hb.rejectWhy = "over SETTINGS_MAX_CONCURRENT_STREAMS (§5.1.2)"
			c.stats.StreamsRefused++
		}
	}
	if selfDep && !hb.reject {
		// §5.3.1: "A stream cannot depend on itself."
		hb.mode, hb.reject, hb.rejectCode = blockDiscard, true, ErrCodeProtocol
		hb.rejectWhy = "stream depends on itself (§5.3.1)"
	}
	c.decoder().SetEmitEnabled(hb.mode != blockDiscard)
	return c.headerFragment(body, h.has(flagEndHeaders))
}

// onContinuation handles a CONTINUATION frame (RFC 9113 §6.10). processFrame
// has already checked that it follows a HEADERS on the same stream.
func (c *Conn) onContinuation(h frameHeader, p []byte) error {
	if !c.inBlock() {
		// §6.10: a CONTINUATION not preceded by HEADERS, PUSH_PROMISE or
		// CONTINUATION without END_HEADERS is a connection error PROTOCOL_ERROR.
		return connErr(ErrCodeProtocol, "CONTINUATION without a header block (§6.10)")
	}
	c.hb.frames++
	if c.hb.frames > c.maxContinuations() {
		return connErr(ErrCodeEnhanceYourCalm, "too many CONTINUATION frames")
	}
	if len(p) == 0 && !h.has(flagEndHeaders) {
		if err := c.chargeEmptyFrame(); err != nil {
			return err
		}
	}
	return c.headerFragment(p, h.has(flagEndHeaders))
}

// maxContinuations bounds the CONTINUATION frames of one block: enough for
// an encoded block twice MaxHeaderListSize in frames of MaxFrameSize, and
// never fewer than 16 (CVE-2023-45288 and its kin).
func (c *Conn) maxContinuations() int {
	return max(16, int(2*c.cfg.MaxHeaderListSize/c.cfg.MaxFrameSize)+1)
}

// headerFragment feeds one fragment to the HPACK decoder.
func (c *Conn) headerFragment(frag []byte, endHeaders bool) error {
	hb := c.hb
	hb.encoded += len(frag)
	if int64(hb.encoded) > 2*int64(c.cfg.MaxHeaderListSize)+int64(c.cfg.MaxFrameSize) {
		return connErr(ErrCodeEnhanceYourCalm, "encoded header block too large")
	}
	if _, err := c.decoder().Write(frag); err != nil {
		if err == hpack.ErrStringLength {
			return connErr(ErrCodeEnhanceYourCalm, "header field too large")
		}
		// RFC 7541 §2.2 and RFC 9113 §4.3: a decoding error is a connection
		// error of type COMPRESSION_ERROR.
		return connErr(ErrCodeCompression, "HPACK decoding failed (§4.3)")
	}
	if !hb.scan.write(frag) {
		return connErr(ErrCodeCompression, "HPACK size update after a field (RFC 7541 §4.2)")
	}
	if hb.abuse {
		return connErr(ErrCodeEnhanceYourCalm, "decoded header list far over the limit")
	}
	if !endHeaders {
		if !c.timers.armed(timerHeaderBlock) {
			c.timers.setAfter(timerHeaderBlock, c.now, c.cfg.HeaderBlockTimeout)
		}
		return nil
	}
	c.timers.stop(timerHeaderBlock)
	hb.active = false
	if err := c.decoder().Close(); err != nil {
		return connErr(ErrCodeCompression, "HPACK block truncated (§4.3)")
	}
	return c.finishBlock()
}

// onHeaderField is the HPACK decoder's emit function: it validates and
// stores one field of the block in progress.
func (c *Conn) onHeaderField(f hpack.HeaderField) {
	hb := c.hb
	hb.size += int64(len(f.Name) + len(f.Value) + 32)
	if hb.size > 4*int64(c.cfg.MaxHeaderListSize) {
		hb.abuse = true
		c.decoder().SetEmitEnabled(false)
		return
	}
	if hb.oversize || hb.malformed != "" {
		return
	}
	if hb.size > int64(c.cfg.MaxHeaderListSize) || hb.nfields >= c.cfg.MaxHeaderFields {
		hb.oversize = true
		return
	}
	if len(f.Name) > 0 && f.Name[0] == ':' {
		c.onPseudoField(f)
		return
	}
	hb.regular = true
	switch {
	case !validName(f.Name):
		hb.malformed = "invalid field name (§8.2.1)"
	case !validValue(f.Value):
		hb.malformed = "invalid field value (§8.2.1)"
	case connectionSpecific(f.Name):
		hb.malformed = "connection-specific field (§8.2.2)"
	case f.Name == "te" && f.Value != "trailers":
		// §8.2.2: "The only exception to this is the TE header field, which MAY
		// be present in an HTTP/2 request; when it is, it MUST NOT contain any
		// value other than "trailers"."
		hb.malformed = "te other than trailers (§8.2.2)"
	case f.Name == "content-length":
		n, ok := parseContentLength(f.Value)
		if !ok || hb.contentLength >= 0 {
			hb.malformed = "invalid or repeated content-length (§8.1.1)"
		}
		hb.contentLength = n
	case f.Name == "host":
		if hb.hasHost {
			hb.malformed = "repeated host"
		}
		hb.host, hb.hasHost = f.Value, true
	}
	if hb.malformed != "" {
		return
	}
	c.fieldArena = append(c.fieldArena, HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive})
	hb.nfields++
}

// onPseudoField handles a pseudo-header field (§8.3).
func (c *Conn) onPseudoField(f hpack.HeaderField) {
	hb := c.hb
	// §8.3: "Pseudo-header fields MUST NOT appear in a trailer section" and
	// "All pseudo-header fields MUST appear in a field block before all
	// regular field lines".
	if hb.mode == blockTrailers {
		hb.malformed = "pseudo-header in trailers (§8.3)"
		return
	}
	if hb.regular {
		hb.malformed = "pseudo-header after a regular field (§8.3)"
		return
	}
	var bit uint8
	switch f.Name {
	case ":method":
		bit, hb.method = pseudoMethod, f.Value
	case ":scheme":
		bit, hb.scheme = pseudoScheme, f.Value
	case ":authority":
		bit, hb.authority = pseudoAuthority, f.Value
	case ":path":
		bit, hb.path = pseudoPath, f.Value
	case ":protocol":
		if !c.cfg.EnableConnectProtocol {
			hb.malformed = ":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §4)"
			return
		}
		bit, hb.protocol = pseudoProtocol, f.Value
	default:
		// §8.3: "Endpoints MUST treat a request or response that contains
		// undefined or invalid pseudo-header fields as malformed." This
		// includes :status in a request.
		hb.malformed = "unknown pseudo-header (§8.3)"
		return
	}
	// §8.3.1: each of these "MUST" appear once at most.
	if hb.pseudo&bit != 0 {
		hb.malformed = "repeated pseudo-header (§8.3.1)"
		return
	}
	hb.pseudo |= bit
	if !validValue(f.Value) {
		hb.malformed = "invalid pseudo-header value (§8.2.1)"
	}
}

// requestProblem checks a complete request header block (§8.3.1, §8.5).
func (hb *headerBlockState) requestProblem() string {
	if hb.method == "CONNECT" && hb.protocol == "" {
		// §8.5: "The :scheme and :path pseudo-header fields MUST be omitted"
		// and ":authority ... MUST" be present.
		if hb.pseudo&(pseudoScheme|pseudoPath) != 0 || hb.authority == "" {
			return "malformed CONNECT (§8.5)"
		}
		return ""
	}
	// §8.3.1: "All HTTP/2 requests MUST include exactly one valid value for the
	// :method, :scheme, and :path pseudo-header fields, unless they are CONNECT
	// requests".
	if hb.pseudo&pseudoMethod == 0 || hb.pseudo&pseudoScheme == 0 || hb.pseudo&pseudoPath == 0 {
		return "missing :method, :scheme or :path (§8.3.1)"
	}
	if hb.protocol != "" && hb.method != "CONNECT" {
		return ":protocol on a method other than CONNECT (RFC 8441 §4)"
	}
	if !validMethod(hb.method) || hb.scheme == "" {
		return "invalid :method or :scheme (§8.3.1)"
	}
	// §8.3.1: ":path ... MUST NOT be empty for "http" or "https" URIs"; it is
	// an absolute path, or "*" for OPTIONS.
	if hb.path == "" || hb.path[0] != '/' && (hb.path != "*" || hb.method != "OPTIONS") {
		return "invalid :path (§8.3.1)"
	}
	// §8.3.1: the authority "MUST NOT include the deprecated userinfo subcomponent".
	if strings.IndexByte(hb.authority, '@') >= 0 {
		return "userinfo in :authority (§8.3.1)"
	}
	if hb.hasHost && hb.pseudo&pseudoAuthority != 0 && hb.host != hb.authority {
		// §8.3.1: a Host that differs from :authority "SHOULD" be malformed.
		return ":authority and host differ (§8.3.1)"
	}
	return ""
}

// finishBlock acts on a complete, decoded header block.
func (c *Conn) finishBlock() error {
	hb := c.hb
	id := hb.stream
	if hb.mode == blockDiscard {
		if hb.reject {
			return streamErr(id, hb.rejectCode, hb.rejectWhy)
		}
		return nil
	}
	fields := c.fieldArena[hb.fieldStart:len(c.fieldArena):len(c.fieldArena)]
	if hb.mode == blockTrailers {
		st := c.streams.get(id)
		switch {
		case st == nil:
			// The application reset the stream while its trailer block was
			// arriving: the block was decoded (HPACK state) and is discarded,
			// as for any stream we reset (§5.1 closed).
			return nil
		case hb.oversize:
			return streamErr(id, ErrCodeEnhanceYourCalm, "trailers over the header list limit")
		case hb.malformed != "":
			return streamErr(id, ErrCodeProtocol, hb.malformed)
		case st.contentLength >= 0 && st.recvBody != st.contentLength:
			return streamErr(id, ErrCodeProtocol, "body length differs from content-length (§8.1.1)")
		}
		st.transition(inRecvHeadersES)
		c.pushEvent(Event{Kind: EventTrailers, Stream: id, Fields: fields, EndStream: true})
		if st.state == stateClosed {
			c.closeStream(st)
		}
		return nil
	}
	if hb.oversize {
		c.stats.countError("request header list too large")
		c.writeStatusOnly(id, "431", hb.endStream)
		return nil
	}
	if hb.malformed == "" {
		hb.malformed = hb.requestProblem()
	}
	if hb.malformed == "" && hb.endStream && hb.contentLength > 0 {
		hb.malformed = "content-length > 0 on a request without body (§8.1.1)"
	}
	if hb.malformed != "" {
		return streamErr(id, ErrCodeProtocol, hb.malformed)
	}
	st := c.streams.add(id)
	st.state = stateOpen
	if hb.endStream {
		st.state = stateHalfClosedRemote
	}
	st.contentLength = hb.contentLength
	st.delivered = true
	window := c.cfg.InitialWindowSize
	if !c.settings.acked && window < initialWindowSize {
		window = initialWindowSize // the peer may not have applied our SETTINGS yet
	}
	st.inflow.init(int32(window))
	st.outflow.avail = int64(c.settings.peerInitialWindow)
	c.stats.StreamsOpened++
	c.timers.stop(timerIdle)
	authority := hb.authority
	if hb.pseudo&pseudoAuthority == 0 && hb.hasHost {
		authority = hb.host
	}
	c.pushEvent(Event{
		Kind: EventRequest, Stream: id, EndStream: hb.endStream,
		Method: hb.method, Scheme: hb.scheme, Authority: authority, Path: hb.path, Protocol: hb.protocol,
		Fields: fields, ContentLength: hb.contentLength,
	})
	return nil
}
