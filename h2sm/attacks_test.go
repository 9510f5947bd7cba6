package h2sm_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// One test per row of the attack catalogue (research/attacks.md §1, recipes
// in §3), named TestAttack<row><name>: rows 1 to 12 here, 13 to 25 in
// attacks_protocol_test.go. Each sends the attack as the recipe says, checks
// the exact answer (GOAWAY code and last stream id, RST_STREAM code, 431, or
// a close) and the bound (Stats gauges, and testing.AllocsPerRun for the
// paths that must cost O(1) per frame). Unless a subtest says otherwise the
// Config is the default one, so these also pin the documented defaults.
// Where an older test already covers a recipe step, a comment names it
// instead of repeating it. attacks_legit_test.go holds the false-positive
// tests; docs/security.md maps every row to its tests.

// --- helpers ---

// atkPayload is the PING payload number i.
func atkPayload(i int) [8]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return b
}

// atkMiB is a response body of 1 MiB, for tests that offer it to many
// streams (WriteData copies what it accepts).
var atkMiB = make([]byte, 1<<20)

// atkWantClosedCalm reads EventConnClosed and checks that it carries a local
// ENHANCE_YOUR_CALM connection error.
func atkWantClosedCalm(t *testing.T, tc *memory.Peer, why string) {
	t.Helper()
	err := tc.WantClosed(why)
	var ce *h2sm.ConnError
	if !errors.As(err, &ce) || ce.Code != h2sm.ErrCodeEnhanceYourCalm || ce.Remote {
		t.Fatalf("%s: ConnClosed error = %v, want a local ENHANCE_YOUR_CALM", why, err)
	}
}

// atkWantRequest reads the request event of a GET with END_STREAM on id.
func atkWantRequest(t *testing.T, tc *memory.Peer, why string, id h2sm.StreamID, end bool) {
	t.Helper()
	tc.WantEvent(why, h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: end})
}

// atkWantReset reads the EventStreamReset a stream error on id produces.
func atkWantReset(t *testing.T, tc *memory.Peer, why string, id h2sm.StreamID, code h2sm.ErrCode, remote bool) {
	t.Helper()
	tc.WantEvent(why, h2sm.Event{Kind: h2sm.EventStreamReset, Stream: id,
		Err: &h2sm.StreamError{Code: code, Remote: remote}})
}

// atkStaticGET is a GET for / on example.com encoded without touching the
// HPACK dynamic table (static indices and a literal without indexing), for
// blocks built by hand after which the client's encoder must stay in sync.
var atkStaticGET = append([]byte{0x82, 0x87, 0x84, 0x01, 11}, "example.com"...)

// atkRaw drives a Conn without the harness, so that allocations and the
// bytes one Receive consumes can be measured. The client's frames are built
// with x/net/http2's Framer and hpack.Encoder.
type atkRaw struct {
	t      *testing.T
	c      *h2sm.Conn
	now    time.Time
	out    []byte
	fr     *http2.Framer
	buf    bytes.Buffer
	enc    *hpack.Encoder
	blk    bytes.Buffer
	events []h2sm.EventKind
}

func newAtkRaw(t *testing.T, cfg h2sm.Config, settings ...http2.Setting) *atkRaw {
	t.Helper()
	c, err := h2sm.NewConn(memory.Epoch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &atkRaw{t: t, c: c, now: memory.Epoch}
	r.fr = http2.NewFramer(&r.buf, nil)
	r.fr.AllowIllegalWrites = true
	r.enc = hpack.NewEncoder(&r.blk)
	hello := append([]byte(http2.ClientPreface), r.frames(func(fr *http2.Framer) {
		_ = fr.WriteSettings(settings...)
		_ = fr.WriteSettingsAck()
	})...)
	r.feed(hello)
	if c.Phase() != h2sm.PhaseOpen {
		t.Fatalf("Phase() = %v after the handshake, want Open", c.Phase())
	}
	return r
}

// frames returns what write writes with the client's Framer.
func (r *atkRaw) frames(write func(fr *http2.Framer)) []byte {
	r.buf.Reset()
	write(r.fr)
	return bytes.Clone(r.buf.Bytes())
}

// request returns a HEADERS frame with a GET for path on id.
func (r *atkRaw) request(id h2sm.StreamID, path string, end bool) []byte {
	r.blk.Reset()
	for _, f := range memory.GET(path) {
		_ = r.enc.WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value})
	}
	blk := bytes.Clone(r.blk.Bytes())
	return r.frames(func(fr *http2.Framer) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(id), BlockFragment: blk, EndStream: end, EndHeaders: true})
	})
}

// feed gives p to the Conn, draining the outputs after every Receive.
func (r *atkRaw) feed(p []byte) {
	r.t.Helper()
	for len(p) > 0 {
		n := r.c.Receive(r.now, p)
		p = p[n:]
		r.drain()
		if n == 0 && len(p) > 0 {
			r.t.Fatalf("Receive made no progress (phase %v)", r.c.Phase())
		}
	}
}

// drain takes the output and the events; only the kinds are kept.
func (r *atkRaw) drain() {
	r.out = r.c.AppendOutgoing(r.out[:0])
	for ev, ok := r.c.NextEvent(); ok; ev, ok = r.c.NextEvent() {
		r.events = append(r.events, ev.Kind)
	}
}

// respond sends response headers and body on id without ending the stream.
func (r *atkRaw) respond(id h2sm.StreamID, body []byte) {
	r.t.Helper()
	if err := r.c.WriteHeaders(r.now, id, []h2sm.HeaderField{{Name: ":status", Value: "200"}}, false); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.c.WriteData(r.now, id, body, false); err != nil {
		r.t.Fatal(err)
	}
	r.drain()
}

// atkWantNoAllocs checks that feeding frame, and taking the output, allocates
// nothing once warmed up: the path costs O(1) memory per frame.
func atkWantNoAllocs(t *testing.T, r *atkRaw, what string, frame []byte) {
	t.Helper()
	r.events = r.events[:0:0]
	allocs := testing.AllocsPerRun(1000, func() {
		r.feed(frame)
		r.events = r.events[:0]
	})
	if r.c.Closed() {
		t.Fatalf("%s: the connection closed during the measurement", what)
	}
	if allocs != 0 {
		t.Errorf("%s: %v allocations per frame, want 0", what, allocs)
	}
}

// --- 1. Ping flood, CVE-2019-9512 ---

func TestAttack01PingFlood(t *testing.T) {
	t.Run("peer not reading: queued ACKs bounded, then close", func(t *testing.T) {
		const limit = h2sm.DefaultMaxQueuedControlFrames
		tc := scPeer(t)
		tc.SetReading(false)
		sent := 0
		for ; sent < 20000 && !tc.Conn().Closed(); sent++ {
			tc.WritePing(false, atkPayload(sent))
			if q := tc.Conn().Stats().QueuedControlFrames; q > limit {
				t.Fatalf("after %d PINGs: QueuedControlFrames = %d > %d", sent+1, q, limit)
			}
		}
		if sent != limit+1 {
			t.Fatalf("closed after %d PINGs, want %d (MaxQueuedControlFrames+1)", sent, limit+1)
		}
		s := tc.Conn().Stats()
		// Each PING ACK is 17 octets; the GOAWAY adds 17 and its reason.
		if s.QueuedControlFrames != limit || s.QueuedOutput > limit*17+17+64 {
			t.Errorf("QueuedControlFrames %d, QueuedOutput %d; want %d and at most %d",
				s.QueuedControlFrames, s.QueuedOutput, limit, limit*17+17+64)
		}
		atkWantClosedCalm(t, tc, "the PING that would pass the bound closes the connection")
		tc.SetReading(true)
		for i := 0; i < limit; i++ {
			tc.WantFrame("the ACKs queued before the bound are still there to flush", memory.Ping{Ack: true, Data: atkPayload(i)})
		}
		tc.WantGoAway("a best-effort GOAWAY after them", 0, h2sm.ErrCodeEnhanceYourCalm)
		tc.WantIdle("nothing else")
	})
	t.Run("peer reading: glitch budget", func(t *testing.T) {
		tc := scPeer(t)
		for i := 0; i < h2sm.DefaultMaxGlitches; i++ {
			tc.WritePing(false, atkPayload(i))
			tc.WantFrame("each PING within the glitch budget is answered", memory.Ping{Ack: true, Data: atkPayload(i)})
		}
		tc.WritePing(false, atkPayload(0))
		tc.WantGoAway("PINGs past MaxGlitches at a frozen clock", 0, h2sm.ErrCodeEnhanceYourCalm)
		atkWantClosedCalm(t, tc, "closed")
	})
	t.Run("no allocation per PING", func(t *testing.T) {
		r := newAtkRaw(t, h2sm.Config{})
		ping := r.frames(func(fr *http2.Framer) { _ = fr.WritePing(false, atkPayload(7)) })
		atkWantNoAllocs(t, r, "PING", ping)
	})
	// PING ACK not answered, PING on a stream, PING of 7 octets:
	// TestConnPingAckNotAnswered and TestConnPingErrors.
}

// --- 2. Settings flood, CVE-2019-9515 ---

func TestAttack02SettingsFlood(t *testing.T) {
	t.Run("peer not reading: owed ACKs bounded, then close", func(t *testing.T) {
		const limit = h2sm.DefaultMaxQueuedControlFrames
		tc := scPeer(t)
		tc.SetReading(false)
		sent := 0
		for ; sent < 20000 && !tc.Conn().Closed(); sent++ {
			tc.WriteSettings()
		}
		if sent != limit+1 {
			t.Fatalf("closed after %d SETTINGS, want %d", sent, limit+1)
		}
		if s := tc.Conn().Stats(); s.QueuedControlFrames != limit || s.QueuedOutput > limit*9+17+64 {
			t.Errorf("QueuedControlFrames %d, QueuedOutput %d; want %d and at most %d",
				s.QueuedControlFrames, s.QueuedOutput, limit, limit*9+17+64)
		}
		atkWantClosedCalm(t, tc, "the SETTINGS whose ACK would pass the bound")
		tc.SetReading(true)
		for i := 0; i < limit; i++ {
			tc.WantFrame("one ACK per SETTINGS frame (§6.5.3), not coalesced", memory.Settings{Ack: true})
		}
		tc.WantGoAway("best-effort GOAWAY", 0, h2sm.ErrCodeEnhanceYourCalm)
		tc.WantIdle("nothing else")
	})
	t.Run("peer reading: one ACK each, then the glitch budget", func(t *testing.T) {
		tc := scPeer(t)
		// The client's first SETTINGS (in Handshake) is free; every later one
		// costs a glitch token.
		for i := 0; i < h2sm.DefaultMaxGlitches; i++ {
			tc.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(65535 + i%2)})
			tc.WantFrame("ACK", memory.Settings{Ack: true})
		}
		tc.WriteSettings()
		tc.WantGoAway("SETTINGS past MaxGlitches at a frozen clock", 0, h2sm.ErrCodeEnhanceYourCalm)
		atkWantClosedCalm(t, tc, "closed")
		if got := tc.Conn().Stats().FramesOut[h2sm.FrameSettings]; got != 2+h2sm.DefaultMaxGlitches {
			t.Errorf("FramesOut[SETTINGS] = %d, want %d (ours, the handshake ACK, one ACK each)", got, 2+h2sm.DefaultMaxGlitches)
		}
	})
	t.Run("32 entries in one frame are accepted", func(t *testing.T) {
		tc := scPeer(t)
		many := make([]http2.Setting, h2sm.DefaultMaxSettingsEntries)
		for i := range many {
			many[i] = http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(i)}
		}
		tc.WriteSettings(many...)
		tc.WantFrame("MaxSettingsEntries entries, duplicates included (h2spec 6.5.3/1)", memory.Settings{Ack: true})
		// 33 entries: TestConnSettingsErrors ("too many settings"), GOAWAY
		// ENHANCE_YOUR_CALM. The last duplicate wins:
		// TestConnSettingsInitialWindowDuplicateLastWins.
		scWantUsable(t, tc, 1)
	})
}

// --- 3. Reset flood, CVE-2019-9514 ---

func TestAttack03ResetFlood(t *testing.T) {
	bad := scBase(scField("X-Upper", "1")) // §8.2: uppercase names are malformed
	t.Run("output drained: RST each, then GOAWAY after the local-reset budget", func(t *testing.T) {
		tc := scPeer(t)
		id := h2sm.StreamID(1)
		for i := 0; i < h2sm.DefaultMaxLocalResets; i++ {
			tc.WriteHeaders(id, bad, memory.EndStream)
			tc.WantRSTStream("a malformed request is reset (§8.1.1, §8.2)", id, h2sm.ErrCodeProtocol)
			tc.WantNoEvent("the application never sees it")
			id += 2
		}
		tc.WriteHeaders(id, bad, memory.EndStream)
		tc.WantGoAway("MaxLocalResets+1: the last stream id is the one just processed", id, h2sm.ErrCodeEnhanceYourCalm)
		atkWantClosedCalm(t, tc, "closed")
		if s := tc.Conn().Stats(); s.StreamsOpened != 0 || s.StreamsResetLocal != h2sm.DefaultMaxLocalResets {
			t.Errorf("StreamsOpened %d, StreamsResetLocal %d; want 0, %d", s.StreamsOpened, s.StreamsResetLocal, h2sm.DefaultMaxLocalResets)
		}
	})
	t.Run("output not drained: RST queue bounded", func(t *testing.T) {
		const limit = 100
		tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxQueuedControlFrames = limit }))
		tc.SetReading(false)
		id := h2sm.StreamID(1)
		for ; id < 2*5000 && !tc.Conn().Closed(); id += 2 {
			tc.WriteHeaders(id, bad, memory.EndStream)
		}
		if want := h2sm.StreamID(2*limit + 3); id != want {
			t.Fatalf("the flood stopped before stream %d, want %d (the RST_STREAM that would be number %d closes)", id, want, limit+1)
		}
		if q := tc.Conn().Stats().QueuedControlFrames; q != limit {
			t.Errorf("QueuedControlFrames = %d, want %d", q, limit)
		}
		atkWantClosedCalm(t, tc, "too many queued control frames")
		tc.SetReading(true)
		for i := h2sm.StreamID(1); i < 2*limit; i += 2 {
			tc.WantRSTStream("queued RST_STREAM", i, h2sm.ErrCodeProtocol)
		}
		tc.WantGoAway("then GOAWAY", 2*limit+1, h2sm.ErrCodeEnhanceYourCalm)
	})
	t.Run("output not drained, defaults: the reset budget comes first", func(t *testing.T) {
		tc := scPeer(t)
		tc.SetReading(false)
		id := h2sm.StreamID(1)
		for ; id < 2*5000 && !tc.Conn().Closed(); id += 2 {
			tc.WriteHeaders(id, bad, memory.EndStream)
		}
		if want := h2sm.StreamID(2*h2sm.DefaultMaxLocalResets + 3); id != want {
			t.Fatalf("the flood stopped before stream %d, want %d", id, want)
		}
		// 1000 RST_STREAMs queued: within MaxQueuedControlFrames, the
		// 1001st stream error is refused by the reset budget.
		if q := tc.Conn().Stats().QueuedControlFrames; q != h2sm.DefaultMaxLocalResets {
			t.Errorf("QueuedControlFrames = %d, want %d", q, h2sm.DefaultMaxLocalResets)
		}
		atkWantClosedCalm(t, tc, "too many stream errors")
		tc.Discard() // the output is never read
	})
}

// --- 4. Empty frames flood, CVE-2019-9518 ---

func TestAttack04EmptyFrames(t *testing.T) {
	t.Run("empty DATA", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		for i := 0; i < h2sm.DefaultMaxEmptyFrames; i++ {
			tc.WriteData(1, nil, false)
		}
		tc.WantIdle("MaxEmptyFrames empty DATA frames: no event, no WINDOW_UPDATE (no window was used)")
		tc.WriteData(1, nil, false)
		tc.WantGoAway("the next empty DATA frame", 1, h2sm.ErrCodeEnhanceYourCalm)
		atkWantClosedCalm(t, tc, "closed")
	})
	t.Run("padding-only DATA: flow-control credit returned", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		for i := 0; i <= h2sm.DefaultMaxEmptyFrames; i++ {
			tc.WriteDataPadded(1, nil, false, 255) // 256 octets of flow control, no data
		}
		// §6.1: padding counts against flow control; the server returns the
		// credit at once, batched (4 KiB): 100×256 octets make 6 updates of
		// 4096 per window before the 101st frame closes the connection.
		var conn, stream uint32
		for {
			f, ok := tc.ReadFrame()
			if !ok {
				t.Fatal("no GOAWAY")
			}
			if wu, ok := f.(*http2.WindowUpdateFrame); ok {
				if wu.StreamID == 0 {
					conn += wu.Increment
				} else {
					stream += wu.Increment
				}
				continue
			}
			if ga, ok := f.(*http2.GoAwayFrame); !ok || ga.ErrCode != http2.ErrCodeEnhanceYourCalm || ga.LastStreamID != 1 {
				t.Fatalf("got %v, want GOAWAY last=1 ENHANCE_YOUR_CALM", f)
			}
			break
		}
		if conn != 6*4096 || stream != 6*4096 {
			t.Errorf("credit returned: connection %d, stream %d; want %d each", conn, stream, 6*4096)
		}
		atkWantClosedCalm(t, tc, "closed")
	})
	t.Run("no allocation per empty DATA", func(t *testing.T) {
		r := newAtkRaw(t, h2sm.Config{MaxEmptyFrames: 1 << 30})
		r.feed(r.request(1, "/", false))
		empty := r.frames(func(fr *http2.Framer) { _ = fr.WriteData(1, false, nil) })
		atkWantNoAllocs(t, r, "empty DATA", empty)
	})
	// Empty CONTINUATIONs: TestAttack11ContinuationFlood (the CONTINUATION
	// count stops them first). Legitimate small and END_STREAM-only frames:
	// TestLegitSmallDataFrames.
}

// --- 5. Data dribble, CVE-2019-9511 ---

func TestAttack05DataDribble(t *testing.T) {
	t.Run("WINDOW_UPDATE +1 per stream: one 1-octet DATA each, steady", func(t *testing.T) {
		const m = h2sm.DefaultMaxConcurrentStreams
		tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
		tc.WriteWindowUpdate(0, 1<<30) // the connection window is not the limit here
		for i := 0; i < m; i++ {
			id := h2sm.StreamID(2*i + 1)
			scGet(t, tc, id, "/big")
			tc.Respond(id, 200, false)
			tc.WantHeaders("response headers", id, false)
			if n := tc.SendData(id, atkMiB, true); n != h2sm.DefaultStreamSendBuffer {
				t.Fatalf("WriteData accepted %d of 1 MiB, want StreamSendBuffer %d", n, h2sm.DefaultStreamSendBuffer)
			}
		}
		tc.WantNoFrame("window 0: no DATA")
		if s := tc.Conn().Stats(); s.BufferedSendBytes != m*h2sm.DefaultStreamSendBuffer {
			t.Errorf("BufferedSendBytes = %d, want M×StreamSendBuffer = %d", s.BufferedSendBytes, m*h2sm.DefaultStreamSendBuffer)
		}
		const updates = 20000
		for i := 0; i < updates; i++ {
			id := h2sm.StreamID(2*(i%m) + 1)
			tc.WriteWindowUpdate(id, 1)
			tc.WantFrame("one DATA frame of one octet per WINDOW_UPDATE +1", memory.Data{Stream: id, Data: []byte{0}})
		}
		s := tc.Conn().Stats()
		if s.FramesOut[h2sm.FrameData] != updates || s.QueuedOutput != 0 || s.ConnErrors != 0 {
			t.Errorf("DATA frames %d, QueuedOutput %d, ConnErrors %d; want %d, 0, 0", s.FramesOut[h2sm.FrameData], s.QueuedOutput, s.ConnErrors, updates)
		}
		tc.Discard()
	})
	t.Run("connection WINDOW_UPDATE +1: one 1-octet DATA each", func(t *testing.T) {
		tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}))
		scGet(t, tc, 1, "/big")
		tc.Respond(1, 200, false)
		tc.WantHeaders("response headers", 1, false)
		tc.SendData(1, make([]byte, 65536), false)
		if body, _ := tc.WantData("the connection window's worth", 1); len(body) != 65535 {
			t.Fatalf("got %d octets, want 65535", len(body))
		}
		for i := 0; i < 5000; i++ {
			tc.WriteWindowUpdate(0, 1)
			tc.WantFrame("one octet per connection WINDOW_UPDATE +1", memory.Data{Stream: 1, Data: []byte{0}})
			tc.SendData(1, []byte{0}, false) // one octet waits again
		}
		tc.WantIdle("nothing else")
		if s := tc.Conn().Stats(); s.ConnErrors != 0 || s.BufferedSendBytes != 1 {
			t.Errorf("ConnErrors %d, BufferedSendBytes %d; want 0, 1", s.ConnErrors, s.BufferedSendBytes)
		}
	})
	t.Run("WINDOW_UPDATEs for an open window: glitch budget", func(t *testing.T) {
		// All in one input, so the server frames nothing in between: from
		// the second on, each +1 arrives for a window that is already open.
		tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
		scGet(t, tc, 1, "/big")
		tc.Respond(1, 200, false)
		tc.WantHeaders("response headers", 1, false)
		var flood []byte
		for i := 0; i < 2*h2sm.DefaultMaxGlitches; i++ {
			flood = append(flood, 0, 0, 4, byte(http2.FrameWindowUpdate), 0, 0, 0, 0, 1, 0, 0, 0, 1)
		}
		tc.WriteRaw(flood)
		tc.WantGoAway("MaxGlitches+2 WINDOW_UPDATEs: the first opened the window", 1, h2sm.ErrCodeEnhanceYourCalm)
		atkWantClosedCalm(t, tc, "closed")
		if got := tc.Conn().Stats().FramesIn[h2sm.FrameWindowUpdate]; got != h2sm.DefaultMaxGlitches+2 {
			t.Errorf("WINDOW_UPDATEs processed = %d, want %d", got, h2sm.DefaultMaxGlitches+2)
		}
	})
	t.Run("no allocation per WINDOW_UPDATE", func(t *testing.T) {
		r := newAtkRaw(t, h2sm.Config{}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		for id := h2sm.StreamID(1); id < 200; id += 2 {
			r.feed(r.request(id, "/", true))
			r.respond(id, make([]byte, 4096))
		}
		// A stream WINDOW_UPDATE +1 frames one octet of DATA.
		atkWantNoAllocs(t, r, "stream WINDOW_UPDATE", r.frames(func(fr *http2.Framer) { _ = fr.WriteWindowUpdate(1, 1) }))
		// A connection WINDOW_UPDATE with 100 streams waiting costs O(1):
		// open every stream window, then use up the connection window.
		for id := uint32(1); id < 200; id += 2 {
			r.feed(r.frames(func(fr *http2.Framer) { _ = fr.WriteWindowUpdate(id, 1<<20) }))
		}
		if s := r.c.Stats(); s.BufferedSendBytes == 0 {
			t.Fatal("every body was sent: the connection window is not the limit")
		}
		atkWantNoAllocs(t, r, "connection WINDOW_UPDATE", r.frames(func(fr *http2.Framer) { _ = fr.WriteWindowUpdate(0, 1) }))
	})
	// Windows past 2^31-1 (h2spec 6.9.1): TestConnFrameRules and
	// TestConnFlowWindowUpdateErrors.
}

// --- 6. Resource loop (priority churn), CVE-2019-9513 ---

func TestAttack06PriorityChurn(t *testing.T) {
	t.Run("churn among open streams: glitch budget, no state", func(t *testing.T) {
		const m = h2sm.DefaultMaxConcurrentStreams
		tc := scPeer(t)
		for i := 0; i < m; i++ {
			scPost(t, tc, h2sm.StreamID(2*i+1))
		}
		x := uint32(1)
		next := func() h2sm.StreamID { // a deterministic shuffle (LCG)
			x = x*1103515245 + 12345
			return h2sm.StreamID(2*((x>>8)%m) + 1)
		}
		for i := 0; i < h2sm.DefaultMaxGlitches; i++ {
			a, b := next(), next()
			if a == b {
				b = a + 1 // an even, idle parent is allowed too
			}
			tc.WritePriority(a, b, uint8(i), true)
		}
		tc.WantIdle("PRIORITY is parsed and ignored (RFC 9113 §5.3.2): no frame, no event")
		if s := tc.Conn().Stats(); s.ActiveStreams != m || s.StreamErrors != 0 {
			t.Errorf("ActiveStreams %d, StreamErrors %d; want %d, 0", s.ActiveStreams, s.StreamErrors, m)
		}
		tc.WritePriority(1, 3, 0, true)
		tc.WantGoAway("PRIORITY past MaxGlitches at a frozen clock", 2*m-1, h2sm.ErrCodeEnhanceYourCalm)
		atkWantClosedCalm(t, tc, "closed")
	})
	t.Run("no allocation per PRIORITY", func(t *testing.T) {
		r := newAtkRaw(t, h2sm.Config{})
		for id := h2sm.StreamID(1); id < 200; id += 2 {
			r.feed(r.request(id, "/", false))
		}
		prio := r.frames(func(fr *http2.Framer) {
			_ = fr.WritePriority(7, http2.PriorityParam{StreamDep: 99, Exclusive: true, Weight: 200})
		})
		atkWantNoAllocs(t, r, "PRIORITY", prio)
	})
}

// --- 7. 0-length headers leak, CVE-2019-9516 ---

func TestAttack07EmptyHeaderNames(t *testing.T) {
	block := func(repr []byte, n int) []byte {
		b := bytes.Clone(atkStaticGET)
		for i := 0; i < n; i++ {
			b = append(b, repr...)
		}
		return b
	}
	t.Run("5000 empty fields", func(t *testing.T) {
		tc := scPeer(t)
		// 0x00 0x00 0x00: literal without indexing, new name of length 0,
		// value of length 0. 5000 of them fit in one 16 KiB frame.
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, block([]byte{0, 0, 0}, 5000))
		tc.WantRSTStream("an empty name is malformed (§8.2.1)", 1, h2sm.ErrCodeProtocol)
		tc.WantNoEvent("no request event")
		if s := tc.Conn().Stats(); s.HeaderBlockBytes != 0 || s.QueuedEvents != 0 {
			t.Errorf("HeaderBlockBytes %d, QueuedEvents %d after the block; want 0, 0", s.HeaderBlockBytes, s.QueuedEvents)
		}
		scWantUsable(t, tc, 3)
	})
	t.Run("with incremental indexing: the table holds 128", func(t *testing.T) {
		tc := scPeer(t)
		// 0x40 0x00 0x00 inserts an entry of 32 octets each time: a 4096-octet
		// table holds the last 128 (RFC 7541 §4.4).
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, block([]byte{0x40, 0, 0}, 5000))
		tc.WantRSTStream("malformed", 1, h2sm.ErrCodeProtocol)
		// Index 61+128 is the oldest entry: it decodes (and is malformed);
		// 61+129 is past the table.
		oldest := append(bytes.Clone(atkStaticGET), 0xff, 61+128-127)
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 3, oldest)
		tc.WantRSTStream("the 128th entry is still there", 3, h2sm.ErrCodeProtocol)
		past := append(bytes.Clone(atkStaticGET), 0xff, 61+129-127)
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 5, past)
		scWantConnError(t, tc, "there is no 129th (COMPRESSION_ERROR)", 5, h2sm.ErrCodeCompression)
	})
	t.Run("repeated over streams: no per-field allocation", func(t *testing.T) {
		r := newAtkRaw(t, h2sm.Config{MaxLocalResets: 1 << 30})
		blk := block([]byte{0, 0, 0}, 5000)
		id := uint32(1)
		frame := func() []byte {
			id += 2
			return r.frames(func(fr *http2.Framer) {
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: true, EndHeaders: true})
			})
		}
		frames := make([][]byte, 0, 1101)
		for i := 0; i < 1101; i++ {
			frames = append(frames, frame())
		}
		for _, f := range frames[:100] {
			r.feed(f)
		}
		i := 100
		allocs := testing.AllocsPerRun(1000, func() {
			r.feed(frames[i])
			i++
		})
		// The stream error (its reason and the reset event's error) costs a
		// few allocations per stream; 5000 fields must cost none.
		if allocs > 4 {
			t.Errorf("%v allocations per rejected 5000-field block, want at most 4", allocs)
		}
		if s := r.c.Stats(); s.StreamErrors != 1101 || s.StreamsOpened != 0 || r.c.Closed() {
			t.Errorf("StreamErrors %d, StreamsOpened %d, closed %v; want 1101, 0, false", s.StreamErrors, s.StreamsOpened, r.c.Closed())
		}
	})
}

// --- 8. Internal data buffering, CVE-2019-9517 ---

func TestAttack08InternalBuffering(t *testing.T) {
	const m = h2sm.DefaultMaxConcurrentStreams
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1}))
	tc.WriteWindowUpdate(0, 1<<31-1-65535) // both windows wide open
	tc.SetReading(false)                   // and the transport takes nothing
	for i := 0; i < 1000; i++ {
		id := h2sm.StreamID(2*i + 1)
		tc.WriteHeaders(id, memory.GET("/1MiB"), memory.EndStream)
		if i >= m {
			continue // refused: REFUSED_STREAM (row 15)
		}
		atkWantRequest(t, tc, "request", id, true)
		tc.Respond(id, 200, false)
		if n := tc.SendData(id, atkMiB, true); n != h2sm.DefaultStreamSendBuffer {
			t.Fatalf("stream %d: WriteData accepted %d of 1 MiB, want StreamSendBuffer %d (backpressure)", id, n, h2sm.DefaultStreamSendBuffer)
		}
	}
	tc.WantNoEvent("no EventStreamWritable while nothing is sent")
	s := tc.Conn().Stats()
	if s.BufferedSendBytes != m*h2sm.DefaultStreamSendBuffer || s.QueuedOutput > h2sm.DefaultOutputHighWater {
		t.Errorf("BufferedSendBytes %d, QueuedOutput %d; want M×StreamSendBuffer = %d and at most OutputHighWater",
			s.BufferedSendBytes, s.QueuedOutput, m*h2sm.DefaultStreamSendBuffer)
	}
	if s.StreamsRefused != 1000-m {
		t.Errorf("StreamsRefused = %d, want %d", s.StreamsRefused, 1000-m)
	}
	// A pull frames one chunk of DATA (64 KiB and one frame), and nothing
	// more until it is taken.
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		before := c.Stats().QueuedOutput
		first := len(c.Outgoing())
		again := len(c.Outgoing())
		if first-before > 64<<10+16384+9 || again != first {
			t.Errorf("Outgoing framed %d octets of DATA, then %d more; want at most 64 KiB + one frame, then none",
				first-before, again-first)
		}
	})
	if d := tc.AdvanceToTimer(); d != h2sm.DefaultWriteStallTimeout {
		t.Errorf("closed after %v, want WriteStallTimeout %v", d, h2sm.DefaultWriteStallTimeout)
	}
	err := tc.WantClosed("no output taken for WriteStallTimeout")
	var ce *h2sm.ConnError
	if !errors.As(err, &ce) || ce.Code != h2sm.ErrCodeNo {
		t.Errorf("close error = %v, want a local NO_ERROR ConnError (write stall)", err)
	}
	if s := tc.Conn().Stats(); s.BufferedSendBytes != 0 {
		t.Errorf("BufferedSendBytes = %d after the close, want 0", s.BufferedSendBytes)
	}
	tc.Discard()
}

// --- 9. Rapid Reset, CVE-2023-44487 ---

// The core frees a stream when the client resets it, so what bounds the
// work is the reset budget here, and the application's own accounting: an
// adapter must keep counting a request until its handler returns
// (research/attacks.md §2 rule 1). adapters/netconn does that (handler
// slots = MaxConcurrentStreams, a queue of 4×MaxConcurrentStreams, then
// GOAWAY ENHANCE_YOUR_CALM); its tests live there.
func TestAttack09RapidReset(t *testing.T) {
	tc := scPeer(t)
	id := h2sm.StreamID(1)
	pair := func() {
		t.Helper()
		tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
		tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
		atkWantRequest(t, tc, "the request reaches the application", id, true)
		atkWantReset(t, tc, "then its reset", id, h2sm.ErrCodeCancel, true)
		if a := tc.Conn().Stats().ActiveStreams; a != 0 {
			t.Fatalf("stream %d: ActiveStreams = %d after the reset, want 0", id, a)
		}
		id += 2
	}
	for i := 0; i < h2sm.DefaultMaxRemoteResets; i++ {
		pair()
	}
	tc.WantNoFrame("MaxRemoteResets resets in a burst are allowed")
	tc.Advance(time.Second)
	for i := 0; i < h2sm.DefaultRemoteResetRate; i++ {
		pair()
	}
	tc.WantNoFrame("RemoteResetRate more after one second")
	tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
	atkWantRequest(t, tc, "the request is delivered before its reset is seen", id, true)
	tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
	tc.WantGoAway("one reset more: GOAWAY with the last stream processed", id, h2sm.ErrCodeEnhanceYourCalm)
	atkWantClosedCalm(t, tc, "closed")
	if s := tc.Conn().Stats(); s.StreamsResetRemote != h2sm.DefaultMaxRemoteResets+h2sm.DefaultRemoteResetRate {
		t.Errorf("StreamsResetRemote = %d, want %d", s.StreamsResetRemote, h2sm.DefaultMaxRemoteResets+h2sm.DefaultRemoteResetRate)
	}
}

// --- 10. Rapid Reset, Go's handler form, CVE-2023-39325 ---

// The Go test (TestServerMaxHandlerGoroutines) is about handler slots, which
// are the adapter's (adapters/netconn). What the core must give the adapter
// for it: a reset event for every request the client resets, clean errors
// for commands on those streams, and the unreset requests intact.
func TestAttack10RapidResetHandlers(t *testing.T) {
	const m = 10
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.MaxConcurrentStreams = m }))
	for i := 0; i < m; i++ {
		openGET(tc, h2sm.StreamID(2*i+1))
	}
	tc.WriteHeaders(2*m+1, memory.GET("/"), memory.EndStream)
	tc.WantRSTStream("M requests in progress: one more is refused", 2*m+1, h2sm.ErrCodeRefusedStream)
	for i := 0; i < m; i++ {
		id := h2sm.StreamID(2*i + 1)
		tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
		atkWantReset(t, tc, "the adapter learns of every client reset", id, h2sm.ErrCodeCancel, true)
	}
	if a := tc.Conn().Stats().ActiveStreams; a != 0 {
		t.Fatalf("ActiveStreams = %d after the resets, want 0: the core frees the stream", a)
	}
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if err := c.WriteHeaders(now, 1, []h2sm.HeaderField{{Name: ":status", Value: "200"}}, true); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("a handler that finishes a reset request: WriteHeaders = %v, want ErrStreamClosed", err)
		}
	})
	// One more reset, two not: the core delivers all three; which of them
	// run is the adapter's queue.
	tc.WriteHeaders(2*m+3, memory.GET("/"), memory.EndStream)
	tc.WriteRSTStream(2*m+3, h2sm.ErrCodeCancel)
	tc.WriteHeaders(2*m+5, memory.GET("/"), memory.EndStream)
	tc.WriteHeaders(2*m+7, memory.GET("/"), memory.EndStream)
	atkWantRequest(t, tc, "reset request", 2*m+3, true)
	atkWantReset(t, tc, "its reset", 2*m+3, h2sm.ErrCodeCancel, true)
	atkWantRequest(t, tc, "request", 2*m+5, true)
	atkWantRequest(t, tc, "request", 2*m+7, true)
	finish(tc, 2*m+5)
	finish(tc, 2*m+7)
	tc.WantIdle("the two requests that were not reset are answered")
}

// --- 11. CONTINUATION flood, CVE-2023-45288 and kin ---

func TestAttack11ContinuationFlood(t *testing.T) {
	const maxCont = 16 // max(16, 2×MaxHeaderListSize/MaxFrameSize + 1) at the defaults
	bound := 2*h2sm.DefaultMaxHeaderListSize + h2sm.DefaultMaxFrameSize
	t.Run("a new field in each CONTINUATION", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, atkStaticGET)
		for i := 0; i < 1000 && !tc.Conn().Closed(); i++ {
			// Literal without indexing, new name: "x-NNN: 1234567890".
			name := []byte{'x', '-', byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)}
			frag := append(append([]byte{0, byte(len(name))}, name...), append([]byte{10}, "1234567890"...)...)
			tc.WriteContinuation(1, false, frag)
			if s := tc.Conn().Stats(); s.HeaderBlockBytes > bound {
				t.Fatalf("HeaderBlockBytes = %d > 2×MaxHeaderListSize+MaxFrameSize", s.HeaderBlockBytes)
			}
		}
		if n := tc.Conn().Stats().FramesIn[h2sm.FrameContinuation]; n != maxCont+1 {
			t.Errorf("%d CONTINUATIONs processed, want %d", n, maxCont+1)
		}
		wantConnErrorClose(t, tc, "GOAWAY at the 17th CONTINUATION, no request event", 1, h2sm.ErrCodeEnhanceYourCalm)
	})
	t.Run("empty CONTINUATIONs", func(t *testing.T) {
		// Zero octets pass any byte bound (Go's gap); the count catches them.
		tc := scPeer(t)
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, tc.EncodeHeaders(memory.GET("/")))
		for i := 0; i < 100000 && !tc.Conn().Closed(); i++ {
			tc.WriteContinuation(1, false, nil)
		}
		if n := tc.Conn().Stats().FramesIn[h2sm.FrameContinuation]; n != maxCont+1 {
			t.Errorf("%d CONTINUATIONs processed, want %d", n, maxCont+1)
		}
		wantConnErrorClose(t, tc, "GOAWAY at the 17th empty CONTINUATION", 1, h2sm.ErrCodeEnhanceYourCalm)
	})
	t.Run("a CONTINUATION every 5s: the header-block timer", func(t *testing.T) {
		tc := scPeer(t)
		block := tc.EncodeHeaders(memory.GET("/slow"))
		tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:1])
		tc.Advance(5 * time.Second)
		tc.WriteContinuation(1, false, block[1:2])
		tc.Advance(5*time.Second - time.Nanosecond)
		tc.WantIdle("trickling, not yet HeaderBlockTimeout after the HEADERS")
		tc.Advance(time.Nanosecond)
		wantConnErrorClose(t, tc, "HeaderBlockTimeout (10s) from the HEADERS: a CONTINUATION does not extend it", 1, h2sm.ErrCodeEnhanceYourCalm)
	})
	// A frame interleaved in a block (GOAWAY PROTOCOL_ERROR):
	// TestConnHeadersContinuationViolations. A block over 2×MaxHeaderListSize
	// encoded: TestConnHeadersEncodedBlockTooLarge. HPACK in sync after a
	// 431: TestAttack13HPACKBomb.
}

// --- 12. MadeYouReset, CVE-2025-8671 ---

func TestAttack12MadeYouReset(t *testing.T) {
	for _, p := range []struct {
		name string
		code h2sm.ErrCode
		send func(tc *memory.Peer, id h2sm.StreamID)
	}{
		{"zero-window", h2sm.ErrCodeProtocol, func(tc *memory.Peer, id h2sm.StreamID) { tc.WriteWindowUpdate(id, 0) }},
		{"overflow-window", h2sm.ErrCodeFlowControl, func(tc *memory.Peer, id h2sm.StreamID) { tc.WriteWindowUpdate(id, 1<<31-1) }},
		{"end-stream-headers", h2sm.ErrCodeStreamClosed, func(tc *memory.Peer, id h2sm.StreamID) {
			tc.WriteHeaders(id, memory.Fields("x-t", "1"), memory.EndStream)
		}},
		{"end-stream-data", h2sm.ErrCodeStreamClosed, func(tc *memory.Peer, id h2sm.StreamID) { tc.WriteData(id, []byte("x"), false) }},
		{"malformed-priority", h2sm.ErrCodeFrameSize, func(tc *memory.Peer, id h2sm.StreamID) {
			tc.WriteRawFrame(http2.FramePriority, 0, id, make([]byte, 6))
		}},
		{"self-dep", h2sm.ErrCodeProtocol, func(tc *memory.Peer, id h2sm.StreamID) { tc.WritePriority(id, id, 15, false) }},
	} {
		t.Run(p.name, func(t *testing.T) {
			tc := scPeer(t)
			id := h2sm.StreamID(1)
			for i := 0; i < h2sm.DefaultMaxLocalResets; i++ {
				openGET(tc, id)
				p.send(tc, id)
				tc.WantRSTStream("the RFC's answer to the primitive", id, p.code)
				atkWantReset(t, tc, "the application learns (and keeps its slot until it finishes)", id, p.code, false)
				id += 2
			}
			openGET(tc, id)
			p.send(tc, id)
			tc.WantGoAway("one server-generated reset past MaxLocalResets", id, h2sm.ErrCodeEnhanceYourCalm)
			atkWantClosedCalm(t, tc, "closed")
			if s := tc.Conn().Stats(); s.StreamErrors != h2sm.DefaultMaxLocalResets+1 || s.ActiveStreams != 0 {
				t.Errorf("StreamErrors %d, ActiveStreams %d; want %d, 0", s.StreamErrors, s.ActiveStreams, h2sm.DefaultMaxLocalResets+1)
			}
		})
	}
	// Legitimate resets spread over time: TestLegitSteadyCancels.
}
