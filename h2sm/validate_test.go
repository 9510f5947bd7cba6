package h2sm

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// isTchar reports whether b is an RFC 9110 token character.
func isTchar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

func TestValidName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"x-foo", true},
		{"content-length", true},
		{"!#$%&'*+-.^_`|~09az", true},
		{"a", true},
		{"", false},         // §8.2.1 (an empty name is not a token)
		{"X-Foo", false},    // §8.2 "field names MUST be converted to lowercase"
		{"fo o", false},     // §8.2.1 0x20
		{"fo\x00o", false},  // §8.2.1 0x00
		{"a:b", false},      // ':' only starts pseudo-header names
		{":path", false},    // pseudo-headers are handled before validName
		{"f\x7fo", false},   // §8.2.1 0x7f
		{"\xc3\xa9", false}, // é, §8.2.1 0x80-0xff
		{"a\tb", false},
		{"a\"b", false},
		{"(x)", false},
	}
	for _, tt := range tests {
		if got := validName(tt.in); got != tt.want {
			t.Errorf("validName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	// Every single byte: lowercase tchars only.
	for b := 0; b < 256; b++ {
		want := isTchar(byte(b)) && !(b >= 'A' && b <= 'Z')
		if got := validName(string([]byte{byte(b)})); got != want {
			t.Errorf("validName(%q) = %v, want %v", []byte{byte(b)}, got, want)
		}
	}
}

func TestValidMethod(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"GET", true}, {"get", true}, {"M-SEARCH", true}, {"PROPFIND", true}, {"X_Y.Z~", true},
		{"", false}, {"GE T", false}, {"GET\x00", false}, {"GET/", false}, {"G\xc3\xa9T", false}, {"(GET)", false},
	}
	for _, tt := range tests {
		if got := validMethod(tt.in); got != tt.want {
			t.Errorf("validMethod(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for b := 0; b < 256; b++ {
		if got, want := validMethod(string([]byte{byte(b)})), isTchar(byte(b)); got != want {
			t.Errorf("validMethod(%q) = %v, want %v", []byte{byte(b)}, got, want)
		}
	}
}

// refValidValue is the plain-loop definition validValue must match: §8.2.1
// (no NUL, CR, LF; no leading or trailing SP or HTAB), plus the documented
// stricter rule for other control bytes and DEL; obs-text is allowed.
func refValidValue(s string) bool {
	if s == "" {
		return true
	}
	if strings.IndexByte(" \t", s[0]) >= 0 || strings.IndexByte(" \t", s[len(s)-1]) >= 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func TestValidValue(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"v", true},
		{"text/html; charset=utf-8", true},
		{"a\tb", true},                  // HTAB inside is allowed
		{"a b", true},                   // SP inside is allowed
		{"v\x80", true},                 // obs-text (attacks.md §4: accept)
		{"\xc3\xa9t\xc3\xa9", true},     // UTF-8
		{"v\r\nx-injected: 1", false},   // §8.2.1 CR LF
		{"v\nx", false},                 // §8.2.1 LF
		{"v\rx", false},                 // §8.2.1 CR
		{"v\x00", false},                // §8.2.1 NUL
		{" v", false},                   // §8.2.1 leading SP
		{"v ", false},                   // §8.2.1 trailing SP
		{"\tv", false},                  // §8.2.1 leading HTAB
		{"v\t", false},                  // §8.2.1 trailing HTAB
		{" ", false},                    // both
		{"v\x01", false},                // stricter than §8.2.1 (documented)
		{"v\x7f", false},                // DEL, stricter than §8.2.1
		{"0123456789abcdef\x7f", false}, // past the 8-byte fast path
		{"0123456\x1f89abcdef", false},  // inside the fast path
		{"01234567\t9abcdef", true},     // HTAB inside a fast-path word
	}
	for _, tt := range tests {
		if got := validValue(tt.in); got != tt.want {
			t.Errorf("validValue(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestValidValueWordAtATime compares the eight-bytes-at-a-time validValue
// with the plain loop: every byte value at every position of values up to
// 24 bytes long, and pairs of edge bytes in a 17-byte value.
func TestValidValueWordAtATime(t *testing.T) {
	for n := 1; n <= 24; n++ {
		base := bytes.Repeat([]byte{'a'}, n)
		for pos := 0; pos < n; pos++ {
			for b := 0; b < 256; b++ {
				s := bytes.Clone(base)
				s[pos] = byte(b)
				if got, want := validValue(string(s)), refValidValue(string(s)); got != want {
					t.Fatalf("validValue(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	edge := []byte{0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xfe, 0xff}
	base := bytes.Repeat([]byte{'x'}, 17)
	for i := range base {
		for j := range base {
			for _, a := range edge {
				for _, b := range edge {
					s := bytes.Clone(base)
					s[i], s[j] = a, b
					if got, want := validValue(string(s)), refValidValue(string(s)); got != want {
						t.Fatalf("validValue(%q) = %v, want %v", s, got, want)
					}
				}
			}
		}
	}
}

func TestParseContentLength(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"5", 5, true},
		{"007", 7, true}, // 1*DIGIT (RFC 9110 §8.6) allows leading zeros
		{"123456789012345678", 123456789012345678, true},
		{"1234567890123456789", 1234567890123456789, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false}, // does not fit int64
		{"0000000000000000000000007", 7, true},
		{"", 0, false},
		{"+5", 0, false},
		{"-1", 0, false},
		{"5,5", 0, false},
		{"5, 5", 0, false},
		{"0x5", 0, false},
		{" 5", 0, false},
		{"5 ", 0, false},
		{"5\x00", 0, false},
		{"١", 0, false}, // Arabic-Indic digit one
	}
	for _, tt := range tests {
		got, ok := parseContentLength(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("parseContentLength(%q) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidStatus(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"100", true}, {"101", true}, {"200", true}, {"204", true}, {"431", true}, {"599", true},
		{"099", false}, {"000", false}, {"600", false}, {"20", false}, {"2000", false},
		{"20a", false}, {"-20", false}, {"", false}, {" 200", false}, {"２００", false},
	}
	for _, tt := range tests {
		if got := validStatus(tt.in); got != tt.want {
			t.Errorf("validStatus(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestConnectionSpecific(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		// §8.2.2: "Connection, Proxy-Connection, Keep-Alive, Transfer-Encoding, and Upgrade"
		{"connection", true}, {"keep-alive", true}, {"proxy-connection", true},
		{"transfer-encoding", true}, {"upgrade", true},
		{"te", false}, // TE is allowed in requests with "trailers" only, checked separately
		{"content-length", false}, {"host", false}, {"upgrade-insecure-requests", false}, {"", false},
	}
	for _, tt := range tests {
		if got := connectionSpecific(tt.in); got != tt.want {
			t.Errorf("connectionSpecific(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidResponseFields(t *testing.T) {
	hf := func(nv ...string) []HeaderField {
		var out []HeaderField
		for i := 0; i+1 < len(nv); i += 2 {
			out = append(out, HeaderField{Name: nv[i], Value: nv[i+1]})
		}
		return out
	}
	tests := []struct {
		name       string
		fields     []HeaderField
		trailers   bool
		wantStatus string
		wantOK     bool
	}{
		{"status only", hf(":status", "200"), false, "200", true},
		{"status and fields", hf(":status", "404", "content-type", "text/plain", "x-empty", ""), false, "404", true},
		{"informational", hf(":status", "103", "link", "</a>"), false, "103", true},
		{"no fields", nil, false, "", false},
		{"no status", hf("content-type", "text/plain"), false, "", false},
		{"status not first", hf("x", "1", ":status", "200"), false, "", false},
		{"status twice", hf(":status", "200", ":status", "200"), false, "", false},
		{"request pseudo-header", hf(":status", "200", ":path", "/"), false, "", false},
		{"only a request pseudo-header", hf(":path", "/"), false, "", false},
		{"bad status", hf(":status", "2000"), false, "", false},
		{"uppercase name", hf(":status", "200", "Content-Type", "x"), false, "", false},
		{"connection", hf(":status", "200", "connection", "close"), false, "", false},
		{"keep-alive", hf(":status", "200", "keep-alive", "1"), false, "", false},
		{"transfer-encoding", hf(":status", "200", "transfer-encoding", "chunked"), false, "", false},
		{"upgrade", hf(":status", "200", "upgrade", "h2c"), false, "", false},
		{"proxy-connection", hf(":status", "200", "proxy-connection", "x"), false, "", false},
		{"te in a response", hf(":status", "200", "te", "trailers"), false, "", false},
		{"CRLF in a value", hf(":status", "200", "x", "a\r\nb: c"), false, "", false},
		{"trailing space", hf(":status", "200", "x", "a "), false, "", false},
		{"trailers", hf("grpc-status", "0", "grpc-message", "ok"), true, "", true},
		{"empty trailers", nil, true, "", true},
		{"status in trailers", hf(":status", "200"), true, "", false},
		{"bad trailer name", hf("Grpc-Status", "0"), true, "", false},
	}
	for _, tt := range tests {
		status, reason := validResponseFields(tt.fields, tt.trailers)
		if (reason == "") != tt.wantOK || status != tt.wantStatus {
			t.Errorf("%s: validResponseFields(%v, %v) = %q, %q, want %q, ok=%v", tt.name, tt.fields, tt.trailers, status, reason, tt.wantStatus, tt.wantOK)
		}
	}
}

// TestConnRequestValidation is the RFC 9113 §8 matrix of
// research/attacks.md §4, one vector per row, through a Conn. A malformed
// request is answered with RST_STREAM and never reaches the application
// (or, when it already did, ends with EventStreamReset); the connection
// stays open; each costs a stream-error token.
func TestConnRequestValidation(t *testing.T) {
	base := []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "example.com"}
	with := func(extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	type step struct {
		fields []string // a header block, or nil
		data   string   // with fields == nil: a DATA frame
		end    bool
	}
	hdrs := func(end bool, nv ...string) step { return step{fields: nv, end: end} }
	data := func(s string, end bool) step { return step{data: s, end: end} }
	const (
		rejected  = iota // RST_STREAM before any event
		resetLate        // EventRequest, then RST_STREAM and EventStreamReset
		accepted
	)
	tests := []struct {
		rule      string
		steps     []step
		outcome   int
		code      ErrCode // RST_STREAM code
		authority string  // accepted: the EventRequest's Authority
		cfg       func(*Config)
	}{
		{rule: "control: a valid GET", steps: []step{hdrs(true, base...)}, outcome: accepted, authority: "example.com"},
		{rule: "§8.2 names lowercase: X-Foo", steps: []step{hdrs(true, with("X-Foo", "1")...)}},
		{rule: "§8.2.1 name with SP", steps: []step{hdrs(true, with("fo o", "1")...)}},
		{rule: "§8.2.1 name with NUL", steps: []step{hdrs(true, with("fo\x00o", "1")...)}},
		{rule: "§8.2.1 ':' outside a pseudo-header", steps: []step{hdrs(true, with("a:b", "1")...)}},
		{rule: "§8.2.1 name with DEL", steps: []step{hdrs(true, with("f\x7fo", "1")...)}},
		{rule: "§8.2.1 non-ASCII name", steps: []step{hdrs(true, with("\xc3\xa9", "1")...)}},
		{rule: "§8.2.1 empty name", steps: []step{hdrs(true, with("", "1")...)}},
		{rule: "§8.2.1 value with CRLF", steps: []step{hdrs(true, with("x", "v\r\nx-injected: 1")...)}},
		{rule: "§8.2.1 value with LF", steps: []step{hdrs(true, with("x", "v\nx")...)}},
		{rule: "§8.2.1 value with NUL", steps: []step{hdrs(true, with("x", "v\x00")...)}},
		{rule: "§8.2.1 leading SP", steps: []step{hdrs(true, with("x", " v")...)}},
		{rule: "§8.2.1 trailing HTAB", steps: []step{hdrs(true, with("x", "v\t")...)}},
		{rule: "CTL in a value (strict)", steps: []step{hdrs(true, with("x", "v\x01")...)}},
		{rule: "DEL in a value (strict)", steps: []step{hdrs(true, with("x", "v\x7f")...)}},
		{rule: "obs-text in a value is accepted", steps: []step{hdrs(true, with("x", "v\x80")...)}, outcome: accepted, authority: "example.com"},
		{rule: "§8.2.2 connection", steps: []step{hdrs(true, with("connection", "close")...)}},
		{rule: "§8.2.2 keep-alive", steps: []step{hdrs(true, with("keep-alive", "1")...)}},
		{rule: "§8.2.2 proxy-connection", steps: []step{hdrs(true, with("proxy-connection", "x")...)}},
		{rule: "§8.2.2 transfer-encoding", steps: []step{hdrs(true, with("transfer-encoding", "chunked")...)}},
		{rule: "§8.2.2 upgrade", steps: []step{hdrs(true, with("upgrade", "websocket")...)}},
		{rule: "§8.2.2 te: gzip", steps: []step{hdrs(true, with("te", "gzip")...)}},
		{rule: "§8.2.2 te: trailers, deflate", steps: []step{hdrs(true, with("te", "trailers, deflate")...)}},
		{rule: "§8.2.2 TE (uppercase)", steps: []step{hdrs(true, with("TE", "trailers")...)}},
		{rule: "§8.2.2 te: trailers is accepted", steps: []step{hdrs(true, with("te", "trailers")...)}, outcome: accepted, authority: "example.com"},
		{rule: "§8.3 pseudo-header after a regular field", steps: []step{hdrs(true, "x", "1", ":method", "GET", ":scheme", "https", ":path", "/")}},
		{rule: "§8.3 unknown pseudo-header", steps: []step{hdrs(true, with(":foo", "x")...)}},
		{rule: "§8.3 :status in a request", steps: []step{hdrs(true, ":status", "200", ":method", "GET", ":scheme", "https", ":path", "/")}},
		{rule: "§8.3 pseudo-header in trailers",
			steps: []step{hdrs(false, with("content-length", "1")...), data("x", false), hdrs(true, ":path", "/")}, outcome: resetLate},
		{rule: "§8.3.1 missing :method", steps: []step{hdrs(true, ":scheme", "https", ":path", "/")}},
		{rule: "§8.3.1 missing :scheme", steps: []step{hdrs(true, ":method", "GET", ":path", "/")}},
		{rule: "§8.3.1 missing :path", steps: []step{hdrs(true, ":method", "GET", ":scheme", "https")}},
		{rule: "§8.3.1 duplicate :method", steps: []step{hdrs(true, ":method", "GET", ":method", "GET", ":scheme", "https", ":path", "/")}},
		{rule: "§8.3.1 duplicate :scheme", steps: []step{hdrs(true, ":method", "GET", ":scheme", "https", ":scheme", "http", ":path", "/")}},
		{rule: "§8.3.1 duplicate :path", steps: []step{hdrs(true, ":method", "GET", ":scheme", "https", ":path", "/", ":path", "/a")}},
		{rule: "§8.3.1 empty :path", steps: []step{hdrs(true, ":method", "GET", ":scheme", "https", ":path", "")}},
		{rule: "§8.3.1 :path not starting with /", steps: []step{hdrs(true, ":method", "GET", ":scheme", "https", ":path", "foo")}},
		{rule: "§8.3.1 :path * with GET", steps: []step{hdrs(true, ":method", "GET", ":scheme", "https", ":path", "*")}},
		{rule: "§8.3.1 :path * with OPTIONS is accepted",
			steps: []step{hdrs(true, ":method", "OPTIONS", ":scheme", "https", ":path", "*", ":authority", "h")}, outcome: accepted, authority: "h"},
		{rule: "§8.3.1 userinfo in :authority", steps: []step{hdrs(true, ":method", "GET", ":scheme", "https", ":path", "/", ":authority", "user@host")}},
		{rule: "§8.3.1 :authority and host differ", steps: []step{hdrs(true, with("host", "other.example")...)}},
		{rule: "§8.3.1 host stands in for a missing :authority",
			steps: []step{hdrs(true, ":method", "GET", ":scheme", "https", ":path", "/", "host", "h.example")}, outcome: accepted, authority: "h.example"},
		{rule: "§8.5 CONNECT with :scheme", steps: []step{hdrs(true, ":method", "CONNECT", ":scheme", "https", ":authority", "h:443")}},
		{rule: "§8.5 CONNECT with :path", steps: []step{hdrs(true, ":method", "CONNECT", ":path", "/", ":authority", "h:443")}},
		{rule: "§8.5 CONNECT without :authority", steps: []step{hdrs(true, ":method", "CONNECT")}},
		{rule: "§8.5 CONNECT is accepted", steps: []step{hdrs(false, ":method", "CONNECT", ":authority", "h:443")}, outcome: accepted, authority: "h:443"},
		{rule: "RFC 8441 :protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL",
			steps: []step{hdrs(false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/chat", ":authority", "h")}},
		{rule: "RFC 8441 extended CONNECT is accepted when enabled",
			steps:   []step{hdrs(false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/chat", ":authority", "h")},
			outcome: accepted, authority: "h", cfg: func(c *Config) { c.EnableConnectProtocol = true }},
		{rule: "§8.1 second HEADERS without END_STREAM", steps: []step{hdrs(false, base...), hdrs(false, "x", "1")}, outcome: resetLate},
		{rule: "§8.1.1 content-length 5, 6 bytes of DATA",
			steps: []step{hdrs(false, with("content-length", "5")...), data("123456", true)}, outcome: resetLate},
		{rule: "§8.1.1 content-length 5, 4 bytes of DATA then END_STREAM",
			steps: []step{hdrs(false, with("content-length", "5")...), data("1234", true)}, outcome: resetLate},
		{rule: "§8.1.1 content-length 5, 4 bytes of DATA then trailers",
			steps: []step{hdrs(false, with("content-length", "5")...), data("1234", false), hdrs(true, "x", "1")}, outcome: resetLate},
		{rule: "§8.1.1 content-length 10 with END_STREAM on HEADERS", steps: []step{hdrs(true, with("content-length", "10")...)}},
		{rule: "content-length 0 with END_STREAM is accepted", steps: []step{hdrs(true, with("content-length", "0")...)}, outcome: accepted, authority: "example.com"},
		{rule: "content-length +5", steps: []step{hdrs(false, with("content-length", "+5")...)}},
		{rule: "content-length -1", steps: []step{hdrs(false, with("content-length", "-1")...)}},
		{rule: "content-length 5,5", steps: []step{hdrs(false, with("content-length", "5,5")...)}},
		{rule: "content-length 0x5", steps: []step{hdrs(false, with("content-length", "0x5")...)}},
		{rule: "content-length empty", steps: []step{hdrs(false, with("content-length", "")...)}},
		{rule: "content-length twice", steps: []step{hdrs(false, with("content-length", "5", "content-length", "5")...)}},
		{rule: "§5.1 DATA after END_STREAM", steps: []step{hdrs(true, base...), data("x", false)}, outcome: resetLate, code: ErrCodeStreamClosed},
		{rule: "§5.1 HEADERS after END_STREAM", steps: []step{hdrs(true, base...), hdrs(true, "x", "1")}, outcome: resetLate, code: ErrCodeStreamClosed},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			cfg := Config{}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			d := newConnDriver(t, cfg)
			d.handshake()
			var buf bytes.Buffer
			enc := hpack.NewEncoder(&buf)
			for _, s := range tt.steps {
				if s.fields != nil {
					d.receive(wireHeaders(1, hpackBlock(enc, &buf, s.fields...), s.end, 16384))
				} else {
					d.receive(wireData(1, []byte(s.data), s.end))
				}
			}
			frames := d.frames()
			goAways, rsts := frameErrors(frames)
			var kinds []EventKind
			var req *Event
			for i, e := range d.events {
				kinds = append(kinds, e.Kind)
				if e.Kind == EventRequest {
					req = &d.events[i]
				}
			}
			if d.c.Closed() || len(goAways) != 0 {
				t.Fatalf("connection closed: %v\n%s", goAways, d.trace())
			}
			code := tt.code
			if code == ErrCodeNo {
				code = ErrCodeProtocol
			}
			switch tt.outcome {
			case accepted:
				if req == nil || len(rsts) != 0 {
					t.Fatalf("events %v, resets %v; want the request accepted\n%s", kinds, rsts, d.trace())
				}
				if req.Authority != tt.authority {
					t.Errorf("Authority = %q, want %q", req.Authority, tt.authority)
				}
			case rejected:
				if req != nil {
					t.Errorf("a malformed request reached the application: %+v", *req)
				}
				if len(rsts) != 1 || rsts[0].Stream != 1 || rsts[0].Code != http2.ErrCode(code) {
					t.Errorf("resets %v, want RST_STREAM stream=1 %v\n%s", rsts, code, d.trace())
				}
			case resetLate:
				last := d.events[len(d.events)-1]
				if req == nil || last.Kind != EventStreamReset || len(rsts) != 1 || rsts[0].Stream != 1 || rsts[0].Code != http2.ErrCode(code) {
					t.Errorf("events %v, resets %v; want EventRequest ... EventStreamReset and RST_STREAM stream=1 %v\n%s", kinds, rsts, code, d.trace())
				}
			}
			if tt.outcome != accepted && d.c.Stats().StreamErrors != 1 {
				t.Errorf("Stats().StreamErrors = %d, want 1 (each malformed request costs a reset token)", d.c.Stats().StreamErrors)
			}
			d.finish()
		})
	}
}
