package h2sm_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// settingsPayload encodes settings as a SETTINGS frame payload.
func settingsPayload(s ...http2.Setting) []byte {
	var p []byte
	for _, st := range s {
		p = binary.BigEndian.AppendUint16(p, uint16(st.ID))
		p = binary.BigEndian.AppendUint32(p, st.Val)
	}
	return p
}

func TestConnSettingsErrors(t *testing.T) {
	set := func(id http2.SettingID, v uint32) http2.Setting { return http2.Setting{ID: id, Val: v} }
	many := make([]http2.Setting, h2sm.DefaultMaxSettingsEntries+1)
	for i := range many {
		many[i] = set(http2.SettingMaxConcurrentStreams, uint32(i))
	}
	for _, tt := range []struct {
		name    string
		flags   http2.Flags
		stream  h2sm.StreamID
		payload []byte
		code    h2sm.ErrCode
		rule    string
	}{
		// §6.5: "If an endpoint receives a SETTINGS frame whose Stream
		// Identifier field is anything other than 0x00, the endpoint MUST
		// respond with a connection error ... of type PROTOCOL_ERROR."
		{"on stream 1", 0, 1, nil, h2sm.ErrCodeProtocol, "§6.5 stream"},
		{"on stream 2 with a setting", 0, 2, settingsPayload(set(http2.SettingMaxFrameSize, 16384)), h2sm.ErrCodeProtocol, "§6.5 stream"},
		{"ACK on stream 1", http2.FlagSettingsAck, 1, nil, h2sm.ErrCodeProtocol, "§6.5 stream"},
		// §6.5: "Receipt of a SETTINGS frame with the ACK flag set and a
		// length field value other than 0 MUST be treated as a connection
		// error ... of type FRAME_SIZE_ERROR."
		{"ACK with 6 bytes", http2.FlagSettingsAck, 0, settingsPayload(set(http2.SettingEnablePush, 0)), h2sm.ErrCodeFrameSize, "§6.5 ACK length"},
		{"ACK with 1 byte", http2.FlagSettingsAck, 0, []byte{0}, h2sm.ErrCodeFrameSize, "§6.5 ACK length"},
		// §6.5: "A SETTINGS frame with a length other than a multiple of 6
		// octets MUST be treated as a connection error ... of type
		// FRAME_SIZE_ERROR."
		{"length 1", 0, 0, []byte{0}, h2sm.ErrCodeFrameSize, "§6.5 length % 6"},
		{"length 5", 0, 0, []byte{0, 3, 0, 0, 0}, h2sm.ErrCodeFrameSize, "§6.5 length % 6"},
		{"length 7", 0, 0, []byte{0, 3, 0, 0, 0, 1, 0}, h2sm.ErrCodeFrameSize, "§6.5 length % 6"},
		{"length 13", 0, 0, make([]byte, 13), h2sm.ErrCodeFrameSize, "§6.5 length % 6"},
		// §6.5.2 SETTINGS_ENABLE_PUSH: "Any value other than 0 or 1 MUST be
		// treated as a connection error ... of type PROTOCOL_ERROR."
		{"ENABLE_PUSH 2", 0, 0, settingsPayload(set(http2.SettingEnablePush, 2)), h2sm.ErrCodeProtocol, "§6.5.2 ENABLE_PUSH"},
		{"ENABLE_PUSH 2^32-1", 0, 0, settingsPayload(set(http2.SettingEnablePush, 1<<32-1)), h2sm.ErrCodeProtocol, "§6.5.2 ENABLE_PUSH"},
		// §6.5.2 SETTINGS_INITIAL_WINDOW_SIZE: "Values above the maximum
		// flow-control window size of 2^31-1 MUST be treated as a connection
		// error ... of type FLOW_CONTROL_ERROR."
		{"INITIAL_WINDOW_SIZE 2^31", 0, 0, settingsPayload(set(http2.SettingInitialWindowSize, 1<<31)), h2sm.ErrCodeFlowControl, "§6.5.2 INITIAL_WINDOW_SIZE"},
		{"INITIAL_WINDOW_SIZE 2^32-1", 0, 0, settingsPayload(set(http2.SettingInitialWindowSize, 1<<32-1)), h2sm.ErrCodeFlowControl, "§6.5.2 INITIAL_WINDOW_SIZE"},
		// §6.5.2 SETTINGS_MAX_FRAME_SIZE: "The value advertised by an endpoint
		// MUST be between this initial value and the maximum allowed frame
		// size (2^24-1 or 16,777,215 octets), inclusive. Values outside this
		// range MUST be treated as a connection error ... of type
		// PROTOCOL_ERROR."
		{"MAX_FRAME_SIZE 16383", 0, 0, settingsPayload(set(http2.SettingMaxFrameSize, 16383)), h2sm.ErrCodeProtocol, "§6.5.2 MAX_FRAME_SIZE"},
		{"MAX_FRAME_SIZE 0", 0, 0, settingsPayload(set(http2.SettingMaxFrameSize, 0)), h2sm.ErrCodeProtocol, "§6.5.2 MAX_FRAME_SIZE"},
		{"MAX_FRAME_SIZE 2^24", 0, 0, settingsPayload(set(http2.SettingMaxFrameSize, 1<<24)), h2sm.ErrCodeProtocol, "§6.5.2 MAX_FRAME_SIZE"},
		{"MAX_FRAME_SIZE 2^32-1", 0, 0, settingsPayload(set(http2.SettingMaxFrameSize, 1<<32-1)), h2sm.ErrCodeProtocol, "§6.5.2 MAX_FRAME_SIZE"},
		// RFC 8441 §3: "The value of the parameter MUST be 0 or 1."
		{"ENABLE_CONNECT_PROTOCOL 2", 0, 0, settingsPayload(set(http2.SettingEnableConnectProtocol, 2)), h2sm.ErrCodeProtocol, "RFC 8441 §3"},
		// A bad value fails the frame even after good ones.
		{"bad value after a good one", 0, 0, settingsPayload(set(http2.SettingInitialWindowSize, 100), set(http2.SettingMaxFrameSize, 16383)), h2sm.ErrCodeProtocol, "§6.5.2 MAX_FRAME_SIZE"},
		{"bad duplicate after a good one", 0, 0, settingsPayload(set(http2.SettingMaxFrameSize, 16384), set(http2.SettingMaxFrameSize, 1<<24)), h2sm.ErrCodeProtocol, "§6.5.2 MAX_FRAME_SIZE"},
		// Config.MaxSettingsEntries (32): more settings in one frame is a flood.
		{"33 settings", 0, 0, settingsPayload(many...), h2sm.ErrCodeEnhanceYourCalm, "MaxSettingsEntries"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			tc.Handshake()
			tc.WriteRawFrame(http2.FrameSettings, tt.flags, tt.stream, tt.payload)
			wantConnErrorClose(t, tc, tt.rule, 0, tt.code)
		})
	}
}

func TestConnSettingsErrorAsFirstFrame(t *testing.T) {
	tc := memory.NewPeer(t)
	wantDefaultServerPreface(tc)
	tc.Preface()
	tc.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2})
	wantConnErrorClose(t, tc, "§6.5.2: checked in the first SETTINGS too, and no ACK", 0, h2sm.ErrCodeProtocol)
}

func TestConnSettingsAcceptedValues(t *testing.T) {
	set := func(id http2.SettingID, v uint32) http2.Setting { return http2.Setting{ID: id, Val: v} }
	exactly32 := make([]http2.Setting, h2sm.DefaultMaxSettingsEntries)
	for i := range exactly32 {
		exactly32[i] = set(0x100+http2.SettingID(i), uint32(i))
	}
	for _, tt := range []struct {
		name     string
		settings []http2.Setting
	}{
		{"empty", nil},
		// §6.5.2: "An endpoint that receives a SETTINGS frame with any
		// unknown or unsupported identifier MUST ignore that setting."
		{"unknown identifiers", []http2.Setting{set(0, 5), set(0x7, 1), set(0x99, 7), set(0xffff, 1<<32-1)}},
		{"ENABLE_PUSH 0 and 1", []http2.Setting{set(http2.SettingEnablePush, 0), set(http2.SettingEnablePush, 1)}},
		{"INITIAL_WINDOW_SIZE bounds", []http2.Setting{set(http2.SettingInitialWindowSize, 0), set(http2.SettingInitialWindowSize, 1<<31-1)}},
		{"MAX_FRAME_SIZE bounds", []http2.Setting{set(http2.SettingMaxFrameSize, 16384), set(http2.SettingMaxFrameSize, 1<<24-1)}},
		{"HEADER_TABLE_SIZE bounds", []http2.Setting{set(http2.SettingHeaderTableSize, 0), set(http2.SettingHeaderTableSize, 1<<32-1)}},
		{"MAX_CONCURRENT_STREAMS 0", []http2.Setting{set(http2.SettingMaxConcurrentStreams, 0)}},
		{"MAX_HEADER_LIST_SIZE 0", []http2.Setting{set(http2.SettingMaxHeaderListSize, 0)}},
		{"ENABLE_CONNECT_PROTOCOL 0 and 1", []http2.Setting{set(http2.SettingEnableConnectProtocol, 1), set(http2.SettingEnableConnectProtocol, 0)}},
		{"exactly MaxSettingsEntries", exactly32},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			tc.Handshake()
			tc.WriteRawFrame(http2.FrameSettings, 0, 0, settingsPayload(tt.settings...))
			tc.WantFrame("§6.5.3: accepted and acknowledged", memory.Settings{Ack: true})
			tc.WantIdle("exactly one ACK")
			wantPhase(t, tc, "still open", h2sm.PhaseOpen)
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
			tc.WantEvent("the connection still works", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
		})
	}
}

func TestConnSettingsMaxEntriesConfig(t *testing.T) {
	cfg := memory.WithConfig(func(c *h2sm.Config) { c.MaxSettingsEntries = 2 })
	two := []http2.Setting{{ID: http2.SettingEnablePush, Val: 0}, {ID: http2.SettingMaxHeaderListSize, Val: 100}}

	tc := memory.NewPeer(t, cfg)
	tc.Handshake()
	tc.WriteSettings(two...)
	tc.WantFrame("two settings are within MaxSettingsEntries=2", memory.Settings{Ack: true})
	tc.WriteSettings(append(two, http2.Setting{ID: http2.SettingEnablePush, Val: 0})...)
	wantConnErrorClose(t, tc, "three settings exceed MaxSettingsEntries=2", 0, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnSettingsOneAckEach(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	// Three SETTINGS frames in one write: three ACKs, in order, nothing else.
	var b []byte
	for _, p := range [][]byte{
		nil,
		settingsPayload(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000}),
		settingsPayload(http2.Setting{ID: 0x99, Val: 1}, http2.Setting{ID: http2.SettingEnablePush, Val: 0}),
	} {
		b = append(b, byte(len(p)>>16), byte(len(p)>>8), byte(len(p)), byte(http2.FrameSettings), 0, 0, 0, 0, 0)
		b = append(b, p...)
	}
	tc.WriteRaw(b)
	for range 3 {
		tc.WantFrame("§6.5.3: one ACK per SETTINGS frame", memory.Settings{Ack: true})
	}
	tc.WantIdle("no extra ACK")
	// ACKs from the client, expected or not, are never answered.
	tc.WriteSettingsAck()
	tc.WriteSettingsAck()
	tc.WantIdle("§6.5: an ACK is not acknowledged")
	if got := tc.Conn().Stats().FramesOut[h2sm.FrameSettings]; got != 5 {
		t.Errorf("Stats().FramesOut[SETTINGS] = %d, want 5 (initial, handshake ACK, three ACKs)", got)
	}
}

// respondBody opens stream id with a GET, answers 200 and queues body with
// END_STREAM, reading the request event and the response headers.
func respondBody(tc *memory.Peer, id h2sm.StreamID, body []byte) {
	tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
	tc.Respond(id, 200, false)
	tc.WantHeaders("response headers", id, false)
	tc.SendData(id, body, true)
}

func TestConnSettingsInitialWindowNegativeAndBack(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}))
	tc.Handshake()
	body := bytes.Repeat([]byte("0123456789"), 30)
	respondBody(tc, 1, body)
	tc.WantFrame("the stream window of 100 bytes", memory.Data{Stream: 1, Data: body[:100]})
	tc.WantIdle("window exhausted")

	// §6.9.2: "a change to SETTINGS_INITIAL_WINDOW_SIZE can cause the
	// available space in a flow-control window to become negative."
	tc.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 50})
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.WantIdle("window 0 + (50 - 100) = -50")
	tc.WriteWindowUpdate(1, 30)
	tc.WantIdle("§6.9.2: no DATA while the window is negative (-20)")
	tc.WriteWindowUpdate(1, 70)
	tc.WantFrame("window back to 50", memory.Data{Stream: 1, Data: body[100:150]})
	tc.WantIdle("window 0 again")

	// Raising the setting gives every open stream the difference at once.
	tc.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 200})
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.WantFrame("window 0 + (200 - 50) = 150: the rest", memory.Data{Stream: 1, Data: body[150:], EndStream: true})
	tc.WantIdle("stream done")

	// A new stream starts with the current setting.
	respondBody(tc, 3, body)
	tc.WantFrame("new stream: window 200", memory.Data{Stream: 3, Data: body[:200]})
	tc.WantIdle("window exhausted")
	tc.Reset(3, h2sm.ErrCodeCancel)
	tc.WantRSTStream("reset", 3, h2sm.ErrCodeCancel)
}

func TestConnSettingsInitialWindowDuplicateLastWins(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}))
	tc.Handshake()
	body := bytes.Repeat([]byte("x"), 1000)
	respondBody(tc, 1, body)
	tc.WantFrame("stream window 100", memory.Data{Stream: 1, Data: body[:100]})
	tc.WantIdle("window exhausted")

	// §6.5.3: "The values in the SETTINGS frame MUST be processed in the
	// order they appear": 100 → 1000 → 500 leaves the window at 0 + 400.
	tc.WriteSettings(
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 500},
	)
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.WantFrame("the last value wins: 400 more bytes", memory.Data{Stream: 1, Data: body[100:500]})
	tc.WantIdle("window exhausted again")

	// And the other way round: 500 → 10 → 700 nets +200.
	tc.WriteSettings(
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 700},
	)
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.WantFrame("net +200", memory.Data{Stream: 1, Data: body[500:700]})
	tc.WantIdle("window exhausted again")
	tc.Reset(1, h2sm.ErrCodeCancel)
	tc.WantRSTStream("reset", 1, h2sm.ErrCodeCancel)
}

func TestConnSettingsInitialWindowNotConnectionWindow(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}))
	tc.Handshake()
	body := bytes.Repeat([]byte("y"), 65536)
	respondBody(tc, 1, body)
	// §6.9.2: "The connection flow-control window can only be changed using
	// WINDOW_UPDATE frames."
	got, end := tc.WantData("the connection window of 65535", 1)
	if len(got) != 65535 || end {
		t.Fatalf("WantData: %d bytes, end=%v; want 65535 bytes without END_STREAM", len(got), end)
	}
	tc.WantIdle("connection window exhausted")
	tc.WriteWindowUpdate(0, 1)
	tc.WantFrame("the last byte", memory.Data{Stream: 1, Data: []byte("y"), EndStream: true})
}

func TestConnSettingsInitialWindowOverflow(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.WriteWindowUpdate(1, 1<<31-1-65535)
	tc.WantIdle("window exactly 2^31-1 is allowed")
	// §6.9.2: "An endpoint MUST treat a change to
	// SETTINGS_INITIAL_WINDOW_SIZE that causes any flow-control window to
	// exceed the maximum size as a connection error ... of type
	// FLOW_CONTROL_ERROR."
	tc.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65536})
	wantConnErrorClose(t, tc, "§6.9.2: the delta pushes stream 1 to 2^31", 1, h2sm.ErrCodeFlowControl)
}

func TestConnSettingsMaxFrameSizeRaise(t *testing.T) {
	big := strings.Repeat("a", 40000) // about 25000 bytes Huffman-coded
	body := bytes.Repeat([]byte("z"), 40000)
	for _, tt := range []struct {
		limit        uint32
		headerFrames int
		dataFrames   []int
	}{
		{16384, 2, []int{16384, 16384, 7232}},
		{32768, 1, []int{32768, 7232}},
		{1<<24 - 1, 1, []int{40000}},
	} {
		t.Run(strings.ReplaceAll(http2.Setting{ID: http2.SettingMaxFrameSize, Val: tt.limit}.String(), " ", ""), func(t *testing.T) {
			tc := memory.NewPeer(t)
			tc.Handshake()
			tc.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: tt.limit})
			tc.WantFrame("ACK", memory.Settings{Ack: true})
			tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
			tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
			tc.Respond(1, 200, false, h2sm.HeaderField{Name: "x-big", Value: big})
			tc.WantFrame("header block in frames of at most the peer's MAX_FRAME_SIZE", memory.Headers{
				Stream: 1, Frames: tt.headerFrames, Fields: memory.Fields(":status", "200", "x-big", big),
			})
			tc.SendData(1, body, true)
			for i, n := range tt.dataFrames {
				last := i == len(tt.dataFrames)-1
				f, ok := tc.ReadFrame()
				df, isData := f.(*http2.DataFrame)
				if !ok || !isData || len(df.Data()) != n || df.StreamEnded() != last {
					t.Fatalf("DATA frame %d = %v, want %d bytes, END_STREAM=%v", i, f, n, last)
				}
			}
			tc.WantIdle("body sent")
		})
	}
}

// tableSizeUpdates reads the dynamic table size updates that open an HPACK
// block (RFC 7541 §6.3) and returns their values and the rest of the block.
func tableSizeUpdates(t *testing.T, block []byte) ([]uint64, []byte) {
	t.Helper()
	var sizes []uint64
	for len(block) > 0 && block[0]&0xe0 == 0x20 {
		v, i := uint64(block[0]&0x1f), 1
		if v == 0x1f {
			for shift := 0; ; shift += 7 {
				if i == len(block) {
					t.Fatalf("truncated size update in %x", block)
				}
				c := block[i]
				i++
				v += uint64(c&0x7f) << shift
				if c&0x80 == 0 {
					break
				}
			}
		}
		sizes = append(sizes, v)
		block = block[i:]
	}
	return sizes, block
}

// respondBlock serves a GET on stream id with a 200 carrying fields and
// returns the raw header block the server sent (one frame). The harness has
// already checked that it decodes; dec decodes it again, independently.
func respondBlock(t *testing.T, tc *memory.Peer, dec *hpack.Decoder, id h2sm.StreamID, fields ...h2sm.HeaderField) []byte {
	t.Helper()
	tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
	tc.Respond(id, 200, true, fields...)
	f, ok := tc.ReadFrame()
	hf, isH := f.(*http2.HeadersFrame)
	if !ok || !isH || !hf.HeadersEnded() || hf.StreamID != uint32(id) {
		t.Fatalf("got %v, want one HEADERS frame with END_HEADERS on stream %d", f, id)
	}
	block := bytes.Clone(hf.HeaderBlockFragment())
	got, err := dec.DecodeFull(block)
	if err != nil {
		t.Fatalf("stream %d: decoding %x: %v", id, block, err)
	}
	want := append([]hpack.HeaderField{{Name: ":status", Value: "200"}}, toHPACK(fields)...)
	if len(got) != len(want) {
		t.Fatalf("stream %d: decoded %v, want %v", id, got, want)
	}
	for i := range got {
		if got[i].Name != want[i].Name || got[i].Value != want[i].Value {
			t.Fatalf("stream %d: decoded %v, want %v", id, got, want)
		}
	}
	return block
}

func toHPACK(fields []h2sm.HeaderField) []hpack.HeaderField {
	out := make([]hpack.HeaderField, len(fields))
	for i, f := range fields {
		out[i] = hpack.HeaderField{Name: f.Name, Value: f.Value}
	}
	return out
}

func TestConnSettingsHeaderTableSizeZero(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	dec := hpack.NewDecoder(4096, nil)
	custom := h2sm.HeaderField{Name: "x-custom", Value: "some value"}

	b1 := respondBlock(t, tc, dec, 1, custom)
	if sizes, _ := tableSizeUpdates(t, b1); len(sizes) != 0 {
		t.Errorf("first block %x opens with size updates %v; the table size did not change", b1, sizes)
	}
	b3 := respondBlock(t, tc, dec, 3, custom)
	if len(b3) >= len(b1) {
		t.Errorf("with a 4096-byte table the repeated field is indexed: block %d bytes, first %d", len(b3), len(b1))
	}

	tc.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	dec.SetAllowedMaxDynamicTableSize(0) // the client's decoder applies the setting once ACKed

	// RFC 7541 §4.2: "This dynamic table size update MUST occur at the
	// beginning of the first header block following the change to the
	// dynamic table size. In HTTP/2, this follows a settings acknowledgment."
	b5 := respondBlock(t, tc, dec, 5, custom)
	sizes, rest := tableSizeUpdates(t, b5)
	if len(sizes) != 1 || sizes[0] != 0 {
		t.Fatalf("block after HEADER_TABLE_SIZE=0 = %x: size updates %v, want [0]", b5, sizes)
	}
	b7 := respondBlock(t, tc, dec, 7, custom)
	if sizes, _ := tableSizeUpdates(t, b7); len(sizes) != 0 {
		t.Errorf("second block %x repeats the size update %v", b7, sizes)
	}
	if !bytes.Equal(b7, rest) {
		t.Errorf("with no table nothing is indexed: block %x, want the same literal block %x", b7, rest)
	}
	tc.WantIdle("done")
}

func TestConnSettingsEncoderTableLimit(t *testing.T) {
	const limit = 100
	tc := memory.NewPeer(t,
		memory.WithConfig(func(c *h2sm.Config) { c.MaxEncoderTableSize = limit }),
		memory.WithSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 1<<32 - 1}),
	)
	tc.Handshake()
	dec := hpack.NewDecoder(4096, nil)
	dec.SetAllowedMaxDynamicTableSize(1<<32 - 1)
	// 5 + 80 + 32 = 117 bytes: an entry larger than a 100-byte table.
	big := h2sm.HeaderField{Name: "x-big", Value: strings.Repeat("b", 80)}
	small := h2sm.HeaderField{Name: "x-s", Value: "v"} // 36 bytes: fits

	b1 := respondBlock(t, tc, dec, 1, big, small)
	sizes, rest1 := tableSizeUpdates(t, b1)
	if len(sizes) != 1 || sizes[0] != limit {
		t.Fatalf("first block %x: size updates %v, want [%d] (MaxEncoderTableSize)", b1, sizes, limit)
	}
	b3 := respondBlock(t, tc, dec, 3, big, small)
	if s, _ := tableSizeUpdates(t, b3); len(s) != 0 {
		t.Fatalf("second block %x: size updates %v, want none", b3, s)
	}
	// The small field is now one indexed byte; the big one is never indexed
	// because it does not fit in 100 bytes, whatever the client allows.
	if len(b3) >= len(rest1) {
		t.Errorf("second block %d bytes, want fewer than %d (the small field indexed)", len(b3), len(rest1))
	}
	b5 := respondBlock(t, tc, dec, 5, big, small)
	if !bytes.Equal(b5, b3) {
		t.Errorf("third block %x differs from the second %x", b5, b3)
	}
	if len(b5) < 60 {
		t.Errorf("block %x is %d bytes: too short to carry the 80-byte value (about 60 Huffman-coded), so the encoder indexed a 117-byte entry", b5, len(b5))
	}

	// Raising the client's limit again changes nothing either.
	tc.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 1 << 20})
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	b7 := respondBlock(t, tc, dec, 7, big, small)
	if s, _ := tableSizeUpdates(t, b7); len(s) != 0 || !bytes.Equal(b7, b3) {
		t.Errorf("after HEADER_TABLE_SIZE=1MiB the block is %x (updates %v), want %x", b7, s, b3)
	}
	tc.WantIdle("done")
}

func TestConnSettingsAckTimeout(t *testing.T) {
	const timeout = 5 * time.Second
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.SettingsAckTimeout = timeout }))
	wantDefaultServerPreface(tc)
	tc.Preface()
	tc.WriteSettings()
	tc.WantFrame("ACK of the client's SETTINGS", memory.Settings{Ack: true})
	if at, ok := tc.Conn().Deadline(); !ok || !at.Equal(memory.Epoch.Add(timeout)) {
		t.Fatalf("Deadline() = %v, %v; want Epoch+%v (our SETTINGS were sent at Epoch)", at, ok, timeout)
	}
	tc.Advance(timeout - time.Nanosecond)
	tc.WantIdle("1ns before the timeout")
	wantPhase(t, tc, "still waiting", h2sm.PhaseOpen)
	tc.Advance(time.Nanosecond)
	// §6.5.3: "If the sender of a SETTINGS frame does not receive an
	// acknowledgment within a reasonable amount of time, it MAY issue a
	// connection error ... of type SETTINGS_TIMEOUT."
	wantConnErrorClose(t, tc, "§6.5.3: SETTINGS not acknowledged", 0, h2sm.ErrCodeSettingsTimeout)
}

func TestConnSettingsAckStopsTimer(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.SettingsAckTimeout = 5 * time.Second
		c.IdleTimeout = time.Hour
	}))
	wantDefaultServerPreface(tc)
	tc.Preface()
	tc.WriteSettings()
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.Advance(4 * time.Second)
	tc.WriteSettingsAck()
	if d := tc.AdvanceToTimer(); d != time.Hour-4*time.Second {
		t.Errorf("next timer after %v, want the idle timeout (the ACK stopped the SETTINGS timer)", d)
	}
	tc.WantGoAway("idle", 0, h2sm.ErrCodeNo)
	if err := tc.WantClosed("idle close"); err != nil {
		t.Errorf("idle close error = %v, want nil", err)
	}
}

func TestConnSettingsOwnHeaderTableSizeAppliesOnAck(t *testing.T) {
	// A header block that raises the server's HPACK table to 4096 bytes
	// (RFC 7541 §6.3: 001 + 5-bit prefix integer 4096 = 3f e1 1f), then GET
	// https://example.com/ from the static table without indexing anything.
	block := []byte{0x3f, 0xe1, 0x1f, 0x82, 0x87, 0x84, 0x01, 11}
	block = append(block, "example.com"...)
	for _, tt := range []struct {
		name  string
		acked bool
	}{
		{"before the ACK the RFC default still applies", false},
		{"after the ACK the advertised 100 bytes apply", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.HeaderTableSize = 100 }))
			tc.WantFrame("advertised", memory.Settings{Values: []http2.Setting{
				{ID: http2.SettingHeaderTableSize, Val: 100},
				{ID: http2.SettingMaxConcurrentStreams, Val: h2sm.DefaultMaxConcurrentStreams},
				{ID: http2.SettingInitialWindowSize, Val: h2sm.DefaultInitialWindowSize},
				{ID: http2.SettingMaxHeaderListSize, Val: h2sm.DefaultMaxHeaderListSize},
			}})
			tc.WantFrame("connection window", memory.WindowUpdate{Stream: 0})
			tc.Preface()
			tc.WriteSettings()
			tc.WantFrame("ACK", memory.Settings{Ack: true})
			if tt.acked {
				tc.WriteSettingsAck()
			}
			tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, block)
			if !tt.acked {
				// RFC 9113 §6.5.3: the client may not have seen our SETTINGS
				// yet, so the initial 4096 bytes may still be used.
				tc.WantEvent("size update to 4096 accepted", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/"})
				return
			}
			// RFC 7541 §6.3: "The new maximum size MUST be lower than or
			// equal to the limit determined by the protocol using HPACK. A
			// value that exceeds this limit MUST be treated as a decoding
			// error." RFC 9113 §4.3: a decoding error is a connection error
			// COMPRESSION_ERROR.
			wantConnErrorClose(t, tc, "size update above the acknowledged limit", 1, h2sm.ErrCodeCompression)
		})
	}
}

func TestConnSettingsInitialWindowDecreaseBeforeFraming(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}))
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.Respond(1, 200, false)
	tc.WantHeaders("response", 1, false)
	body := bytes.Repeat([]byte("w"), 300)
	tc.SetReading(false)
	tc.SendData(1, body, true) // accepted, not framed until the client reads
	tc.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 40})
	tc.SetReading(true)
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.WantFrame("§6.9.2: body queued before the decrease is framed under the new window", memory.Data{Stream: 1, Data: body[:40]})
	tc.WantIdle("window exhausted")
	tc.WriteWindowUpdate(1, 260)
	tc.WantFrame("the rest", memory.Data{Stream: 1, Data: body[40:], EndStream: true})
}
