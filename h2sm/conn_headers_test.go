package h2sm_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Frame-level scenarios for request header blocks: assembly, HEADERS and
// CONTINUATION framing, the RFC 9113 §8 validation matrix
// (../research/attacks.md §4), HPACK errors and header-list limits.
//
// The sc* helpers are shared by conn_streams_test.go, conn_flow_test.go,
// conn_data_test.go and conn_send_test.go.

// scPeer returns a Peer past the handshake.
func scPeer(t *testing.T, opts ...memory.Option) *memory.Peer {
	t.Helper()
	tc := memory.NewPeer(t, opts...)
	tc.Handshake()
	return tc
}

// scConfig is memory.WithConfig, shorter.
func scConfig(f func(*h2sm.Config)) memory.Option { return memory.WithConfig(f) }

// scField is one header field.
func scField(name, value string) h2sm.HeaderField { return h2sm.HeaderField{Name: name, Value: value} }

// scGet sends a GET for path with END_STREAM on id and reads its request event.
func scGet(t *testing.T, tc *memory.Peer, id h2sm.StreamID, path string) {
	t.Helper()
	tc.WriteHeaders(id, memory.GET(path), memory.EndStream)
	tc.WantEvent("a well-formed GET reaches the application", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: id, EndStream: true,
		Method: "GET", Scheme: "https", Authority: "example.com", Path: path,
		Fields: []h2sm.HeaderField{}, ContentLength: -1,
	})
}

// scPost opens a POST on id without END_STREAM and reads its request event.
func scPost(t *testing.T, tc *memory.Peer, id h2sm.StreamID, extra ...h2sm.HeaderField) {
	t.Helper()
	tc.WriteHeaders(id, memory.Request("POST", "/upload", extra...))
	tc.WantEvent("the POST reaches the application", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: id, Method: "POST", Path: "/upload",
	})
}

// scWantUsable checks that the connection still serves a request on id.
func scWantUsable(t *testing.T, tc *memory.Peer, id h2sm.StreamID) {
	t.Helper()
	scGet(t, tc, id, "/next")
	tc.Respond(id, 204, true)
	tc.WantFrame("the connection still answers requests", memory.Headers{
		Stream: id, EndStream: true, Fields: memory.Fields(":status", "204"),
	})
	tc.WantIdle("nothing else after the follow-up request")
	if p := tc.Conn().Phase(); p != h2sm.PhaseOpen {
		t.Fatalf("Phase() = %v after a follow-up request, want Open", p)
	}
}

// scWantConnError expects GOAWAY with last and code, then EventConnClosed
// carrying a local *ConnError with the code, and nothing else.
func scWantConnError(t *testing.T, tc *memory.Peer, why string, last h2sm.StreamID, code h2sm.ErrCode) {
	t.Helper()
	tc.WantFrame(why, memory.GoAway{LastStream: last, Code: code})
	err := tc.WantClosed(why)
	var ce *h2sm.ConnError
	if !errors.As(err, &ce) || ce.Code != code || ce.Remote || ce.Reason == "" {
		t.Fatalf("%s: ConnClosed error = %v, want a local *ConnError %v with a reason", why, err, code)
	}
	tc.WantIdle(why + ": nothing after the close")
}

// scWantMalformed expects RST_STREAM PROTOCOL_ERROR on id and no event: the
// application never sees a malformed request.
func scWantMalformed(t *testing.T, tc *memory.Peer, why string, id h2sm.StreamID) {
	t.Helper()
	tc.WantFrame(why, memory.RSTStream{Stream: id, Code: h2sm.ErrCodeProtocol})
	tc.WantIdle(why + ": no request event, no other frame")
}

// scWantStreamReset expects RST_STREAM with code on id, then
// EventStreamReset with a local *StreamError with the code.
func scWantStreamReset(t *testing.T, tc *memory.Peer, why string, id h2sm.StreamID, code h2sm.ErrCode) {
	t.Helper()
	tc.WantFrame(why, memory.RSTStream{Stream: id, Code: code})
	ev := tc.WantEvent(why+": the application learns of the reset", h2sm.Event{
		Kind: h2sm.EventStreamReset, Stream: id, Err: &h2sm.StreamError{Code: code},
	})
	var se *h2sm.StreamError
	if !errors.As(ev.Err, &se) || se.Remote || se.Stream != id || se.Reason == "" {
		t.Fatalf("%s: reset error = %#v, want a local *StreamError on stream %d with a reason", why, ev.Err, id)
	}
}

func TestConnHeadersRequestAssembly(t *testing.T) {
	tc := scPeer(t)
	fields := memory.Fields(
		":method", "POST", ":scheme", "https", ":authority", "api.example.com:8443", ":path", "/a/b?c=d",
		"content-type", "text/plain", "x-multi", "1", "content-length", "5", "x-multi", "2",
		"cookie", "a=b", "cookie", "c=d", "x-empty", "",
	)
	tc.WriteHeaders(1, fields)
	tc.WantEvent("pseudo-headers split out, regular fields kept in order", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1,
		Method: "POST", Scheme: "https", Authority: "api.example.com:8443", Path: "/a/b?c=d",
		Fields:        fields[4:],
		ContentLength: 5,
	})
	tc.WriteData(1, []byte("hello"), true)
	tc.WantEvent("the body follows", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("hello"), EndStream: true})
	tc.WantIdle("nothing else")
}

func TestConnHeadersNoContentLength(t *testing.T) {
	tc := scPeer(t)
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	ev := tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	if ev.ContentLength != -1 {
		t.Errorf("ContentLength = %d without content-length, want -1", ev.ContentLength)
	}
	if ev.Protocol != "" {
		t.Errorf("Protocol = %q, want empty", ev.Protocol)
	}
	tc.WriteHeaders(3, memory.Request("GET", "/", scField("content-length", "0")), memory.EndStream)
	ev = tc.WantEvent("content-length 0 with END_STREAM is fine", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true})
	if ev.ContentLength != 0 {
		t.Errorf("ContentLength = %d, want 0", ev.ContentLength)
	}
}

func TestConnHeadersHostFallback(t *testing.T) {
	tc := scPeer(t)
	tc.WriteHeaders(1, memory.Fields(":method", "GET", ":scheme", "https", ":path", "/", "host", "h.example:81"), memory.EndStream)
	tc.WantEvent("without :authority, Authority comes from host (§8.3.1)", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Method: "GET", Authority: "h.example:81", Path: "/",
		Fields: memory.Fields("host", "h.example:81"),
	})
	tc.WriteHeaders(3, memory.Request("GET", "/", scField("host", "example.com")), memory.EndStream)
	tc.WantEvent("host equal to :authority is accepted", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Authority: "example.com",
		Fields: memory.Fields("host", "example.com"),
	})
	tc.WriteHeaders(5, memory.Fields(":method", "GET", ":scheme", "https", ":path", "/"), memory.EndStream)
	ev := tc.WantEvent("neither :authority nor host: accepted, empty Authority", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 5, EndStream: true, Fields: []h2sm.HeaderField{},
	})
	if ev.Authority != "" {
		t.Errorf("Authority = %q, want empty", ev.Authority)
	}
}

func TestConnHeadersPadded(t *testing.T) {
	tc := scPeer(t)
	tc.WriteHeaders(1, memory.GET("/p"), memory.EndStream, memory.Padded(200))
	tc.WantEvent("padding is stripped (§6.2)", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/p", Fields: []h2sm.HeaderField{}})
	tc.WriteHeaders(3, memory.GET("/q"), memory.EndStream, memory.Padded(0))
	tc.WantEvent("PADDED with no padding", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Path: "/q"})
	tc.WriteHeaders(5, memory.GET("/r"), memory.EndStream, memory.Padded(7), memory.Priority(0, 200, true))
	tc.WantEvent("padding and priority together", h2sm.Event{Kind: h2sm.EventRequest, Stream: 5, EndStream: true, Path: "/r"})
	tc.WriteHeaders(7, memory.GET("/s"), memory.EndStream, memory.Padded(255), memory.SplitAt(3))
	tc.WantEvent("padded HEADERS followed by CONTINUATION", h2sm.Event{Kind: h2sm.EventRequest, Stream: 7, EndStream: true, Path: "/s"})
	tc.WantIdle("nothing else")
}

func TestConnHeadersPaddingTooLong(t *testing.T) {
	const flags = http2.FlagHeadersEndStream | http2.FlagHeadersEndHeaders | http2.FlagHeadersPadded
	prio := []byte{0, 0, 0, 0, 15}
	tests := []struct {
		name    string
		flags   http2.Flags
		payload func(block []byte) []byte
		code    h2sm.ErrCode
	}{
		// §6.2: "Padding that exceeds the size remaining for the header block
		// fragment MUST be treated as a PROTOCOL_ERROR."
		{"pad length equals payload", flags, func(b []byte) []byte {
			return append([]byte{byte(len(b) + 1)}, b...)
		}, h2sm.ErrCodeProtocol},
		{"pad length beyond payload", flags, func(b []byte) []byte {
			return append([]byte{255}, b...)
		}, h2sm.ErrCodeProtocol},
		{"only the pad length octet", flags, func([]byte) []byte { return []byte{0xff} }, h2sm.ErrCodeProtocol},
		{"padding overlaps the priority fields", flags | http2.FlagHeadersPriority, func([]byte) []byte {
			return append(append([]byte{3}, prio...), 0) // 7 octets: 3 of padding leave 3 for 5 priority octets
		}, h2sm.ErrCodeProtocol},
		// §4.2: a frame "too small to contain mandatory frame data" is a
		// FRAME_SIZE_ERROR.
		{"PADDED without the pad length octet", flags, func([]byte) []byte { return nil }, h2sm.ErrCodeFrameSize},
		{"PADDED and PRIORITY, 4 octets", flags | http2.FlagHeadersPriority, func([]byte) []byte {
			return []byte{0, 0, 0, 0}
		}, h2sm.ErrCodeFrameSize},
		{"PRIORITY, 4 octets", http2.FlagHeadersEndStream | http2.FlagHeadersEndHeaders | http2.FlagHeadersPriority,
			func([]byte) []byte { return []byte{0, 0, 0, 0} }, h2sm.ErrCodeFrameSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scGet(t, tc, 1, "/first")
			tc.WriteRawFrame(http2.FrameHeaders, tt.flags, 3, tt.payload(tc.EncodeHeaders(memory.GET("/"))))
			scWantConnError(t, tc, "HEADERS padding or length (§6.2, §4.2)", 1, tt.code)
		})
	}
}

func TestConnHeadersPriorityIgnored(t *testing.T) {
	tc := scPeer(t)
	tc.WriteHeaders(1, memory.GET("/a"), memory.EndStream, memory.Priority(0, 255, true))
	tc.WantEvent("priority fields are parsed and ignored", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/a", Fields: []h2sm.HeaderField{}})
	tc.WriteHeaders(3, memory.GET("/b"), memory.EndStream, memory.Priority(11, 0, false))
	tc.WantEvent("dependency on an idle stream is fine", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Path: "/b"})
	tc.WriteHeaders(5, memory.GET("/c"), memory.EndStream, memory.Priority(1, 15, true))
	tc.WantEvent("dependency on a closed stream is fine", h2sm.Event{Kind: h2sm.EventRequest, Stream: 5, EndStream: true, Path: "/c"})
	tc.WantIdle("no frame: priorities change nothing")
}

func TestConnHeadersSelfDependency(t *testing.T) {
	tc := scPeer(t)
	// The rejected block adds entries to both HPACK tables; the next block
	// refers to them, so it decodes only if the server decoded this one.
	first := memory.Request("GET", "/self", scField("x-trace", "abc123"), scField("x-long", strings.Repeat("v", 100)))
	tc.WriteHeaders(1, first, memory.EndStream, memory.Priority(1, 15, false))
	scWantMalformed(t, tc, "a stream cannot depend on itself (§5.3.1)", 1)
	tc.WriteHeaders(3, first, memory.EndStream)
	tc.WantEvent("HPACK stays in sync after the rejected block", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Path: "/self", Fields: first[4:],
	})
	tc.WriteHeaders(5, first, memory.Priority(5, 0, true), memory.SplitAt(2, 0, 5))
	scWantMalformed(t, tc, "self-dependency in a block split over CONTINUATIONs", 5)
	scWantUsable(t, tc, 7)
}

// scRequestBlock is a header block large enough to split in many places.
var scRequestBlock = memory.Request("GET", "/split/path", scField("user-agent", "h2sm-test/1.0"), scField("accept", "*/*"), scField("x-id", "0123456789"))

func TestConnHeadersContinuationSplitAnywhere(t *testing.T) {
	n := scBlockLen(scRequestBlock)
	for i := 0; i <= n; i++ {
		tc := scPeer(t)
		tc.WriteHeaders(1, scRequestBlock, memory.EndStream, memory.SplitAt(i))
		tc.WantEvent("HEADERS with "+strconv.Itoa(i)+" bytes, CONTINUATION with the rest", h2sm.Event{
			Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/split/path", Fields: scRequestBlock[4:],
		})
		tc.WantIdle("nothing else")
	}
}

// scBlockLen is the length of fields encoded by a fresh HPACK encoder, as
// the first block a Peer sends.
func scBlockLen(fields []h2sm.HeaderField) int {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive})
	}
	return buf.Len()
}

func TestConnHeadersContinuationEveryByte(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.MaxHeaderListSize = 1 << 20 // allows 129 CONTINUATIONs in a block
	}))
	sizes := make([]int, scBlockLen(scRequestBlock))
	for i := range sizes {
		sizes[i] = 1
	}
	tc.WriteHeaders(1, scRequestBlock, memory.EndStream, memory.SplitAt(sizes...))
	tc.WantEvent("one byte per frame", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/split/path", Fields: scRequestBlock[4:],
	})
	// Empty fragments anywhere, the HEADERS frame's included. A second
	// block on another stream uses the same (now indexed) fields.
	tc.WriteHeaders(3, scRequestBlock, memory.EndStream, memory.SplitAt(0, 0, 1, 0, 2, 0, 0))
	tc.WantEvent("empty fragments are harmless", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Path: "/split/path", Fields: scRequestBlock[4:],
	})
	tc.WriteHeaders(5, memory.POST("/up"), memory.SplitAt(0), memory.NoEndHeaders)
	tc.WantIdle("no event before END_HEADERS")
	tc.WriteContinuation(5, false, nil)
	tc.WriteContinuation(5, true, nil)
	tc.WantEvent("the block ends with an empty CONTINUATION", h2sm.Event{Kind: h2sm.EventRequest, Stream: 5, Method: "POST", Path: "/up"})
	tc.WantIdle("nothing else")
}

func TestConnHeadersContinuationViolations(t *testing.T) {
	tests := []struct {
		name string
		last h2sm.StreamID
		send func(tc *memory.Peer)
	}{
		{"CONTINUATION without HEADERS", 0, func(tc *memory.Peer) {
			tc.WriteContinuation(1, true, tc.EncodeHeaders(memory.GET("/")))
		}},
		{"CONTINUATION after END_HEADERS", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.POST("/"))
			tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1})
			tc.WriteContinuation(1, true, nil)
		}},
		{"CONTINUATION on another stream", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
			tc.WriteContinuation(3, true, nil)
		}},
		{"HEADERS on another stream inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
			tc.WriteHeaders(3, memory.GET("/"), memory.EndStream)
		}},
		{"HEADERS on the same stream inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.NoEndHeaders)
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
		}},
		{"DATA inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.POST("/"), memory.NoEndHeaders)
			tc.WriteData(1, []byte("x"), true)
		}},
		{"PRIORITY inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
			tc.WritePriority(1, 0, 15, false)
		}},
		{"PING inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
			tc.WritePing(false, [8]byte{1})
		}},
		{"SETTINGS inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
			tc.WriteSettings()
		}},
		{"unknown frame type inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
			tc.WriteRawFrame(0xfa, 0, 1, []byte("ignored elsewhere"))
		}},
		{"WINDOW_UPDATE on the connection inside a block", 1, func(tc *memory.Peer) {
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
			tc.WriteWindowUpdate(0, 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			tt.send(tc)
			scWantConnError(t, tc, "a header block is contiguous (§4.3, §6.10)", tt.last, h2sm.ErrCodeProtocol)
		})
	}
}

// scMatrixRow is one request of the §8 validation matrix.
type scMatrixRow struct {
	name   string
	fields []h2sm.HeaderField
	noEnd  bool // send without END_STREAM
	cfg    func(*h2sm.Config)
}

// scBase is the start of a well-formed GET: the regular fields follow.
func scBase(extra ...h2sm.HeaderField) []h2sm.HeaderField {
	return memory.Request("GET", "/", extra...)
}

var scMalformedRequests = []scMatrixRow{
	// §8.2: "field names MUST be converted to lowercase".
	{name: "uppercase name", fields: scBase(scField("X-Foo", "1"))},
	{name: "uppercase letter inside name", fields: scBase(scField("x-fOo", "1"))},
	// §8.2.1 field name characters.
	{name: "space in name", fields: scBase(scField("fo o", "1"))},
	{name: "NUL in name", fields: scBase(scField("fo\x00o", "1"))},
	{name: "colon inside name", fields: scBase(scField("a:b", "1"))},
	{name: "DEL in name", fields: scBase(scField("f\x7fo", "1"))},
	{name: "non-ASCII name", fields: scBase(scField("\xc3\xa9", "1"))},
	{name: "CTL in name", fields: scBase(scField("a\x01", "1"))},
	{name: "empty name", fields: scBase(scField("", ""))},
	{name: "empty name with value", fields: scBase(scField("", "v"))},
	// §8.2.1 field values.
	{name: "CRLF in value", fields: scBase(scField("x-a", "v\r\nx-injected: 1"))},
	{name: "LF in value", fields: scBase(scField("x-a", "v\nx"))},
	{name: "CR in value", fields: scBase(scField("x-a", "v\rx"))},
	{name: "NUL in value", fields: scBase(scField("x-a", "v\x00"))},
	{name: "leading space", fields: scBase(scField("x-a", " v"))},
	{name: "leading tab", fields: scBase(scField("x-a", "\tv"))},
	{name: "trailing space", fields: scBase(scField("x-a", "v "))},
	{name: "trailing tab", fields: scBase(scField("x-a", "v\t"))},
	{name: "only a space", fields: scBase(scField("x-a", " "))},
	// Stricter than §8.2.1 (documented in validate.go): other CTLs and DEL.
	{name: "CTL in value", fields: scBase(scField("x-a", "v\x01"))},
	{name: "ESC in value", fields: scBase(scField("x-a", "a\x1bb"))},
	{name: "DEL in value", fields: scBase(scField("x-a", "v\x7f"))},
	{name: "CTL in a long value", fields: scBase(scField("x-a", strings.Repeat("a", 37)+"\x02"+strings.Repeat("b", 20)))},
	// §8.2.2 connection-specific fields.
	{name: "connection", fields: scBase(scField("connection", "close"))},
	{name: "keep-alive", fields: scBase(scField("keep-alive", "1"))},
	{name: "proxy-connection", fields: scBase(scField("proxy-connection", "x"))},
	{name: "transfer-encoding", fields: scBase(scField("transfer-encoding", "chunked"))},
	{name: "upgrade", fields: scBase(scField("upgrade", "websocket"))},
	{name: "te gzip", fields: scBase(scField("te", "gzip"))},
	{name: "te trailers and deflate", fields: scBase(scField("te", "trailers, deflate"))},
	{name: "te Trailers", fields: scBase(scField("te", "Trailers"))},
	{name: "te empty", fields: scBase(scField("te", ""))},
	// §8.3 pseudo-header fields.
	{name: "pseudo after regular", fields: memory.Fields(":method", "GET", ":scheme", "https", "x-a", "1", ":path", "/")},
	{name: ":authority after regular", fields: memory.Fields(":method", "GET", ":scheme", "https", ":path", "/", "x-a", "1", ":authority", "example.com")},
	{name: "unknown pseudo", fields: memory.Request("GET", "/", scField(":foo", "x"))},
	{name: "unknown pseudo first", fields: append(memory.Fields(":foo", "x"), memory.GET("/")...)},
	{name: ":status in request", fields: append(memory.Fields(":status", "200"), memory.GET("/")...)},
	{name: "lone colon name", fields: append(memory.Fields(":", "x"), memory.GET("/")...)},
	{name: "missing :method", fields: memory.Fields(":scheme", "https", ":authority", "example.com", ":path", "/")},
	{name: "missing :scheme", fields: memory.Fields(":method", "GET", ":authority", "example.com", ":path", "/")},
	{name: "missing :path", fields: memory.Fields(":method", "GET", ":scheme", "https", ":authority", "example.com")},
	{name: "no pseudo-header at all", fields: memory.Fields("x-a", "1")},
	{name: "empty block", fields: []h2sm.HeaderField{}},
	{name: "duplicate :method", fields: append(memory.Fields(":method", "GET"), memory.GET("/")...)},
	{name: "duplicate :scheme", fields: append(memory.Fields(":scheme", "https"), memory.GET("/")...)},
	{name: "duplicate :path", fields: append(memory.Fields(":path", "/"), memory.GET("/")...)},
	{name: "duplicate :authority", fields: append(memory.Fields(":authority", "example.com"), memory.GET("/")...)},
	{name: "empty :method", fields: memory.Request("", "/")},
	{name: "invalid :method", fields: memory.Request("G(T", "/")},
	{name: "empty :scheme", fields: memory.Fields(":method", "GET", ":scheme", "", ":authority", "example.com", ":path", "/")},
	{name: "CR in :path", fields: memory.GET("/a\rb")},
	{name: "NUL in :authority", fields: memory.Fields(":method", "GET", ":scheme", "https", ":authority", "a\x00b", ":path", "/")},
	// §8.3.1 :path.
	{name: "empty :path", fields: memory.GET("")},
	{name: ":path without slash", fields: memory.GET("foo")},
	{name: ":path * with GET", fields: memory.GET("*")},
	{name: ":path *x with OPTIONS", fields: memory.Request("OPTIONS", "*x")},
	// §8.3.1 :authority.
	{name: "userinfo in :authority", fields: memory.Fields(":method", "GET", ":scheme", "https", ":authority", "user@host", ":path", "/")},
	{name: ":authority and host differ", fields: scBase(scField("host", "other.example"))},
	{name: "host repeated", fields: memory.Fields(":method", "GET", ":scheme", "https", ":path", "/", "host", "a", "host", "a")},
	// §8.5 CONNECT.
	{name: "CONNECT with :scheme", fields: memory.Fields(":method", "CONNECT", ":scheme", "https", ":authority", "example.com:443")},
	{name: "CONNECT with :path", fields: memory.Fields(":method", "CONNECT", ":authority", "example.com:443", ":path", "/")},
	{name: "CONNECT without :authority", fields: memory.Fields(":method", "CONNECT")},
	{name: "CONNECT with empty :authority", fields: memory.Fields(":method", "CONNECT", ":authority", "")},
	// RFC 8441 §4 extended CONNECT.
	{name: ":protocol without ENABLE_CONNECT_PROTOCOL", fields: memory.Fields(
		":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "example.com", ":path", "/chat")},
	{name: ":protocol on GET", fields: memory.Fields(
		":method", "GET", ":protocol", "websocket", ":scheme", "https", ":authority", "example.com", ":path", "/chat"),
		cfg: func(c *h2sm.Config) { c.EnableConnectProtocol = true }},
	{name: "extended CONNECT without :path", fields: memory.Fields(
		":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "example.com"),
		cfg: func(c *h2sm.Config) { c.EnableConnectProtocol = true }},
	{name: "duplicate :protocol", fields: memory.Fields(
		":method", "CONNECT", ":protocol", "websocket", ":protocol", "websocket", ":scheme", "https", ":authority", "example.com", ":path", "/"),
		cfg: func(c *h2sm.Config) { c.EnableConnectProtocol = true }},
	// §8.1.1 content-length.
	{name: "content-length +5", fields: scBase(scField("content-length", "+5")), noEnd: true},
	{name: "content-length -1", fields: scBase(scField("content-length", "-1")), noEnd: true},
	{name: "content-length 5,5", fields: scBase(scField("content-length", "5,5")), noEnd: true},
	{name: "content-length 5, 5", fields: scBase(scField("content-length", "5, 5")), noEnd: true},
	{name: "content-length 0x5", fields: scBase(scField("content-length", "0x5")), noEnd: true},
	{name: "content-length empty", fields: scBase(scField("content-length", "")), noEnd: true},
	{name: "content-length abc", fields: scBase(scField("content-length", "abc")), noEnd: true},
	{name: "content-length above 2^63-1", fields: scBase(scField("content-length", "9223372036854775808")), noEnd: true},
	{name: "content-length repeated", fields: scBase(scField("content-length", "5"), scField("content-length", "5")), noEnd: true},
	{name: "content-length with END_STREAM on HEADERS", fields: scBase(scField("content-length", "10"))},
}

func TestConnHeadersMalformedMatrix(t *testing.T) {
	for _, row := range scMalformedRequests {
		t.Run(row.name, func(t *testing.T) {
			var opts []memory.Option
			if row.cfg != nil {
				opts = append(opts, scConfig(row.cfg))
			}
			tc := scPeer(t, opts...)
			var hopts []memory.HeadersOption
			if !row.noEnd {
				hopts = append(hopts, memory.EndStream)
			}
			tc.WriteHeaders(1, row.fields, hopts...)
			scWantMalformed(t, tc, "malformed request (§8.1.1)", 1)
			if got := tc.Conn().Stats().StreamErrors; got != 1 {
				t.Errorf("Stats().StreamErrors = %d, want 1", got)
			}
			if row.noEnd {
				// The client may not have seen the RST_STREAM yet: its DATA is
				// dropped without another RST_STREAM (§5.1 closed).
				tc.WriteData(1, []byte("12345"), true)
				tc.WantIdle("DATA on the stream we reset is ignored")
			}
			scWantUsable(t, tc, 3)
		})
	}
}

func TestConnHeadersMalformedInContinuation(t *testing.T) {
	// The bad field sits in a CONTINUATION: the block is still decoded to the
	// end (HPACK sync) and then rejected.
	tc := scPeer(t)
	fields := scBase(scField("x-ok", "1"), scField("X-Bad", "1"), scField("x-more", "2"))
	tc.WriteHeaders(1, fields, memory.EndStream, memory.SplitAt(3, 4, 5))
	scWantMalformed(t, tc, "uppercase name in a CONTINUATION", 1)
	tc.WriteHeaders(3, fields[:5], memory.EndStream)
	tc.WantEvent("the next request decodes with the shared table", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Fields: fields[4:5],
	})
}

var scAcceptedRequests = []struct {
	name string
	row  scMatrixRow
	want h2sm.Event
}{
	{"obs-text in value", scMatrixRow{fields: scBase(scField("x-a", "v\x80\xff"))},
		h2sm.Event{Fields: memory.Fields("x-a", "v\x80\xff")}},
	{"UTF-8 in value", scMatrixRow{fields: scBase(scField("x-name", "Zoë"))},
		h2sm.Event{Fields: memory.Fields("x-name", "Zoë")}},
	{"HTAB inside value", scMatrixRow{fields: scBase(scField("x-a", "a\tb"))},
		h2sm.Event{Fields: memory.Fields("x-a", "a\tb")}},
	{"empty value", scMatrixRow{fields: scBase(scField("x-a", ""))},
		h2sm.Event{Fields: memory.Fields("x-a", "")}},
	{"token characters in name", scMatrixRow{fields: scBase(scField("x!#$%&'*+-.^_`|~09", "1"))},
		h2sm.Event{Fields: memory.Fields("x!#$%&'*+-.^_`|~09", "1")}},
	{"te trailers", scMatrixRow{fields: scBase(scField("te", "trailers"))},
		h2sm.Event{Fields: memory.Fields("te", "trailers")}},
	{"OPTIONS *", scMatrixRow{fields: memory.Request("OPTIONS", "*")},
		h2sm.Event{Method: "OPTIONS", Path: "*"}},
	{"lowercase method token", scMatrixRow{fields: memory.Request("patch", "/")},
		h2sm.Event{Method: "patch"}},
	{"CONNECT", scMatrixRow{fields: memory.Fields(":method", "CONNECT", ":authority", "example.com:443"), noEnd: true},
		h2sm.Event{Method: "CONNECT", Authority: "example.com:443"}},
	{"extended CONNECT", scMatrixRow{
		fields: memory.Fields(":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "example.com", ":path", "/chat"),
		noEnd:  true, cfg: func(c *h2sm.Config) { c.EnableConnectProtocol = true }},
		h2sm.Event{Method: "CONNECT", Protocol: "websocket", Scheme: "https", Authority: "example.com", Path: "/chat"}},
	{"content-length 0", scMatrixRow{fields: scBase(scField("content-length", "0"))},
		h2sm.Event{Fields: memory.Fields("content-length", "0")}},
	{"content-length with leading zeros", scMatrixRow{fields: scBase(scField("content-length", "007")), noEnd: true},
		h2sm.Event{ContentLength: 7}},
	{"http scheme", scMatrixRow{fields: memory.Fields(":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/")},
		h2sm.Event{Scheme: "http"}},
	{"absolute :path with query", scMatrixRow{fields: memory.GET("/a?b=%20c#d")},
		h2sm.Event{Path: "/a?b=%20c#d"}},
}

func TestConnHeadersAcceptedMatrix(t *testing.T) {
	for _, tt := range scAcceptedRequests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []memory.Option
			if tt.row.cfg != nil {
				opts = append(opts, scConfig(tt.row.cfg))
			}
			tc := scPeer(t, opts...)
			var hopts []memory.HeadersOption
			if !tt.row.noEnd {
				hopts = append(hopts, memory.EndStream)
			}
			tc.WriteHeaders(1, tt.row.fields, hopts...)
			want := tt.want
			want.Kind, want.Stream, want.EndStream = h2sm.EventRequest, 1, !tt.row.noEnd
			ev := tc.WantEvent("a well-formed request reaches the application", want)
			if tt.name == "CONNECT" && (ev.Scheme != "" || ev.Path != "") {
				t.Errorf("CONNECT event has Scheme %q, Path %q; want both empty", ev.Scheme, ev.Path)
			}
			tc.WantIdle("no RST_STREAM for a well-formed request")
		})
	}
}

func TestConnHeadersSecondHeadersWithoutEndStream(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1)
	tc.WriteHeaders(1, memory.Fields("x-trailer", "1"))
	scWantStreamReset(t, tc, "a second HEADERS without END_STREAM is malformed (§8.1)", 1, h2sm.ErrCodeProtocol)
	tc.WantIdle("nothing else")
	scWantUsable(t, tc, 3)
}

func TestConnHeadersTrailers(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1, scField("te", "trailers"))
	tc.WriteData(1, []byte("body"), false)
	tc.WantEvent("body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("body")})
	trailers := memory.Fields("x-checksum", "abc", "x-count", "1")
	tc.WriteHeaders(1, trailers, memory.EndStream, memory.SplitAt(2))
	tc.WantEvent("trailers arrive as EventTrailers", h2sm.Event{
		Kind: h2sm.EventTrailers, Stream: 1, EndStream: true, Fields: trailers,
	})
	tc.Respond(1, 200, true)
	tc.WantFrame("the stream can be answered", memory.Headers{Stream: 1, EndStream: true})
	tc.WantIdle("nothing else")
	if got := tc.Conn().Stats().ActiveStreams; got != 0 {
		t.Errorf("ActiveStreams = %d after trailers and response, want 0", got)
	}

	// Trailers after the response ended the stream on our side close it.
	scPost(t, tc, 3)
	tc.Respond(3, 200, true)
	tc.WantFrame("response first", memory.Headers{Stream: 3, EndStream: true})
	tc.WriteHeaders(3, memory.Fields("x-late", "1"), memory.EndStream)
	tc.WantEvent("trailers in half-closed (local)", h2sm.Event{
		Kind: h2sm.EventTrailers, Stream: 3, EndStream: true, Fields: memory.Fields("x-late", "1"),
	})
	if got := tc.Conn().Stats().ActiveStreams; got != 0 {
		t.Errorf("ActiveStreams = %d, want 0", got)
	}
	tc.WantIdle("nothing else")
}

func TestConnHeadersBadTrailers(t *testing.T) {
	tests := []struct {
		name   string
		fields []h2sm.HeaderField
	}{
		{"pseudo-header in trailers", memory.Fields(":path", "/")},
		{"pseudo-header after a trailer", memory.Fields("x-a", "1", ":method", "GET")},
		{"uppercase trailer name", memory.Fields("X-A", "1")},
		{"connection-specific trailer", memory.Fields("connection", "close")},
		{"CR in trailer value", memory.Fields("x-a", "1\r2")},
		{"content-length in trailers, bad syntax", memory.Fields("content-length", "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scPost(t, tc, 1)
			tc.WriteHeaders(1, tt.fields, memory.EndStream)
			scWantStreamReset(t, tc, "malformed trailers (§8.1, §8.3)", 1, h2sm.ErrCodeProtocol)
			tc.WantIdle("no trailers event")
			scWantUsable(t, tc, 3)
		})
	}
}

func TestConnHeadersHPACKErrors(t *testing.T) {
	tests := []struct {
		name  string
		block []byte
	}{
		{"index past the tables", []byte{0xc5}},                           // index 69; the dynamic table holds 2 entries
		{"large index", []byte{0xff, 0xff, 0x7f}},                         // index 127+16383
		{"index 0", []byte{0x80}},                                         // RFC 7541 §6.1
		{"literal with a name index past the tables", []byte{0x7f, 0x20}}, // name index 63+32
		{"size update above HeaderTableSize", []byte{0x3f, 0xe1, 0x3f}},
		{"size update after a field", []byte{0x82, 0x3f, 0x00}},
		{"truncated literal", []byte{0x40, 0x05, 'a'}},
		{"truncated integer", []byte{0xff}},
		{"string length past the block", []byte{0x00, 0x01, 'a', 0x7f}},
		{"Huffman EOS", []byte{0x00, 0x81, 0xff, 0x00}},
		{"varint overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scGet(t, tc, 1, "/ok")
			tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 3, tt.block)
			scWantConnError(t, tc, "HPACK decoding error (§4.3, RFC 7541 §2.2)", 3, h2sm.ErrCodeCompression)
		})
	}
}

func TestConnHeadersHPACKErrorInDiscardedBlock(t *testing.T) {
	// A block the server only decodes to stay in sync (a refused stream)
	// still fails the connection when it does not decode.
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxConcurrentStreams = 1 }))
	tc.WriteHeaders(1, memory.GET("/"))
	tc.WantEvent("first request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1})
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 3, []byte{0x80})
	scWantConnError(t, tc, "HPACK error in a refused stream's block", 3, h2sm.ErrCodeCompression)
}

func TestConnHeadersHeaderListTooLarge(t *testing.T) {
	cfg := scConfig(func(c *h2sm.Config) { c.MaxHeaderListSize = 1024 })
	t.Run("with END_STREAM", func(t *testing.T) {
		tc := scPeer(t, cfg)
		tc.WriteHeaders(1, scBase(scField("x-big", strings.Repeat("a", 1100))), memory.EndStream)
		tc.WantFrame("431 for a header list over SETTINGS_MAX_HEADER_LIST_SIZE (§10.5.1)", memory.Headers{
			Stream: 1, EndStream: true, Fields: memory.Fields(":status", "431"),
		})
		tc.WantIdle("no request event, no RST_STREAM: the stream ended both ways")
		scWantUsable(t, tc, 3)
	})
	t.Run("without END_STREAM", func(t *testing.T) {
		tc := scPeer(t, cfg)
		tc.WriteHeaders(1, scBase(scField("x-big", strings.Repeat("a", 1100))))
		tc.WantFrame("431 response", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields(":status", "431")})
		tc.WantFrame("the client is asked to stop sending (§8.1)", memory.RSTStream{Stream: 1, Code: h2sm.ErrCodeNo})
		tc.WantIdle("no request event")
		tc.WriteData(1, []byte("late body"), true)
		tc.WantIdle("body sent before the client saw the RST_STREAM is ignored")
		scWantUsable(t, tc, 3)
	})
	t.Run("in CONTINUATIONs", func(t *testing.T) {
		tc := scPeer(t, cfg)
		fields := scBase()
		for i := 0; i < 12; i++ {
			fields = append(fields, scField("x-f"+strconv.Itoa(i), strings.Repeat("b", 60)))
		}
		tc.WriteHeaders(1, fields, memory.EndStream, memory.SplitAt(100, 100, 100))
		tc.WantFrame("431 response", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields(":status", "431")})
		tc.WantIdle("no request event")
		scWantUsable(t, tc, 3)
	})
	t.Run("exactly at the limit", func(t *testing.T) {
		tc := scPeer(t, cfg)
		// GET's pseudo-headers: 7+3+32 + 7+5+32 + 10+11+32 + 5+1+32 = 177.
		value := strings.Repeat("c", 1024-177-32-5)
		tc.WriteHeaders(1, scBase(scField("x-big", value)), memory.EndStream)
		tc.WantEvent("a list of exactly MaxHeaderListSize is accepted", h2sm.Event{
			Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Fields: memory.Fields("x-big", value),
		})
		tc.WriteHeaders(3, scBase(scField("x-big", value+"c")), memory.EndStream)
		tc.WantFrame("one byte more gets 431", memory.Headers{Stream: 3, EndStream: true, Fields: memory.Fields(":status", "431")})
		tc.WantIdle("nothing else")
	})
}

func TestConnHeadersTooManyFields(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxHeaderFields = 3 }))
	tc.WriteHeaders(1, scBase(scField("a", "1"), scField("b", "2"), scField("c", "3")), memory.EndStream)
	tc.WantEvent("MaxHeaderFields regular fields are accepted", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Fields: memory.Fields("a", "1", "b", "2", "c", "3"),
	})
	tc.WriteHeaders(3, scBase(scField("a", "1"), scField("b", "2"), scField("c", "3"), scField("d", "4")), memory.EndStream)
	tc.WantFrame("one field more gets 431", memory.Headers{Stream: 3, EndStream: true, Fields: memory.Fields(":status", "431")})
	tc.WantIdle("no request event")
	scWantUsable(t, tc, 5)
}

func TestConnHeadersHeaderListFarTooLarge(t *testing.T) {
	t.Run("literal fields", func(t *testing.T) {
		tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxHeaderListSize = 1024 }))
		scGet(t, tc, 1, "/ok")
		fields := scBase()
		for i := 0; i < 5; i++ {
			fields = append(fields, scField("x-big"+strconv.Itoa(i), strings.Repeat("d", 1000)))
		}
		tc.WriteHeaders(3, fields, memory.EndStream)
		scWantConnError(t, tc, "decoded list over 4×MaxHeaderListSize", 3, h2sm.ErrCodeEnhanceYourCalm)
	})
	t.Run("HPACK bomb", func(t *testing.T) {
		// One 4000-byte entry in the dynamic table, then a block of one-byte
		// references to it: 100 bytes that decode to ~400 KB (CVE-2016-6581).
		tc := scPeer(t)
		entry := scField("x-bomb", strings.Repeat("e", 4000))
		tc.WriteHeaders(1, scBase(entry), memory.EndStream)
		tc.WantEvent("the entry goes into the table", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
		block := tc.EncodeHeaders(scBase())
		for i := 0; i < 100; i++ {
			block = append(block, 0xbe) // index 62: the newest dynamic entry
		}
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 3, block)
		scWantConnError(t, tc, "HPACK bomb", 3, h2sm.ErrCodeEnhanceYourCalm)
	})
}

func TestConnHeadersTooManyContinuations(t *testing.T) {
	tc := scPeer(t)
	// Default limits: max(16, 2×65536/16384+1) = 16 CONTINUATIONs per block.
	block := tc.EncodeHeaders(scRequestBlock)
	if len(block) < 18 {
		t.Fatalf("block is %d bytes, want at least 18", len(block))
	}
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:1])
	for i := 1; i <= 16; i++ {
		tc.WriteContinuation(1, false, block[i:i+1])
	}
	tc.WantIdle("16 CONTINUATIONs are allowed")
	tc.WriteContinuation(1, false, block[17:18])
	scWantConnError(t, tc, "the 17th CONTINUATION (CVE-2023-45288)", 1, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnHeadersTooManyContinuationsEndHeaders(t *testing.T) {
	// The 17th CONTINUATION is refused even when it would end the block.
	tc := scPeer(t)
	block := tc.EncodeHeaders(scRequestBlock)
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:1])
	for i := 1; i <= 16; i++ {
		tc.WriteContinuation(1, false, block[i:i+1])
	}
	tc.WriteContinuation(1, true, block[17:])
	scWantConnError(t, tc, "the 17th CONTINUATION", 1, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnHeadersEmptyContinuations(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxEmptyFrames = 3 }))
	block := tc.EncodeHeaders(memory.GET("/"))
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block)
	for i := 0; i < 3; i++ {
		tc.WriteContinuation(1, false, nil)
	}
	tc.WantIdle("MaxEmptyFrames empty CONTINUATIONs are allowed")
	tc.WriteContinuation(1, false, nil)
	scWantConnError(t, tc, "too many empty CONTINUATIONs (CVE-2019-9518)", 1, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnHeadersEmptyContinuationsAcrossBlocks(t *testing.T) {
	// The budget is per connection, not per block.
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxEmptyFrames = 4 }))
	for id := h2sm.StreamID(1); id <= 3; id += 2 {
		tc.WriteHeaders(id, memory.GET("/"), memory.EndStream, memory.SplitAt(0, 0, 0), memory.NoEndHeaders)
		// SplitAt(0,0,0) sends HEADERS (empty), two empty CONTINUATIONs and
		// one with the block; NoEndHeaders leaves the block open.
		tc.WriteContinuation(id, true, nil)
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
	}
	tc.WriteHeaders(5, memory.GET("/"), memory.EndStream, memory.SplitAt(0, 0), memory.NoEndHeaders)
	scWantConnError(t, tc, "the fifth empty CONTINUATION on the connection", 5, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnHeadersFieldTooLongForDecoder(t *testing.T) {
	// One string longer than 2×MaxHeaderListSize is refused while decoding.
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxHeaderListSize = 1024 }))
	tc.WriteHeaders(1, scBase(scField("x-huge", strings.Repeat("\xff", 2100))), memory.EndStream)
	scWantConnError(t, tc, "a field string over the decoder's limit", 1, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnHeadersByteAtATime(t *testing.T) {
	// A request, its body and its trailers, handed to the Conn one octet per
	// Receive: frames and header blocks are reassembled across inputs.
	tc := scPeer(t)
	fields := memory.Request("POST", "/bytes", scField("content-type", "text/plain"), scField("x-id", "42"))
	trailers := memory.Fields("x-checksum", "c0ffee")
	block := tc.EncodeHeaders(fields)
	var wire bytes.Buffer
	fr := http2.NewFramer(&wire, nil)
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:5], PadLength: 3})
	_ = fr.WriteContinuation(1, false, block[5:9])
	_ = fr.WriteContinuation(1, true, block[9:])
	_ = fr.WriteData(1, false, []byte("body"))
	tblock := tc.EncodeHeaders(trailers)
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tblock[:2], EndStream: true})
	_ = fr.WriteContinuation(1, true, tblock[2:])
	for _, b := range wire.Bytes() {
		tc.WriteRaw([]byte{b})
	}
	tc.WantEvent("the request, reassembled", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, Method: "POST", Path: "/bytes", Fields: fields[4:],
	})
	tc.WantEvent("the body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("body")})
	tc.WantEvent("the trailers", h2sm.Event{Kind: h2sm.EventTrailers, Stream: 1, EndStream: true, Fields: trailers})
	tc.WantIdle("nothing else")
}

func TestConnHeadersTrailersAcrossInputs(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1)
	trailers := memory.Fields("x-a", "1", "x-b", "2", "x-c", "3")
	block := tc.EncodeHeaders(trailers)
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:4])
	tc.WantIdle("no event before END_HEADERS")
	tc.WriteContinuation(1, false, block[4:8])
	tc.WriteContinuation(1, true, block[8:])
	tc.WantEvent("every trailer field, decoded over three inputs", h2sm.Event{
		Kind: h2sm.EventTrailers, Stream: 1, EndStream: true, Fields: trailers,
	})
}

func TestConnHeadersTrailersTooLarge(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxHeaderListSize = 1024 }))
	scPost(t, tc, 1)
	tc.WriteHeaders(1, memory.Fields("x-big", strings.Repeat("t", 1100)), memory.EndStream)
	// A 431 cannot follow a request that was already delivered: the stream
	// is reset instead.
	scWantStreamReset(t, tc, "trailers over MaxHeaderListSize", 1, h2sm.ErrCodeEnhanceYourCalm)
	tc.WantIdle("no trailers event")
	scWantUsable(t, tc, 3)
}

func TestConnHeadersDecoderTableLimit(t *testing.T) {
	tc := memory.NewPeer(t, scConfig(func(c *h2sm.Config) { c.HeaderTableSize = 256 }))
	tc.Preface()
	tc.WriteSettings()
	tc.Discard() // the server's SETTINGS (HEADER_TABLE_SIZE=256), WINDOW_UPDATE and ACK
	// A request with a size update to 4096 (the RFC's initial size) and
	// literal fields, built by hand so the client's encoder is not involved.
	request := func(update []byte) []byte {
		b := append([]byte{}, update...)
		b = append(b, 0x82, 0x87, 0x84, 0x01, 11) // :method GET, :scheme https, :path /, :authority (not indexed)
		return append(b, "example.com"...)
	}
	update4096 := []byte{0x3f, 0xe1, 0x1f}
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, request(update4096))
	tc.WantEvent("before our SETTINGS are acknowledged, the old limit (4096) holds (RFC 7541 §4.2)", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Method: "GET", Authority: "example.com", Path: "/",
	})
	tc.WriteSettingsAck()
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 3, request([]byte{0x3f, 0xe1, 0x01})) // 256
	tc.WantEvent("a size update to the new limit", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true})
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 5, request(update4096))
	scWantConnError(t, tc, "a size update above SETTINGS_HEADER_TABLE_SIZE once acknowledged", 5, h2sm.ErrCodeCompression)
}

func TestConnHeadersEncodedBlockTooLarge(t *testing.T) {
	// A block of many literal fields, each small enough to pass, whose
	// encoded size alone passes 2×MaxHeaderListSize + MaxFrameSize: the
	// block is refused before its decoded size reaches 4×MaxHeaderListSize.
	tc := scPeer(t)
	fields := scBase()
	for i := 0; i < 160; i++ {
		fields = append(fields, scField("x-f"+strconv.Itoa(i), strings.Repeat("~", 1000)))
	}
	tc.WriteHeaders(1, fields, memory.EndStream)
	scWantConnError(t, tc, "an encoded block of 160 kB (CONTINUATION flood by bytes)", 1, h2sm.ErrCodeEnhanceYourCalm)
}
