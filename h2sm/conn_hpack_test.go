package h2sm_test

import (
	"testing"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// respondAndDecode answers stream id with a header the encoder indexes and
// decodes the block with dec, a decoder that has seen every earlier block.
func respondAndDecode(t *testing.T, tc *memory.Peer, dec *hpack.Decoder, id h2sm.StreamID) []byte {
	t.Helper()
	tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
	tc.Respond(id, 200, true, h2sm.HeaderField{Name: "x-custom", Value: "a value worth indexing"})
	f, ok := tc.ReadFrame()
	if !ok {
		t.Fatal("no HEADERS frame")
	}
	hf, ok := f.(*http2.HeadersFrame)
	if !ok {
		t.Fatalf("got %v, want HEADERS", f)
	}
	block := hf.HeaderBlockFragment()
	if _, err := dec.DecodeFull(block); err != nil {
		t.Fatalf("x/net/http2 hpack decoder rejects block %x: %v", block, err)
	}
	return block
}

// TestConnHPACKTableSizeChanges: when the client changes
// SETTINGS_HEADER_TABLE_SIZE several times between two responses, the
// server signals one size update per block, the smallest first (RFC 7541
// §4.2), which both nghttp2-style decoders (they expect the minimum) and
// x/net/http2's decoder (it rejects a second update while its table holds
// entries) accept.
func TestConnHPACKTableSizeChanges(t *testing.T) {
	for _, tt := range []struct {
		name      string
		sizes     []uint32 // SETTINGS_HEADER_TABLE_SIZE values sent between the first and second response
		wantFirst byte     // first byte of the second block: a size update to the minimum
	}{
		{"down then up", []uint32{353, 3753, 4237}, 0x3f}, // 353 = 0x3f 0xc2 0x02
		{"zero then back", []uint32{0, 4096}, 0x20},
		{"down only", []uint32{100}, 0x3f},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			tc.Handshake()
			dec := hpack.NewDecoder(4096, nil)
			respondAndDecode(t, tc, dec, 1)
			for _, v := range tt.sizes {
				tc.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: v})
				tc.WantFrame("ACK", memory.Settings{Ack: true})
			}
			b := respondAndDecode(t, tc, dec, 3)
			if b[0] != tt.wantFirst || (len(b) > 1 && b[0]&0xe0 == 0x20 && b[1]&0xe0 == 0x20) {
				t.Errorf("second block %x: want one size update to the minimum first (%#x)", b, tt.wantFirst)
			}
			// The final size is signalled at the next block.
			respondAndDecode(t, tc, dec, 5)
		})
	}
}

// TestConnHeaderBlockAcrossInputs: a header block whose CONTINUATION
// arrives in a later input, after every event was delivered, keeps the
// fields of its first fragment.
func TestConnHeaderBlockAcrossInputs(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	fields := memory.Request("GET", "/split", memory.Fields("x-first", "1", "x-second", "2")...)
	block := tc.EncodeHeaders(fields)
	// Split after the fifth field (the four pseudo-headers and x-first),
	// found with a scratch decoder.
	dec := hpack.NewDecoder(4096, nil)
	n := 0
	for i := 1; i <= len(block); i++ {
		got, err := dec.DecodeFull(block[:i])
		if err == nil && len(got) == 5 {
			n = i
			break
		}
	}
	if n == 0 || n == len(block) {
		t.Fatalf("cannot split block %x after its fifth field", block)
	}
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:n])
	tc.WantNoEvent("the block is not complete")
	tc.WriteContinuation(1, true, block[n:])
	ev := tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/split"})
	if len(ev.Fields) != 2 || ev.Fields[0] != (h2sm.HeaderField{Name: "x-first", Value: "1"}) || ev.Fields[1].Name != "x-second" {
		t.Errorf("fields = %v, want x-first and x-second", ev.Fields)
	}
	tc.Respond(1, 200, true)
	tc.WantHeaders("response", 1, true)
}
