package h2sm

// Header field validation (RFC 9113 §8.2, §8.3) for requests, and for the
// responses the application asks us to send.

// nameByte marks the bytes allowed in a field name after §8.2 ("field names
// MUST be converted to lowercase") and §8.2.1 (no 0x00-0x20, 0x41-0x5A or
// 0x7F-0xFF): the lowercase RFC 9110 token characters.
var nameByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validName reports whether s is a valid regular field name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameByte[s[i]] {
			return false
		}
	}
	return true
}

// validMethod reports whether s is an RFC 9110 token (§9.1), in any case.
func validMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		if !nameByte[b] {
			return false
		}
	}
	return true
}

// validValue reports whether s is a valid field value. §8.2.1: "A field value
// MUST NOT contain the zero value (ASCII NUL, 0x00), line feed (ASCII LF,
// 0x0a), or carriage return (ASCII CR, 0x0d) at any position" and "MUST NOT
// start or end with an ASCII whitespace character (ASCII SP or HTAB, 0x20 or
// 0x09)". We are stricter for the other control characters and DEL (RFC 9110
// §5.5 does not allow them), which protects HTTP/1.1 back ends; obs-text
// (0x80-0xFF) is accepted.
func validValue(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return false
	}
	// Eight bytes at a time: most values have no control byte at all, and a
	// word that may hold one (or an HTAB, which is allowed) is checked byte
	// by byte below.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if hasLess(x, 0x20) || hasZero(x^0x7f7f7f7f7f7f7f7f) {
			break
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < 0x20 && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasZero reports whether a byte of x is zero.
func hasZero(x uint64) bool { return (x-lsb)&^x&msb != 0 }

// hasLess reports whether a byte of x is below n (n ≤ 128); bytes with the
// high bit set never count.
func hasLess(x uint64, n uint64) bool { return (x-lsb*n)&^x&msb != 0 }

// connectionSpecific reports whether name is a connection-specific field,
// which §8.2.2 forbids: "An endpoint MUST NOT generate an HTTP/2 message
// containing connection-specific header fields ... Any message containing
// connection-specific header fields MUST be treated as malformed".
func connectionSpecific(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// parseContentLength parses a content-length value strictly: one or more
// digits, nothing else (RFC 9110 §8.6); a value that does not fit int64 is
// refused.
func parseContentLength(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	const maxInt64 = 1<<63 - 1
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		d := int64(s[i] - '0')
		if n > (maxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// validStatus reports whether s is a three-digit status code 100-599.
func validStatus(s string) bool {
	return len(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// validResponseFields checks the fields the application asks us to send.
// The first HEADERS of a response starts with :status; trailers have no
// pseudo-header (§8.1).
func validResponseFields(fields []HeaderField, trailers bool) (status string, reason string) {
	for i, f := range fields {
		if len(f.Name) > 0 && f.Name[0] == ':' {
			if trailers || i != 0 || f.Name != ":status" {
				return "", "pseudo-header " + f.Name + " not allowed here"
			}
			if !validStatus(f.Value) {
				return "", "bad :status " + f.Value
			}
			status = f.Value
			continue
		}
		if !validName(f.Name) {
			return "", "bad field name " + f.Name
		}
		if connectionSpecific(f.Name) || f.Name == "te" {
			return "", "connection-specific field " + f.Name
		}
		if !validValue(f.Value) {
			return "", "bad value for field " + f.Name
		}
	}
	if !trailers && status == "" {
		return "", "first field must be :status"
	}
	return status, ""
}
