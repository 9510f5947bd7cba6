package memory_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// recorder is a testing.TB that records failures instead of failing the
// test, to check the harness's own failure paths. It implements what the
// Peer uses; the embedded nil TB makes anything else panic.
type recorder struct {
	testing.TB
	failed   bool
	errs     []string
	logs     []string
	cleanups []func()
}

func (r *recorder) Helper()      {}
func (r *recorder) Failed() bool { return r.failed }
func (r *recorder) Log(args ...any) {
	r.logs = append(r.logs, fmt.Sprint(args...))
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// run runs body as a test with r as its TB, in its own goroutine so that
// Fatalf can end it, and then r's cleanups.
func (r *recorder) run(body func(tb testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// wantFailure checks that r failed with an error containing each of subs.
func (r *recorder) wantFailure(t *testing.T, subs ...string) {
	t.Helper()
	if !r.failed {
		t.Fatalf("the harness did not fail the test")
	}
	all := strings.Join(r.errs, "\n")
	for _, s := range subs {
		if !strings.Contains(all, s) {
			t.Errorf("failure %q does not mention %q", all, s)
		}
	}
}

func TestPeerHandshake(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WantIdle("the handshake reads every frame it causes")
	if got := tc.Conn().Phase(); got != h2sm.PhaseOpen {
		t.Errorf("Phase() = %v, want Open", got)
	}
}

func TestPeerHandshakeChecksConfig(t *testing.T) {
	tc := memory.NewPeer(t,
		memory.WithConfig(func(c *h2sm.Config) {
			c.MaxConcurrentStreams = 7
			c.ConnWindowSize = 65535 // no connection WINDOW_UPDATE
			c.MaxFrameSize = 1 << 20
			c.EnableConnectProtocol = true
		}),
		memory.WithSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15}),
	)
	tc.Handshake()
	tc.WantIdle("nothing after the handshake")
}

func TestPeerGetResponse(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/index.html"), memory.EndStream)
	ev := tc.WantEvent("request reaches the application", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true,
		Method: "GET", Scheme: "https", Authority: "example.com", Path: "/index.html",
		Fields: []h2sm.HeaderField{}, ContentLength: -1,
	})
	tc.Respond(ev.Stream, 200, false, h2sm.HeaderField{Name: "content-type", Value: "text/plain"})
	if n := tc.SendData(ev.Stream, []byte("hello, "), false); n != 7 {
		t.Fatalf("SendData accepted %d bytes, want 7", n)
	}
	tc.SendData(ev.Stream, []byte("world"), true)
	tc.WantFrame("response headers", memory.Headers{
		Stream: 1, Fields: memory.Fields(":status", "200", "content-type", "text/plain"), Frames: 1,
	})
	body, end := tc.WantData("body, both frames concatenated", 1)
	if string(body) != "hello, world" || !end {
		t.Errorf("WantData = %q, %v; want %q, true", body, end, "hello, world")
	}
	tc.WantIdle("stream done")
}

func TestPeerTrailers(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.POST("/upload"))
	tc.WantEvent("request without END_STREAM", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, Method: "POST"})
	tc.WriteData(1, []byte("abc"), false)
	tc.WantEvent("body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("abc")})
	tc.WriteHeaders(1, memory.Fields("x-checksum", "42"), memory.EndStream)
	tc.WantEvent("request trailers", h2sm.Event{
		Kind: h2sm.EventTrailers, Stream: 1, EndStream: true, Fields: memory.Fields("x-checksum", "42"),
	})

	tc.Respond(1, 200, false)
	tc.SendData(1, []byte("ok"), false)
	tc.SendHeaders(1, memory.Fields("grpc-status", "0"), true)
	if got := tc.WantHeaders("response", 1, false); len(got) != 1 || got[0].Value != "200" {
		t.Errorf("response fields = %v", got)
	}
	if body, end := tc.WantData("body before the trailers", 1); string(body) != "ok" || end {
		t.Errorf("WantData = %q, %v; want \"ok\", false", body, end)
	}
	tc.WantFrame("response trailers", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields("grpc-status", "0")})
	tc.WantIdle("stream done")
}

func TestPeerContinuationFromClient(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	fields := memory.Request("GET", "/", memory.Fields("x-long", strings.Repeat("v", 50))...)
	tc.WriteHeaders(1, fields, memory.EndStream, memory.MaxFragment(10))
	tc.WantEvent("block reassembled", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Fields: memory.Fields("x-long", strings.Repeat("v", 50)),
	})
	tc.WriteHeaders(3, memory.GET("/split"), memory.EndStream, memory.SplitAt(0, 3))
	tc.WantEvent("empty first fragment", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true, Path: "/split"})
	if n := strings.Count(tc.Trace(), "-> CONTINUATION stream=1"); n < 3 {
		t.Errorf("trace shows %d CONTINUATION frames on stream 1, want several:\n%s", n, tc.Trace())
	}
	if !strings.Contains(tc.Trace(), "-> HEADERS stream=3 END_STREAM len=0\n") {
		t.Errorf("trace lacks the empty HEADERS fragment:\n%s", tc.Trace())
	}
	tc.Discard()
}

func TestPeerContinuationFromServer(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	big := strings.Repeat("a", 40000) // about 25000 bytes Huffman-coded: two frames
	for _, id := range []h2sm.StreamID{1, 3} {
		tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
		tc.Respond(id, 200, true, h2sm.HeaderField{Name: "x-big", Value: big})
	}
	// Stream 1 frame by frame.
	f, ok := tc.ReadFrame()
	if hf, isH := f.(*http2.HeadersFrame); !ok || !isH || hf.HeadersEnded() || !hf.StreamEnded() {
		t.Fatalf("first frame = %v, want HEADERS with END_STREAM and without END_HEADERS", f)
	}
	f, ok = tc.ReadFrame()
	if cf, isC := f.(*http2.ContinuationFrame); !ok || !isC || !cf.HeadersEnded() || cf.StreamID != 1 {
		t.Fatalf("second frame = %v, want CONTINUATION with END_HEADERS on stream 1", f)
	}
	// Stream 3 as a block.
	tc.WantFrame("the block spans two frames", memory.Headers{
		Stream: 3, EndStream: true, Frames: 2, Fields: memory.Fields(":status", "200", "x-big", big),
	})
	tc.WantIdle("both streams done")
}

func TestPeerInterruptedHeaderBlock(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.NoEndHeaders)
	tc.WantIdle("the block is not complete")
	tc.WritePing(false, [8]byte{1})
	tc.WantFrame("§6.10: a frame inside a header block", memory.GoAway{LastStream: 1, Code: h2sm.ErrCodeProtocol})
	err := tc.WantClosed("connection error")
	if !errors.Is(err, &h2sm.ConnError{Code: h2sm.ErrCodeProtocol}) {
		t.Errorf("ConnClosed error = %v, want a PROTOCOL_ERROR ConnError", err)
	}
	tc.WriteData(1, []byte("late"), true)
	if !strings.Contains(tc.Trace(), "dropped: connection closed") {
		t.Errorf("input after the close is not traced as dropped:\n%s", tc.Trace())
	}
}

func TestPeerWantEventRules(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.POST("/"))
	tc.WantEvent("only Kind, Stream and EndStream", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1})
	tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
	ev := tc.WantEvent("Err matched by code and Remote", h2sm.Event{
		Kind: h2sm.EventStreamReset, Stream: 1, Err: &h2sm.StreamError{Code: h2sm.ErrCodeCancel, Remote: true},
	})
	var se *h2sm.StreamError
	if !errors.As(ev.Err, &se) || se.Stream != 1 {
		t.Errorf("Err = %v", ev.Err)
	}

	var r recorder
	r.run(func(tb testing.TB) {
		tc := memory.NewPeer(tb)
		tc.Handshake()
		tc.WriteHeaders(1, memory.GET("/a"), memory.EndStream)
		tc.WantEvent("wrong path", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/b"})
	})
	r.wantFailure(t, "wrong path", "Path differs")
}

func TestPeerCleanupReportsUnread(t *testing.T) {
	var r recorder
	r.run(func(tb testing.TB) {
		tc := memory.NewPeer(tb)
		tc.Handshake()
		tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
		tc.WritePing(false, [8]byte{7: 9})
	})
	r.wantFailure(t, "2 unread", "ev Request stream=1", "<- PING ACK 0000000000000009")
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], "memory: trace:\n+0.000s  new conn") {
		t.Errorf("the trace is not logged on failure: %q", r.logs)
	}
}

func TestPeerCleanupDiscard(t *testing.T) {
	var r recorder
	r.run(func(tb testing.TB) {
		tc := memory.NewPeer(tb)
		tc.Handshake()
		tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
		tc.WritePing(false, [8]byte{})
		tc.Discard()
	})
	if r.failed || len(r.logs) != 0 {
		t.Errorf("Discard did not satisfy the cleanup check: %q %q", r.errs, r.logs)
	}
}

func TestPeerWantFrameMismatch(t *testing.T) {
	var r recorder
	r.run(func(tb testing.TB) {
		tc := memory.NewPeer(tb)
		tc.Handshake()
		tc.WritePing(false, [8]byte{1})
		tc.WantRSTStream("expecting a reset", 1, h2sm.ErrCodeCancel)
	})
	r.wantFailure(t, "expecting a reset", "got  PING ACK 0100000000000000", "want RST_STREAM stream=1 CANCEL")
}

func TestPeerIdleTimeout(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	if d := tc.AdvanceToTimer(); d != h2sm.DefaultIdleTimeout {
		t.Errorf("AdvanceToTimer moved %v, want the idle timeout %v", d, h2sm.DefaultIdleTimeout)
	}
	tc.WantGoAway("idle timeout", 0, h2sm.ErrCodeNo)
	if err := tc.WantClosed("graceful close"); err != nil {
		t.Errorf("ConnClosed error = %v, want nil", err)
	}
	tc.WantIdle("nothing left")
	if !strings.Contains(tc.Trace(), "+180.000s timer fired\n") {
		t.Errorf("trace lacks the timer:\n%s", tc.Trace())
	}
}

func TestPeerAdvanceToTimerWithoutTimer(t *testing.T) {
	var r recorder
	r.run(func(tb testing.TB) {
		tc := memory.NewPeer(tb)
		tc.Handshake()
		tc.CloseConn()
		tc.Discard()
		tc.AdvanceToTimer()
	})
	r.wantFailure(t, "no timer is armed")
}

func TestPeerAdvanceStopsAtEveryDeadline(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.PingInterval = 10 * time.Second }))
	tc.Handshake()
	tc.Advance(25 * time.Second) // keepalive PING at +10s, its timeout at +25s
	tc.WantFrame("keepalive", memory.Ping{Data: [8]byte{7: 1}})
	tc.WantFrame("unanswered", memory.GoAway{Code: h2sm.ErrCodeNo, Debug: "keepalive PING not answered"})
	tc.WantClosed("closed")
	if tc.Elapsed() != 25*time.Second {
		t.Errorf("Elapsed() = %v, want 25s", tc.Elapsed())
	}
	for _, line := range []string{"+10.000s timer fired", "+10.000s <- PING 0000000000000001", "+25.000s timer fired"} {
		if !strings.Contains(tc.Trace(), line+"\n") {
			t.Errorf("trace lacks %q:\n%s", line, tc.Trace())
		}
	}
}

func TestPeerNotReadingBackpressure(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.OutputHighWater = 256
		c.MaxQueuedControlFrames = 10000
	}))
	tc.Handshake()
	tc.SetReading(false)
	const pings = 100
	for i := range pings {
		tc.WritePing(false, [8]byte{7: byte(i)})
	}
	tc.WantNoFrame("the client reads nothing")
	if tc.PendingInput() == 0 {
		t.Fatalf("PendingInput() = 0: the Conn consumed every PING without output being taken")
	}
	if q := tc.Conn().Stats().QueuedOutput; q < 256 {
		t.Errorf("QueuedOutput = %d, want at least the high-water mark 256", q)
	}
	tc.SetReading(true)
	for i := range pings {
		tc.WantFrame("every PING answered once reading resumes", memory.Ping{Ack: true, Data: [8]byte{7: byte(i)}})
	}
	if n := tc.PendingInput(); n != 0 {
		t.Errorf("PendingInput() = %d after reading resumed, want 0", n)
	}
	tc.WantIdle("done")
}

func TestPeerNotReadingFlood(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.MaxQueuedControlFrames = 10 }))
	tc.Handshake()
	tc.SetReading(false)
	for range 11 {
		tc.WritePing(false, [8]byte{})
	}
	err := tc.WantClosed("events arrive even while the client does not read")
	if !errors.Is(err, &h2sm.ConnError{Code: h2sm.ErrCodeEnhanceYourCalm}) {
		t.Errorf("ConnClosed error = %v, want ENHANCE_YOUR_CALM", err)
	}
	tc.SetReading(true)
	for range 10 {
		tc.WantFrame("queued PING ACKs", memory.Ping{Ack: true})
	}
	tc.WantGoAway("control frame flood", 0, h2sm.ErrCodeEnhanceYourCalm)
	tc.WantIdle("done")
}

func TestPeerNotReadingWriteStall(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.SetReading(false)
	tc.Respond(1, 200, false)
	tc.SendData(1, []byte("never read"), true)
	if d := tc.AdvanceToTimer(); d != h2sm.DefaultWriteStallTimeout {
		t.Errorf("AdvanceToTimer moved %v, want the write-stall timeout", d)
	}
	if err := tc.WantClosed("write stall"); err == nil {
		t.Errorf("ConnClosed error = nil, want the write-stall error")
	}
	tc.SetReading(true)
	tc.WantHeaders("output framed before the close is flushed", 1, false)
	tc.WantIdle("body not framed before the close is dropped")
}

func TestPeerTrace(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.ConnWindowSize = 65535 }))
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.Reset(1, h2sm.ErrCodeCancel)
	tc.WantRSTStream("reset by the application", 1, h2sm.ErrCodeCancel)
	tc.Note("done")
	const want = `+0.000s  new conn (reading=true)
+0.000s  <- SETTINGS MAX_CONCURRENT_STREAMS=100 INITIAL_WINDOW_SIZE=1048576 MAX_HEADER_LIST_SIZE=65536
+0.000s     deadline +10.000s
+0.000s  -> PREFACE
+0.000s  -> SETTINGS
+0.000s  <- SETTINGS ACK
+0.000s  -> SETTINGS ACK
+0.000s     deadline +180.000s
+0.000s  -> HEADERS stream=1 END_STREAM END_HEADERS len=13 :method=GET :scheme=https :authority=example.com :path=/
+0.000s     deadline none
+0.000s  ev Request stream=1 END_STREAM method=GET scheme=https authority=example.com path=/
+0.000s  app ResetStream stream=1 CANCEL
+0.000s  <- RST_STREAM stream=1 CANCEL
+0.000s     deadline +180.000s
+0.000s  # done
`
	if got := tc.Trace(); got != want {
		t.Errorf("Trace() =\n%s\nwant\n%s", got, want)
	}
}

func TestPeerDoReturnsCommandErrors(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	var err error
	tc.Do(func(c *h2sm.Conn, now time.Time) { _, err = c.WriteData(now, 1, []byte("x"), true) })
	if !errors.Is(err, h2sm.ErrUnknownStream) {
		t.Errorf("WriteData on an unknown stream: %v, want ErrUnknownStream", err)
	}
	tc.WantIdle("a command error has no output")
}

func TestPeerRawFrames(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteRawFrame(0xfa, 0x3, 0, []byte("ignored"))
	tc.WantIdle("§4.1: unknown frame types are ignored")
	frame := []byte{0, 0, 8, byte(http2.FramePing), 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	tc.WriteRaw(frame[:5])
	tc.WantIdle("half a frame")
	tc.WriteRaw(frame[5:])
	tc.WantFrame("the frame completed across writes", memory.Ping{Ack: true, Data: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}})
	tc.WriteDataPadded(1, nil, true, 0)
	tc.WantGoAway("§5.1: DATA on an idle stream", 0, h2sm.ErrCodeProtocol)
	tc.WantClosed("closed")
	for _, line := range []string{
		"-> UNKNOWN_FRAME_TYPE_250 stream=0 len=7 flags=0x3",
		"-> DATA stream=1 END_STREAM PADDED len=0 pad=0",
	} {
		if !strings.Contains(tc.Trace(), line) {
			t.Errorf("trace lacks %q:\n%s", line, tc.Trace())
		}
	}
}

func TestPeerHeadersOptions(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.WriteHeaders(1, memory.GET("/"), memory.EndStream, memory.Padded(0), memory.Priority(0, 0, false))
	tc.WantEvent("padding and priority are stripped", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.WriteHeaders(3, memory.GET("/"), memory.EndStream, memory.Padded(200), memory.Priority(1, 15, true))
	tc.WantEvent("with values", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true})
	tc.WriteHeaders(5, memory.GET("/"), memory.EndStream, memory.Priority(5, 0, false))
	tc.WantRSTStream("§5.3.1: a stream cannot depend on itself", 5, h2sm.ErrCodeProtocol)
	for _, line := range []string{
		"-> HEADERS stream=1 END_STREAM END_HEADERS PADDED PRIORITY dep=0 weight=0 len=",
		"-> HEADERS stream=3 END_STREAM END_HEADERS PADDED PRIORITY dep=1 weight=15 excl len=",
	} {
		if !strings.Contains(tc.Trace(), line) {
			t.Errorf("trace lacks %q:\n%s", line, tc.Trace())
		}
	}
}
