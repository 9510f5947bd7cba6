package h2sm

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

func TestSizeUpdateScan(t *testing.T) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	encode := func(fields ...string) []byte {
		buf.Reset()
		for i := 0; i < len(fields); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1], Sensitive: strings.HasPrefix(fields[i], "s-")})
		}
		return bytes.Clone(buf.Bytes())
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	long := strings.Repeat("~", 300) // a string whose length needs a multi-octet integer
	fields := encode(":method", "GET", ":path", "/", "x-new", "v", "x-long", long, "s-secret", "k", ":authority", "a.example")
	again := encode(":method", "GET", "x-new", "v") // indexed now
	update0, update4096 := []byte{0x20}, []byte{0x3f, 0xe1, 0x1f}
	for _, tt := range []struct {
		name  string
		block []byte
		ok    bool
	}{
		{"empty block", nil, true},
		{"fields of every kind", fields, true},
		{"indexed fields", again, true},
		{"an update, then fields", cat(update4096, fields), true},
		{"two updates, then fields (§4.2)", cat(update0, update4096, fields), true},
		{"only an update", update0, true},
		{"an update after an indexed field", cat(again, update0), false},
		{"an update after a literal with a long value", cat(encode("x-l", long+"!"), update4096), false},
		{"an update after a never-indexed field", cat(encode("s-x", "1"), update0), false},
		{"an update between fields", cat(fields[:2], update0, fields[2:]), false}, // 0x82 0x84: two indexed fields
		{"an empty name and value, then an update", []byte{0x00, 0x00, 0x00, 0x20}, false},
		{"a field whose value holds 0x20 octets", cat(encode("x-sp", "    "), encode("y", "   ")), true},
	} {
		// Every split into two fragments, and one octet at a time.
		for cut := 0; cut <= len(tt.block); cut++ {
			var s sizeUpdateScan
			got := s.write(tt.block[:cut]) && s.write(tt.block[cut:])
			if got != tt.ok {
				t.Errorf("%s: write(block[:%d]), write(block[%d:]) = %v, want %v (block %x)", tt.name, cut, cut, got, tt.ok, tt.block)
				break
			}
		}
		var s sizeUpdateScan
		got := true
		for i := range tt.block {
			got = got && s.write(tt.block[i:i+1])
		}
		if got != tt.ok {
			t.Errorf("%s: one octet at a time = %v, want %v", tt.name, got, tt.ok)
		}
		if tt.ok && len(tt.block) > 0 && s.state != scanStart {
			t.Errorf("%s: state %d at the end of a whole block, want scanStart", tt.name, s.state)
		}
	}
}

// TestSizeUpdateScanOverflow: an integer too long for 64 bits (which the
// decoder rejects) does not wrap the scan into a false alarm or a panic.
func TestSizeUpdateScanOverflow(t *testing.T) {
	var s sizeUpdateScan
	block := append([]byte{0x00, 0x7f}, bytes.Repeat([]byte{0xff}, 20)...)
	if !s.write(append(block, 0x01)) {
		t.Errorf("write(%x) = false, want true (the decoder reports the overflow)", block)
	}
}
