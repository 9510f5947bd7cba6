package bridge

import (
	"net/http"
	"strings"
)

// commonNames maps canonical header keys to their HTTP/2 (lowercase) names
// without allocating.
var commonNames = func() map[string]string {
	m := make(map[string]string)
	for _, n := range []string{
		"accept", "accept-charset", "accept-encoding", "accept-language", "accept-ranges",
		"access-control-allow-origin", "age", "allow", "authorization", "cache-control",
		"content-disposition", "content-encoding", "content-language", "content-length",
		"content-location", "content-range", "content-type", "cookie", "date", "etag",
		"expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
		"if-range", "if-unmodified-since", "last-modified", "link", "location", "max-forwards",
		"proxy-authenticate", "proxy-authorization", "range", "referer", "refresh", "retry-after",
		"server", "set-cookie", "strict-transport-security", "trailer", "user-agent", "vary",
		"via", "www-authenticate", "x-content-type-options", "x-frame-options", "grpc-status",
		"grpc-message", "grpc-encoding", "grpc-accept-encoding",
	} {
		m[canonical(n)] = n
	}
	return m
}()

func canonical(n string) string {
	b := []byte(n)
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '-'
	}
	return string(b)
}

// commonKeys maps the HTTP/2 names of commonNames to their canonical keys.
var commonKeys = func() map[string]string {
	m := make(map[string]string, len(commonNames))
	for k, n := range commonNames {
		m[n] = k
	}
	return m
}()

// CanonicalKey returns the net/http header key of an HTTP/2 field name,
// without allocating for common ones.
func CanonicalKey(n string) string { return canonicalKey(n) }

// LowerName returns the HTTP/2 field name of a net/http header key,
// without allocating for common ones.
func LowerName(k string) string { return lowerName(k) }

func canonicalKey(n string) string {
	if k, ok := commonKeys[n]; ok {
		return k
	}
	return http.CanonicalHeaderKey(n)
}

// lowerName returns the HTTP/2 field name of a header key.
func lowerName(k string) string {
	if n, ok := commonNames[k]; ok {
		return n
	}
	return strings.ToLower(k)
}

// validFieldName reports whether n is a lowercase token (RFC 9113 §8.2).
func validFieldName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
