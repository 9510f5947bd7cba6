package h2sm

// sizeUpdateScan finds a dynamic table size update that follows a field in
// a header block. RFC 7541 §4.2: "This dynamic table size update MUST occur
// at the beginning of the first header block following the change to the
// dynamic table size", and §6.3 makes a violation a decoding error, which
// RFC 9113 §4.3 turns into COMPRESSION_ERROR. The HPACK decoder checks the
// rule only while its dynamic table holds entries (research/attacks.md
// §3.14 (b)); this catches the rest.
//
// It walks the boundaries of the representations (RFC 7541 §6) across
// fragments, one octet at a time except inside strings, which it skips; it
// keeps no octet. The decoder validates everything else: on a block the
// decoder accepts, the scan follows the same representations, so it fails
// exactly at a size update after a field. The zero value is at the start of
// a block.
type sizeUpdateScan struct {
	field   bool   // a field representation has begun
	state   uint8  // what the next octet is
	intFor  uint8  // what the integer being read is for
	strings uint8  // strings left in the current representation
	v       uint64 // the integer being read; in scanSkip, the octets left
	shift   uint
}

// sizeUpdateScan states.
const (
	scanStart  = iota // the first octet of a representation
	scanInt           // a continuation octet of an integer (§5.1)
	scanString        // the first octet of a string: H and the length prefix (§5.2)
	scanSkip          // inside a string's octets
)

// What an integer is for.
const (
	intIndex  = iota // an indexed field (§6.1): nothing follows
	intName          // a literal's name index (§6.2): one string follows, two if 0
	intSize          // a size update (§6.3): nothing follows
	intLength        // a string's length: that many octets follow
)

// write scans the next fragment of the block. It reports false at a size
// update that follows a field.
func (s *sizeUpdateScan) write(p []byte) bool {
	for i := 0; i < len(p); {
		b := p[i]
		switch s.state {
		case scanStart:
			i++
			switch {
			case b&0x80 != 0: // 1xxxxxxx indexed
				s.field = true
				s.beginInt(intIndex, b, 7)
			case b&0xc0 == 0x40: // 01xxxxxx literal with incremental indexing
				s.field = true
				s.beginInt(intName, b, 6)
			case b&0xe0 == 0x20: // 001xxxxx size update
				if s.field {
					return false
				}
				s.beginInt(intSize, b, 5)
			default: // 0000xxxx, 0001xxxx literal without indexing, never indexed
				s.field = true
				s.beginInt(intName, b, 4)
			}
		case scanString:
			i++
			s.beginInt(intLength, b, 7)
		case scanInt:
			i++
			if s.shift < 63 { // a longer integer is the decoder's error
				s.v += uint64(b&0x7f) << s.shift
				s.shift += 7
			}
			if b&0x80 == 0 {
				s.endInt()
			}
		case scanSkip:
			k := min(uint64(len(p)-i), s.v)
			i += int(k)
			s.v -= k
			if s.v == 0 {
				s.endString()
			}
		}
	}
	return true
}

// beginInt starts an integer with an n-bit prefix whose first octet is b.
func (s *sizeUpdateScan) beginInt(kind uint8, b byte, n uint) {
	mask := byte(1)<<n - 1
	s.intFor, s.v, s.shift = kind, uint64(b&mask), 0
	if b&mask == mask {
		s.state = scanInt
		return
	}
	s.endInt()
}

// endInt acts on a complete integer.
func (s *sizeUpdateScan) endInt() {
	switch s.intFor {
	case intIndex, intSize:
		s.state = scanStart
	case intName:
		s.strings = 1
		if s.v == 0 { // a new name: the name string, then the value
			s.strings = 2
		}
		s.state = scanString
	case intLength:
		if s.v == 0 {
			s.endString()
			return
		}
		s.state = scanSkip
	}
}

// endString moves past a complete string.
func (s *sizeUpdateScan) endString() {
	s.strings--
	if s.strings > 0 {
		s.state = scanString
		return
	}
	s.state = scanStart
}
