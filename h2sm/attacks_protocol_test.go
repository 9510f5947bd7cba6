package h2sm_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Rows 13 to 25 of the attack catalogue (research/attacks.md): HPACK, header
// lists, stream and priority state, timers, request validation and framing.
// Rows 1 to 12 and the helpers are in attacks_test.go.

// --- 13. HPACK bomb, CVE-2016-6581 ---

func TestAttack13HPACKBomb(t *testing.T) {
	// One entry that fills the whole 4096-octet table: "x" (1) + 4063 + 32.
	value := strings.Repeat("v", 4063)
	insert := func(tc *memory.Peer) []byte {
		// The client's encoder inserts it too, so the tables stay in sync.
		return tc.EncodeHeaders([]h2sm.HeaderField{{Name: "x", Value: value}})
	}
	refs := func(n int) []byte { return bytes.Repeat([]byte{0xbe}, n) } // index 62: the newest entry
	t.Run("64 MB from 16 KB: GOAWAY", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, append(bytes.Clone(atkStaticGET), insert(tc)...))
		tc.WriteContinuation(1, true, refs(16000))
		scWantConnError(t, tc, "decoded list past 4×MaxHeaderListSize", 1, h2sm.ErrCodeEnhanceYourCalm)
	})
	for _, split := range []bool{true, false} {
		name := "160 KB from 40 octets: 431, table intact"
		if split {
			name += ", references in a CONTINUATION"
		}
		t.Run(name, func(t *testing.T) {
			tc := scPeer(t)
			first := append(bytes.Clone(atkStaticGET), insert(tc)...)
			if split {
				tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, first)
				tc.WriteContinuation(1, true, refs(40))
			} else {
				tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream|http2.FlagHeadersEndHeaders, 1, append(first, refs(40)...))
			}
			tc.WantFrame("between MaxHeaderListSize and 4× it: 431 (§10.5.1)", memory.Headers{
				Stream: 1, EndStream: true, Fields: memory.Fields(":status", "431"),
			})
			tc.WantNoEvent("the request never reaches the application")
			tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream|http2.FlagHeadersEndHeaders, 3, append(bytes.Clone(atkStaticGET), 0xbe))
			tc.WantEvent("the rejected block was decoded to its end: index 62 is the entry it inserted", h2sm.Event{
				Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Fields: memory.Fields("x", value),
			})
			scWantUsable(t, tc, 5)
		})
	}
	t.Run("allocation bounded by the limit, not the decoded size", func(t *testing.T) {
		r := newAtkRaw(t, h2sm.Config{})
		r.blk.Reset()
		_ = r.enc.WriteField(hpack.HeaderField{Name: "x", Value: value})
		first := append(bytes.Clone(atkStaticGET), r.blk.Bytes()...)
		bomb := r.frames(func(fr *http2.Framer) {
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true})
			_ = fr.WriteContinuation(1, true, refs(16000))
		})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r.feed(bomb)
		runtime.ReadMemStats(&after)
		if !r.c.Closed() {
			t.Fatal("the bomb did not close the connection")
		}
		// 16000 references decode to 65 MB; the Conn must copy none of it.
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("decoding the bomb allocated %d octets, want under 1 MiB", d)
		}
	})
}

// --- 14. HPACK dynamic table size abuse, RFC 7541 §4.2, §6.3 ---

func TestAttack14HPACKTableSize(t *testing.T) {
	headers := func(tc *memory.Peer, id h2sm.StreamID, block []byte) {
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream|http2.FlagHeadersEndHeaders, id, block)
	}
	t.Run("size update after a field, empty table", func(t *testing.T) {
		// RFC 7541 §4.2: the update "MUST occur at the beginning of the first
		// header block following the change". x/net's decoder checks this
		// only while its table holds entries; with an empty table the core
		// must catch it.
		for _, update := range [][]byte{{0x20}, {0x3f, 0xe1, 0x1f}} {
			tc := scPeer(t)
			headers(tc, 1, append(bytes.Clone(atkStaticGET), update...))
			scWantConnError(t, tc, "a size update after a field (COMPRESSION_ERROR)", 1, h2sm.ErrCodeCompression)
		}
	})
	t.Run("size updates at the start are allowed", func(t *testing.T) {
		tc := scPeer(t)
		// §4.2: the smallest size, then the final one, before any field.
		headers(tc, 1, append([]byte{0x20, 0x3f, 0xe1, 0x1f}, atkStaticGET...))
		atkWantRequest(t, tc, "two size updates at the start of a block", 1, true)
		tc.WantIdle("nothing else")
	})
	t.Run("the peer's huge table does not grow our encoder", func(t *testing.T) {
		tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 1<<32 - 1}))
		// A decoder that knows only a 4096-octet table decodes every block
		// right only if the server's encoder never used more.
		dec := hpack.NewDecoder(4096, nil)
		for i := 0; i < 1000; i++ {
			id := h2sm.StreamID(2*i + 1)
			openGET(tc, id)
			want := []h2sm.HeaderField{{Name: ":status", Value: "200"}, {Name: "x-distinct", Value: strings.Repeat("d", 50) + string(rune('a'+i%26)) + strings.Repeat("e", i%40)}}
			tc.SendHeaders(id, want, true)
			f, ok := tc.ReadFrame()
			hf, isHeaders := f.(*http2.HeadersFrame)
			if !ok || !isHeaders || !hf.HeadersEnded() {
				t.Fatalf("response %d: got %v, want one HEADERS frame", i, f)
			}
			got, err := dec.DecodeFull(hf.HeaderBlockFragment())
			if err != nil || len(got) != 2 || got[1].Value != want[1].Value {
				t.Fatalf("response %d: a 4096-octet decoder reads %v, %v; want %v", i, got, err, want)
			}
		}
	})
	t.Run("string length 2^31: refused before buffering", func(t *testing.T) {
		tc := scPeer(t)
		// Literal without indexing, new name, name length 2^31 (127 + varint).
		huge := append(bytes.Clone(atkStaticGET), 0x00, 0x7f, 0x81, 0xff, 0xff, 0xff, 0x07)
		headers(tc, 1, huge)
		scWantConnError(t, tc, "a string longer than 2×MaxHeaderListSize", 1, h2sm.ErrCodeEnhanceYourCalm)
	})
	t.Run("Huffman padding", func(t *testing.T) {
		field := func(huffman ...byte) []byte {
			b := append(bytes.Clone(atkStaticGET), 0x00, 3, 'x', '-', 'a', 0x80|byte(len(huffman)))
			return append(b, huffman...)
		}
		tc := scPeer(t)
		headers(tc, 1, field(0x1f)) // 'a' (00011) and three 1 bits of padding
		tc.WantEvent("valid Huffman", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Fields: memory.Fields("x-a", "a")})
		for _, bad := range [][]byte{{0x18}, {0x1f, 0xff}} { // padding of 0s; 11 bits of padding
			tc := scPeer(t)
			headers(tc, 1, field(bad...))
			scWantConnError(t, tc, "Huffman padding not a short EOS prefix (RFC 7541 §5.2)", 1, h2sm.ErrCodeCompression)
		}
	})
	// An update above SETTINGS_HEADER_TABLE_SIZE, index 0, an index past the
	// table, varint overflow, Huffman EOS: TestConnHeadersHPACKErrors. The
	// advertised limit before and after the ACK: TestConnHeadersDecoderTableLimit.
	// Size changes between responses: TestConnHPACKTableSizeChanges.
}

// --- 15. Stream, idle-stream and priority exhaustion ---

func TestAttack15StreamExhaustion(t *testing.T) {
	const m = h2sm.DefaultMaxConcurrentStreams
	t.Run("M+1 open streams: REFUSED_STREAM", func(t *testing.T) {
		tc := scPeer(t)
		for i := 0; i < m; i++ {
			scPost(t, tc, h2sm.StreamID(2*i+1))
		}
		tc.WriteHeaders(2*m+1, memory.GET("/"), memory.EndStream)
		// §5.1.2 allows PROTOCOL_ERROR or REFUSED_STREAM; REFUSED_STREAM
		// tells the client the request was not processed and may be retried.
		tc.WantRSTStream("over MaxConcurrentStreams", 2*m+1, h2sm.ErrCodeRefusedStream)
		tc.WantNoEvent("no request event")
		if s := tc.Conn().Stats(); s.ActiveStreams != m || s.StreamsRefused != 1 {
			t.Errorf("ActiveStreams %d, StreamsRefused %d; want %d, 1", s.ActiveStreams, s.StreamsRefused, m)
		}
		tc.Reset(1, h2sm.ErrCodeCancel)
		tc.WantRSTStream("the application ends one", 1, h2sm.ErrCodeCancel)
		scGet(t, tc, 2*m+3, "/") // HPACK stayed in sync through the refused block
	})
	t.Run("PRIORITY on idle streams: no state, then the glitch budget", func(t *testing.T) {
		tc := scPeer(t)
		for i := 0; i < h2sm.DefaultMaxGlitches; i++ {
			tc.WritePriority(h2sm.StreamID(2*i+3), 0, 15, false)
		}
		tc.WantIdle("PRIORITY on idle streams is allowed (§5.1)")
		if a := tc.Conn().Stats().ActiveStreams; a != 0 {
			t.Errorf("ActiveStreams = %d, want 0", a)
		}
		scGet(t, tc, 1, "/") // the highest stream id did not move
		tc.WritePriority(2*h2sm.DefaultMaxGlitches+3, 0, 15, false)
		wantConnErrorClose(t, tc, "PRIORITY past MaxGlitches", 1, h2sm.ErrCodeEnhanceYourCalm)
	})
	// Stream ids going down: TestConnStreamsDecreasingID. Frames on idle
	// streams: TestConnStreamsIdleFrames. Closed streams cost no state:
	// TestConnStreamsClosedStateIsConstant.
}

// --- 16. Priority dependency cycles, CVE-2015-8659 ---

func TestAttack16PriorityCycles(t *testing.T) {
	t.Run("self-dependency on an open stream", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WritePriority(1, 1, 15, false)
		scWantStreamReset(t, tc, "§5.3.1: a stream cannot depend on itself", 1, h2sm.ErrCodeProtocol)
		if s := tc.Conn().Stats(); s.StreamErrors != 1 {
			t.Errorf("StreamErrors = %d, want 1 (it spends a local-reset token, row 12)", s.StreamErrors)
		}
	})
	t.Run("self-dependency on an idle stream", func(t *testing.T) {
		tc := scPeer(t)
		tc.WritePriority(3, 3, 15, false)
		// §6.4 forbids RST_STREAM on an idle stream, so the stream error
		// becomes a connection error (h2spec 5.3.1/2 accepts either).
		wantConnErrorClose(t, tc, "self-dependency on idle stream 3", 0, h2sm.ErrCodeProtocol)
	})
	t.Run("a cycle reshuffled 10000 times", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		scPost(t, tc, 3)
		for i := 0; i < h2sm.DefaultMaxGlitches/2; i++ {
			tc.WritePriority(1, 3, 15, true)
			tc.WritePriority(3, 1, 15, true)
		}
		tc.WantIdle("no tree: nothing to loop over, nothing to answer")
		tc.WritePriority(1, 3, 15, true)
		wantConnErrorClose(t, tc, "PRIORITY past MaxGlitches", 3, h2sm.ErrCodeEnhanceYourCalm)
	})
	// HEADERS with a self-dependency: TestConnHeadersSelfDependency.
}

// --- 17. Slowloris, slow preface, handshake timeouts ---

// The TLS handshake timeout and reads that stall below the HTTP/2 framing
// are the adapter's (adapters/netconn).
func TestAttack17SlowHandshake(t *testing.T) {
	t.Run("preface one octet a second", func(t *testing.T) {
		tc := memory.NewPeer(t)
		wantDefaultServerPreface(tc)
		preface := []byte(http2.ClientPreface)
		for i := 0; i < 10; i++ {
			tc.WantIdle("within HandshakeTimeout")
			tc.WriteRaw(preface[i : i+1])
			tc.Advance(time.Second)
		}
		if tc.Elapsed() != h2sm.DefaultHandshakeTimeout {
			t.Errorf("closed at %v, want HandshakeTimeout %v", tc.Elapsed(), h2sm.DefaultHandshakeTimeout)
		}
		wantConnErrorClose(t, tc, "HandshakeTimeout bounds the whole preface", 0, h2sm.ErrCodeProtocol)
	})
	t.Run("preface, then no SETTINGS", func(t *testing.T) {
		tc := memory.NewPeer(t)
		wantDefaultServerPreface(tc)
		tc.Preface()
		if d := tc.AdvanceToTimer(); d != h2sm.DefaultHandshakeTimeout {
			t.Errorf("closed after %v, want %v", d, h2sm.DefaultHandshakeTimeout)
		}
		wantConnErrorClose(t, tc, "no SETTINGS", 0, h2sm.ErrCodeProtocol)
	})
	t.Run("our SETTINGS never acknowledged", func(t *testing.T) {
		tc := memory.NewPeer(t)
		wantDefaultServerPreface(tc)
		tc.Preface()
		tc.WriteSettings()
		tc.WantFrame("ACK of the client's SETTINGS", memory.Settings{Ack: true})
		if d := tc.AdvanceToTimer(); d != h2sm.DefaultSettingsAckTimeout {
			t.Errorf("closed after %v, want %v", d, h2sm.DefaultSettingsAckTimeout)
		}
		wantConnErrorClose(t, tc, "§6.5.3 SETTINGS_TIMEOUT", 0, h2sm.ErrCodeSettingsTimeout)
	})
	t.Run("idle after a request", func(t *testing.T) {
		tc := scPeer(t)
		openGET(tc, 1)
		finish(tc, 1)
		// PINGs keep the peer talking, but an idle connection is one with no
		// stream: they neither extend nor multiply the timer.
		at, _ := tc.Conn().Deadline()
		for i := 0; i < 100; i++ {
			tc.Advance(time.Second)
			tc.WritePing(false, atkPayload(i))
			tc.WantFrame("PING ACK", memory.Ping{Ack: true, Data: atkPayload(i)})
			if now, _ := tc.Conn().Deadline(); !now.Equal(at) {
				t.Fatalf("a PING moved the deadline from %v to %v", at, now)
			}
		}
		tc.AdvanceToTimer()
		if tc.Elapsed() != h2sm.DefaultIdleTimeout {
			t.Errorf("idle GOAWAY at %v, want IdleTimeout %v", tc.Elapsed(), h2sm.DefaultIdleTimeout)
		}
		tc.WantGoAway("idle: GOAWAY NO_ERROR", 1, h2sm.ErrCodeNo)
		wantGracefulClose(t, tc, "idle close")
	})
	// A header block trickled in: TestAttack11ContinuationFlood. A write
	// stall: TestAttack08InternalBuffering. Keepalive PINGs:
	// TestConnPingKeepaliveUnanswered.
}

// --- 18. Zero window / slow read, CVE-2016-1546 ---

func TestAttack18ZeroWindow(t *testing.T) {
	const m = h2sm.DefaultMaxConcurrentStreams
	t.Run("window never opened: every stream reset at StreamStallTimeout", func(t *testing.T) {
		tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
		for i := 0; i < m; i++ {
			id := h2sm.StreamID(2*i + 1)
			openGET(tc, id)
			tc.Respond(id, 200, false)
			tc.WantHeaders("response headers", id, false)
			tc.SendData(id, atkMiB, true)
		}
		tc.WantNoFrame("no DATA into a closed window")
		if s := tc.Conn().Stats(); s.BufferedSendBytes != m*h2sm.DefaultStreamSendBuffer {
			t.Errorf("BufferedSendBytes = %d, want M×StreamSendBuffer = %d", s.BufferedSendBytes, m*h2sm.DefaultStreamSendBuffer)
		}
		if d := tc.AdvanceToTimer(); d != h2sm.DefaultStreamStallTimeout {
			t.Errorf("stall after %v, want StreamStallTimeout %v", d, h2sm.DefaultStreamStallTimeout)
		}
		for i := 0; i < m; i++ {
			tc.WantRSTStream("stalled on flow control", h2sm.StreamID(2*i+1), h2sm.ErrCodeCancel)
		}
		for i := 0; i < m; i++ {
			atkWantReset(t, tc, "the application is told, and frees its slot", h2sm.StreamID(2*i+1), h2sm.ErrCodeCancel, false)
		}
		if s := tc.Conn().Stats(); s.ActiveStreams != 0 || s.BufferedSendBytes != 0 {
			t.Errorf("ActiveStreams %d, BufferedSendBytes %d; want 0, 0", s.ActiveStreams, s.BufferedSendBytes)
		}
		tc.Do(func(c *h2sm.Conn, now time.Time) {
			if _, err := c.WriteData(now, 1, []byte("more"), false); err == nil {
				t.Error("WriteData on a stalled-out stream succeeded")
			}
		})
		tc.WantIdle("nothing else; the connection stays open")
	})
	t.Run("one octet of window every StreamStallTimeout/2 keeps it alive", func(t *testing.T) {
		tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
		openGET(tc, 1)
		tc.Respond(1, 200, false)
		tc.WantHeaders("response headers", 1, false)
		tc.SendData(1, make([]byte, 100), true)
		for i := 0; i < 20; i++ {
			tc.Advance(h2sm.DefaultStreamStallTimeout / 2)
			tc.WriteWindowUpdate(1, 1)
			tc.WantFrame("progress", memory.Data{Stream: 1, Data: []byte{0}})
		}
		tc.WantIdle("no reset while the stream makes progress")
	})
}

// --- 19. Huge header lists, RFC 9113 §10.5.1 ---

func TestAttack19HugeHeaderLists(t *testing.T) {
	const limit = h2sm.DefaultMaxHeaderListSize
	// '~' has a 13-bit Huffman code: the encoder sends it as is, so the
	// encoded size is the decoded size.
	big := func(n int) []h2sm.HeaderField { return scBase(scField("x-big", strings.Repeat("~", n))) }
	t.Run("1.5× the limit: 431, the connection stays usable", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteHeaders(1, big(limit*3/2), memory.EndStream)
		tc.WantFrame("431 (§10.5.1)", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields(":status", "431")})
		tc.WriteHeaders(3, big(limit*3/2))
		tc.WantFrame("431", memory.Headers{Stream: 3, EndStream: true, Fields: memory.Fields(":status", "431")})
		tc.WantFrame("a request with a body is also told to stop sending (§8.1)", memory.RSTStream{Stream: 3, Code: h2sm.ErrCodeNo})
		tc.WantNoEvent("the application never sees either")
		scWantUsable(t, tc, 5)
	})
	t.Run("10× the limit in one field: GOAWAY at the first frame", func(t *testing.T) {
		tc := scPeer(t)
		before := tc.Conn().Stats().BytesIn
		tc.WriteHeaders(1, big(10*limit), memory.EndStream) // 41 frames written at once
		if in := tc.Conn().Stats().BytesIn - before; in > 9+h2sm.DefaultMaxFrameSize {
			t.Errorf("consumed %d octets of the block, want one frame at most", in)
		}
		scWantConnError(t, tc, "a string longer than 2×MaxHeaderListSize", 1, h2sm.ErrCodeEnhanceYourCalm)
	})
	t.Run("MaxHeaderFields", func(t *testing.T) {
		fields := func(n int) []h2sm.HeaderField {
			f := scBase()
			for i := 0; i < n; i++ {
				f = append(f, scField("x-"+strings.Repeat("f", i/26+1)+string(rune('a'+i%26)), "1"))
			}
			return f
		}
		tc := scPeer(t)
		tc.WriteHeaders(1, fields(h2sm.DefaultMaxHeaderFields), memory.EndStream)
		atkWantRequest(t, tc, "MaxHeaderFields regular fields", 1, true)
		tc.WriteHeaders(3, fields(h2sm.DefaultMaxHeaderFields+1), memory.EndStream)
		tc.WantFrame("one more: 431", memory.Headers{Stream: 3, EndStream: true, Fields: memory.Fields(":status", "431")})
		tc.WantIdle("nothing else")
	})
	// 10× the limit in 1000-octet fields (GOAWAY on the encoded size):
	// TestConnHeadersEncodedBlockTooLarge. Trailers over the limit (RST_STREAM
	// ENHANCE_YOUR_CALM, no 431 after a response started):
	// TestConnHeadersTrailersTooLarge. The limit is advertised: Handshake
	// checks the server's SETTINGS against the Config.
}

// --- 20 to 23. Malformed requests (RFC 9113 §8.1 to §8.3) ---

// atkMalformed sends the named rows of the §8 matrix (scMalformedRequests in
// conn_headers_test.go) one after another on one connection: each gets
// RST_STREAM PROTOCOL_ERROR and no event, HPACK stays in sync across them
// all, and the connection still serves a request at the end.
func atkMalformed(t *testing.T, names ...string) *memory.Peer {
	t.Helper()
	tc := scPeer(t)
	id := h2sm.StreamID(1)
	for _, name := range names {
		var row *scMatrixRow
		for i := range scMalformedRequests {
			if scMalformedRequests[i].name == name {
				row = &scMalformedRequests[i]
			}
		}
		if row == nil || row.cfg != nil {
			t.Fatalf("no row %q without its own Config in scMalformedRequests", name)
		}
		var opts []memory.HeadersOption
		if !row.noEnd {
			opts = append(opts, memory.EndStream)
		}
		tc.WriteHeaders(id, row.fields, opts...)
		scWantMalformed(t, tc, name, id)
		if row.noEnd {
			tc.WriteData(id, []byte("12345"), true)
			tc.WantIdle(name + ": the body sent before the client saw the RST_STREAM is ignored")
		}
		id += 2
	}
	if s := tc.Conn().Stats(); s.StreamErrors != uint64(len(names)) || s.StreamsOpened != 0 {
		t.Errorf("StreamErrors %d, StreamsOpened %d; want %d, 0", s.StreamErrors, s.StreamsOpened, len(names))
	}
	scWantUsable(t, tc, id)
	return tc
}

func TestAttack20MalformedFields(t *testing.T) {
	atkMalformed(t, "uppercase name", "uppercase letter inside name", "space in name", "NUL in name",
		"colon inside name", "DEL in name", "non-ASCII name", "CTL in name", "empty name",
		"CRLF in value", "LF in value", "CR in value", "NUL in value",
		"leading space", "trailing tab", "CTL in value", "DEL in value")
	// What is accepted (obs-text, UTF-8, HTAB inside a value):
	// TestConnHeadersAcceptedMatrix.
}

func TestAttack21ConnectionHeaders(t *testing.T) {
	tc := atkMalformed(t, "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
		"te gzip", "te trailers and deflate")
	tc.WriteHeaders(5+2*7, scBase(scField("te", "trailers")), memory.EndStream)
	tc.WantEvent("te: trailers is the one allowed value (§8.2.2)", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 5 + 2*7, EndStream: true, Fields: memory.Fields("te", "trailers"),
	})
}

func TestAttack22PseudoHeaders(t *testing.T) {
	tc := atkMalformed(t, "missing :method", "missing :scheme", "missing :path", "duplicate :path",
		"unknown pseudo", ":status in request", "pseudo after regular", "empty :path",
		"userinfo in :authority", "CONNECT with :path", "CONNECT without :authority")
	// A pseudo-header in trailers (§8.3).
	id := h2sm.StreamID(3 + 2*11)
	scPost(t, tc, id)
	tc.WriteHeaders(id, memory.Fields(":path", "/"), memory.EndStream)
	scWantStreamReset(t, tc, "pseudo-header in trailers", id, h2sm.ErrCodeProtocol)
}

func TestAttack23ContentLength(t *testing.T) {
	tc := atkMalformed(t, "content-length +5", "content-length 5,5", "content-length abc",
		"content-length repeated", "content-length with END_STREAM on HEADERS")
	id := h2sm.StreamID(3 + 2*5)
	cl5 := scField("content-length", "5")
	scPost(t, tc, id, cl5)
	tc.WriteData(id, []byte("123456"), false)
	scWantStreamReset(t, tc, "more body than content-length (§8.1.1)", id, h2sm.ErrCodeProtocol)
	scPost(t, tc, id+2, cl5)
	tc.WriteData(id+2, []byte("1234"), true)
	// The application sees a reset, never EndStream: a body that ends short
	// is not a complete request (smuggling through a downgrade).
	scWantStreamReset(t, tc, "less body than content-length", id+2, h2sm.ErrCodeProtocol)
	tc.WantIdle("no EventData with EndStream")
}

// --- 24. h2c upgrade smuggling ---

// The core speaks HTTP/2 only: an HTTP/1.1 Upgrade request is not a
// preface. Whether a connection is handed to the core at all (TLS with ALPN
// h2, or cleartext with prior knowledge when enabled) is the adapter's:
// adapters/netconn answers Upgrade: h2c over HTTP/1.1 and never with 101.
func TestAttack24H2CUpgrade(t *testing.T) {
	t.Run("HTTP/1.1 Upgrade: h2c", func(t *testing.T) {
		tc := memory.NewPeer(t)
		wantDefaultServerPreface(tc)
		tc.WriteRaw([]byte("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
			"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"))
		wantConnErrorClose(t, tc, "not the client preface (§3.4): no 101, no request", 0, h2sm.ErrCodeProtocol)
		if s := tc.Conn().Stats(); s.StreamsOpened != 0 || s.FramesIn != [len(s.FramesIn)]uint64{} {
			t.Errorf("StreamsOpened %d, FramesIn %v; want nothing processed", s.StreamsOpened, s.FramesIn)
		}
	})
	t.Run("upgrade inside HTTP/2", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteHeaders(1, scBase(scField("upgrade", "h2c"), scField("http2-settings", "AAMAAABk")), memory.EndStream)
		scWantMalformed(t, tc, "upgrade is connection-specific (§8.2.2)", 1)
		scWantUsable(t, tc, 3)
	})
}

// --- 25. Oversized frames, bad lengths ---

func TestAttack25OversizedFrames(t *testing.T) {
	t.Run("length 2^24-1: only the header is read", func(t *testing.T) {
		tc := scPeer(t)
		frame := append([]byte{0xff, 0xff, 0xff, byte(http2.FrameData), 0, 0, 0, 0, 1}, make([]byte, 1000)...)
		tc.Do(func(c *h2sm.Conn, now time.Time) {
			if n := c.Receive(now, frame); n != 9 {
				t.Errorf("Receive consumed %d octets, want the 9-octet header only (§4.2)", n)
			}
		})
		wantConnErrorClose(t, tc, "FRAME_SIZE_ERROR", 0, h2sm.ErrCodeFrameSize)
	})
	for _, tt := range []struct {
		name    string
		typ     http2.FrameType
		stream  h2sm.StreamID
		payload int
	}{
		{"RST_STREAM of 3 octets (§6.4)", http2.FrameRSTStream, 1, 3},
		{"PING of 7 octets (§6.7)", http2.FramePing, 0, 7},
		{"WINDOW_UPDATE of 5 octets (§6.9)", http2.FrameWindowUpdate, 1, 5},
		{"connection WINDOW_UPDATE of 3 octets (§6.9)", http2.FrameWindowUpdate, 0, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scPost(t, tc, 1)
			tc.WriteRawFrame(tt.typ, 0, tt.stream, make([]byte, tt.payload))
			wantConnErrorClose(t, tc, "a fixed-length frame of the wrong length", 1, h2sm.ErrCodeFrameSize)
		})
	}
	// 16385 octets against a 16384 SETTINGS_MAX_FRAME_SIZE, any type, and a
	// larger MaxFrameSize: TestConnStreamsFrameTooLarge. PRIORITY of the
	// wrong length (a stream error, §6.3): TestAttack12MadeYouReset and
	// TestConnFrameRules. SETTINGS lengths: TestConnSettingsErrors.
}
