package h2sm

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzHeaderValidation sends, after a handshake, a GET carrying one extra
// header field (name, value) and compares the Conn's verdict with refField,
// an independent reading of RFC 9113 §8.2, §8.2.1 and §8.2.2 (strict: no
// CTL or DEL in values) written here without looking at validate.go: a valid
// field gives an EventRequest carrying it and no RST_STREAM; an invalid one
// gives RST_STREAM PROTOCOL_ERROR on stream 1, no EventRequest, and the
// connection stays open.
func FuzzHeaderValidation(f *testing.F) {
	for _, s := range headerValidationSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		if len(name)+len(value) > 8<<10 {
			t.Skip("beyond the header-list budget: a 431, not a validation question")
		}
		wantValid := refField(name, value)
		d := newConnDriver(t, Config{})
		d.handshake()
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		fields := []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "example.com", name, value}
		d.receive(wireHeaders(1, hpackBlock(enc, &buf, fields...), true, 16384))
		frames := d.frames()
		goAways, rsts := frameErrors(frames)
		var req *Event
		for i := range d.events {
			if d.events[i].Kind == EventRequest {
				req = &d.events[i]
			}
		}
		if d.c.Closed() || len(goAways) != 0 {
			t.Fatalf("field %q: %q: connection closed: %v\n%s", name, value, goAways, d.trace())
		}
		if wantValid {
			if req == nil || len(rsts) != 0 {
				t.Fatalf("field %q: %q is valid per RFC 9113 §8.2, but got request=%v resets=%v\n%s", name, value, req != nil, rsts, d.trace())
			}
			found := false
			for _, hf := range req.Fields {
				if hf.Name == name && hf.Value == value {
					found = true
				}
			}
			if !found && name != "host" { // host may be folded into Authority
				t.Fatalf("field %q: %q accepted but missing from Fields %v", name, value, req.Fields)
			}
		} else {
			if req != nil {
				t.Fatalf("field %q: %q is invalid per RFC 9113 §8.2, but reached the application: %+v", name, value, *req)
			}
			if len(rsts) != 1 || rsts[0].Stream != 1 || rsts[0].Code != http2.ErrCodeProtocol {
				t.Fatalf("field %q: %q: resets %v, want one RST_STREAM stream=1 PROTOCOL_ERROR\n%s", name, value, rsts, d.trace())
			}
		}
		d.finish()
	})
}

// refTchar is RFC 9110 §5.6.2's tchar.
func refTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// refField is the reference verdict on one regular field of a GET with
// END_STREAM whose :authority is example.com.
func refField(name, value string) bool {
	// §8.2: names are lowercase; §8.2.1: a name is a non-empty token
	// (this also rules out pseudo-header names here: the four request
	// pseudo-headers are already present and a ':' is not a tchar).
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !refTchar(c) || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	// §8.2.1: no NUL, CR, LF; no leading or trailing SP/HTAB; strict: no
	// other CTL (HTAB inside is allowed) and no DEL. obs-text is allowed.
	for i := 0; i < len(value); i++ {
		c := value[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	if value != "" {
		if first := value[0]; first == ' ' || first == '\t' {
			return false
		}
		if last := value[len(value)-1]; last == ' ' || last == '\t' {
			return false
		}
	}
	// §8.2.2: connection-specific fields; te only "trailers".
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return false
	case "te":
		return value == "trailers"
	case "content-length":
		// §8.1.1: digits only; with END_STREAM on HEADERS it must be 0.
		if value == "" {
			return false
		}
		for i := 0; i < len(value); i++ {
			if value[i] != '0' {
				return false
			}
		}
	case "host":
		// §8.3.1: host and :authority must agree.
		return value == "example.com"
	}
	return true
}

// headerValidationSeeds is the §8 matrix of TestConnRequestValidation and
// research/attacks.md §4, plus accepted neighbours.
var headerValidationSeeds = [][2]string{
	{"x-foo", "1"}, {"X-Foo", "1"}, {"fo o", "1"}, {"fo\x00o", "1"}, {"a:b", "1"},
	{"f\x7fo", "1"}, {"\xc3\xa9", "1"}, {"", "1"}, {"x", "v\r\nx-injected: 1"},
	{"x", "v\nx"}, {"x", "v\rx"}, {"x", "v\x00"}, {"x", " v"}, {"x", "v "}, {"x", "\tv"}, {"x", "v\t"},
	{"x", "v\x01"}, {"x", "v\x7f"}, {"x", "v\x80"}, {"x", "caf\xc3\xa9"}, {"x", "a\tb"}, {"x", "a b"}, {"x", ""},
	{"connection", "close"}, {"keep-alive", "1"}, {"proxy-connection", "x"},
	{"transfer-encoding", "chunked"}, {"upgrade", "websocket"}, {"te", "gzip"},
	{"te", "trailers, deflate"}, {"TE", "trailers"}, {"te", "trailers"}, {"te", "Trailers"}, {"te", ""},
	{"content-length", "0"}, {"content-length", "00"}, {"content-length", "10"}, {"content-length", "+5"},
	{"content-length", "-1"}, {"content-length", "5,5"}, {"content-length", "0x5"}, {"content-length", ""},
	{"content-length", " 0"}, {":foo", "x"}, {":path", "/a"}, {":authority", "example.com"}, {":protocol", "websocket"},
	{"host", "example.com"}, {"host", "other.example"}, {"cookie", "a=b"}, {"!#$%&'*+-.^_`|~", "1"},
}
