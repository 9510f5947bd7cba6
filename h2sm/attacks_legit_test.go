package h2sm_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// False-positive tests for the limits of attacks_test.go: legitimate
// traffic close to each limit must go through untouched (research/attacks.md
// §2 rule 6). Each ends with atkWantNoAbuse.

// atkWantNoAbuse checks that the connection is open and counted no
// connection error and no stream error of its own.
func atkWantNoAbuse(t *testing.T, tc *memory.Peer) {
	t.Helper()
	s := tc.Conn().Stats()
	if tc.Conn().Closed() || s.ConnErrors != 0 || s.StreamErrors != 0 {
		t.Fatalf("closed %v, ConnErrors %d, StreamErrors %d, Errors %v; want an open connection and no error",
			tc.Conn().Closed(), s.ConnErrors, s.StreamErrors, s.Errors)
	}
}

// atkBody is n octets of a pattern that shows misordered or lost octets.
func atkBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// atkReadBodies reads every frame waiting and collects DATA per stream. It
// fails on any frame other than DATA, HEADERS or WINDOW_UPDATE.
func atkReadBodies(t *testing.T, tc *memory.Peer, bodies map[h2sm.StreamID][]byte, ended map[h2sm.StreamID]bool) {
	t.Helper()
	for {
		if h, ok := tc.ReadHeaders(); ok {
			if h.EndStream {
				ended[h.Stream] = true
			}
			continue
		}
		f, ok := tc.ReadFrame()
		if !ok {
			return
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			id := h2sm.StreamID(f.StreamID)
			bodies[id] = append(bodies[id], f.Data()...)
			if f.StreamEnded() {
				ended[id] = true
			}
		case *http2.WindowUpdateFrame:
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
}

// TestLegitBrowserBurst: a page load as browsers do it, at
// MaxConcurrentStreams: big windows, PRIORITY on idle streams (Firefox's
// groups) and in HEADERS (Chrome), 100 requests in one burst, ten of them
// cancelled after the response headers, then a second page.
func TestLegitBrowserBurst(t *testing.T) {
	const m = h2sm.DefaultMaxConcurrentStreams
	tc := scPeer(t, memory.WithSettings(
		http2.Setting{ID: http2.SettingHeaderTableSize, Val: 65536},
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 6 << 20},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 262144},
	))
	tc.WriteWindowUpdate(0, 15<<20)
	for id := h2sm.StreamID(3); id <= 11; id += 2 {
		tc.WritePriority(id, 0, 200, false)
	}
	cookie := scField("cookie", "session="+strings.Repeat("c", 2000))
	page := func(first h2sm.StreamID) {
		for i := 0; i < m; i++ {
			id := first + h2sm.StreamID(2*i)
			dep := id - 2
			if i == 0 {
				dep = 0
			}
			tc.WriteHeaders(id, memory.Request("GET", "/asset/"+strconv.Itoa(i),
				scField("accept", "*/*"), scField("user-agent", "Mozilla/5.0"), cookie),
				memory.EndStream, memory.Priority(dep, 219, true))
		}
		for i := 0; i < m; i++ {
			atkWantRequest(t, tc, "every request of the burst is accepted", first+h2sm.StreamID(2*i), true)
		}
		for i := 0; i < m; i++ {
			tc.Respond(first+h2sm.StreamID(2*i), 200, false, scField("content-type", "text/css"))
		}
		for i := 0; i < m; i++ {
			tc.WantHeaders("response headers", first+h2sm.StreamID(2*i), false)
		}
		for i := 0; i < m; i += 10 { // the user navigates: ten are cancelled
			id := first + h2sm.StreamID(2*i)
			tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
			atkWantReset(t, tc, "cancelled", id, h2sm.ErrCodeCancel, true)
		}
		for i := 0; i < m; i++ {
			if i%10 != 0 {
				tc.SendData(first+h2sm.StreamID(2*i), atkBody(20000), true)
			}
		}
		bodies, ended := map[h2sm.StreamID][]byte{}, map[h2sm.StreamID]bool{}
		atkReadBodies(t, tc, bodies, ended)
		for i := 0; i < m; i++ {
			id := first + h2sm.StreamID(2*i)
			if i%10 == 0 {
				if len(bodies[id]) != 0 {
					t.Errorf("stream %d: %d octets after the client cancelled it", id, len(bodies[id]))
				}
				continue
			}
			if !bytes.Equal(bodies[id], atkBody(20000)) || !ended[id] {
				t.Errorf("stream %d: %d octets, ended %v; want the 20000-octet body", id, len(bodies[id]), ended[id])
			}
		}
	}
	page(13)
	page(13 + 2*m)
	atkWantNoAbuse(t, tc)
}

// TestLegitCurlCancel: curl (nghttp2) aborting transfers: the response
// headers and a window's worth of body arrive, then RST_STREAM CANCEL and a
// WINDOW_UPDATE that returns the connection credit. 1500 of them over a
// minute is more than the reset burst, at a rate under RemoteResetRate.
func TestLegitCurlCancel(t *testing.T) {
	tc := scPeer(t)
	id := h2sm.StreamID(1)
	for i := 0; i < 1500; i++ {
		openGET(tc, id)
		tc.Respond(id, 200, false)
		tc.WantHeaders("response", id, false)
		tc.SendData(id, atkBody(65536), true)
		if body, end := tc.WantData("the stream window's worth", id); len(body) != 65535 || end {
			t.Fatalf("stream %d: %d octets, end %v; want 65535, not ended", id, len(body), end)
		}
		tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
		tc.WriteWindowUpdate(0, 65535)
		atkWantReset(t, tc, "the transfer is aborted", id, h2sm.ErrCodeCancel, true)
		tc.Advance(40 * time.Millisecond)
		id += 2
	}
	tc.WantIdle("nothing else")
	if s := tc.Conn().Stats(); s.ActiveStreams != 0 || s.BufferedSendBytes != 0 {
		t.Errorf("ActiveStreams %d, BufferedSendBytes %d; want 0, 0", s.ActiveStreams, s.BufferedSendBytes)
	}
	atkWantNoAbuse(t, tc)
}

// TestLegitGoClientReset: Go's transport closing response bodies early and
// cancelling uploads: RST_STREAM CANCEL followed by a PING (to check the
// connection is alive), 2000 of them over 100 seconds.
func TestLegitGoClientReset(t *testing.T) {
	tc := scPeer(t)
	id := h2sm.StreamID(1)
	for i := 0; i < 2000; i++ {
		if i%2 == 0 { // a response body closed after its headers
			openGET(tc, id)
			tc.Respond(id, 200, false)
			tc.WantHeaders("response", id, false)
		} else { // an upload cancelled halfway
			scPost(t, tc, id)
			tc.WriteData(id, atkBody(16384), false)
			tc.WantEvent("upload body", h2sm.Event{Kind: h2sm.EventData, Stream: id})
		}
		tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
		tc.WritePing(false, atkPayload(i))
		atkWantReset(t, tc, "reset", id, h2sm.ErrCodeCancel, true)
		tc.Discard() // the PING ACK and WINDOW_UPDATEs for the upload
		tc.Advance(50 * time.Millisecond)
		id += 2
	}
	atkWantNoAbuse(t, tc)
}

// TestLegitLargeUpload: 4 MiB uploaded through small windows the
// application opens as it reads (ManualFlowControl, 64 KiB windows), and a
// response read through a 1 KiB client window.
func TestLegitLargeUpload(t *testing.T) {
	tc := scPeer(t,
		scConfig(func(c *h2sm.Config) {
			c.ManualFlowControl = true
			c.InitialWindowSize, c.ConnWindowSize = 65535, 65535
		}),
		memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1024}))
	scPost(t, tc, 1, scField("content-length", strconv.Itoa(4<<20)))
	upload := atkBody(4 << 20)
	connWin, streamWin := 65535, 65535
	var got []byte
	for sent := 0; sent < len(upload); {
		n := min(16384, connWin, streamWin, len(upload)-sent)
		if n == 0 {
			t.Fatalf("deadlock after %d octets: both windows closed", sent)
		}
		tc.WriteData(1, upload[sent:sent+n], sent+n == len(upload))
		sent += n
		connWin -= n
		streamWin -= n
		ev := tc.WantEvent("body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, EndStream: sent == len(upload)})
		got = append(got, ev.Data...)
		tc.Consumed(1, len(ev.Data)) // the application read it
		for {
			f, ok := tc.ReadFrame()
			if !ok {
				break
			}
			wu, ok := f.(*http2.WindowUpdateFrame)
			if !ok {
				t.Fatalf("got %v, want WINDOW_UPDATE", f)
			}
			if wu.StreamID == 0 {
				connWin += int(wu.Increment)
			} else {
				streamWin += int(wu.Increment)
			}
		}
	}
	if !bytes.Equal(got, upload) {
		t.Fatalf("the application read %d octets, want the 4 MiB sent", len(got))
	}
	tc.Respond(1, 200, false)
	tc.WantHeaders("response", 1, false)
	tc.SendData(1, atkBody(65536), true)
	var body []byte
	for len(body) < 65536 {
		chunk, _ := tc.WantData("one client window's worth", 1)
		if len(chunk) != 1024 {
			t.Fatalf("%d octets at once, want 1024 (the client's window)", len(chunk))
		}
		body = append(body, chunk...)
		tc.WriteWindowUpdate(1, 1024)
		tc.WriteWindowUpdate(0, 1024)
	}
	if !bytes.Equal(body, atkBody(65536)) {
		t.Errorf("response body differs")
	}
	tc.WantIdle("nothing else")
	atkWantNoAbuse(t, tc)
}

// TestLegitPingsOverTime: keepalive and latency PINGs from a client with a
// stream open (a long poll): one a second for an hour, then 320 a second
// for 100 seconds, three times the glitch burst in total, just under
// GlitchRate.
func TestLegitPingsOverTime(t *testing.T) {
	tc := scPeer(t)
	openGET(tc, 1)
	n := 0
	ping := func(every time.Duration) {
		t.Helper()
		tc.Advance(every)
		tc.WritePing(false, atkPayload(n))
		tc.WantFrame("answered", memory.Ping{Ack: true, Data: atkPayload(n)})
		n++
	}
	for i := 0; i < 3600; i++ {
		ping(time.Second)
	}
	for i := 0; i < 320*100; i++ {
		ping(time.Second / 320)
	}
	finish(tc, 1)
	atkWantNoAbuse(t, tc)
}

// TestLegitSettingsChanges: 2000 SETTINGS frames, one every 50 ms, changing
// the window and the HPACK table size, with requests in between: each is
// acknowledged and the responses decode.
func TestLegitSettingsChanges(t *testing.T) {
	tc := scPeer(t)
	id := h2sm.StreamID(1)
	for i := 0; i < 2000; i++ {
		tc.Advance(50 * time.Millisecond)
		tc.WriteSettings(
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(65535 + 1000*(i%3))},
			http2.Setting{ID: http2.SettingHeaderTableSize, Val: uint32(2048 * (i % 3))},
		)
		tc.WantFrame("each SETTINGS is acknowledged", memory.Settings{Ack: true})
		if i%10 == 9 {
			openGET(tc, id)
			tc.Respond(id, 200, false, scField("x-round", strconv.Itoa(i)))
			tc.WantFrame("the response decodes with the table size in effect", memory.Headers{
				Stream: id, Fields: memory.Fields(":status", "200", "x-round", strconv.Itoa(i)),
			})
			tc.SendData(id, atkBody(100), true)
			tc.WantFrame("body", memory.Data{Stream: id, Data: atkBody(100), EndStream: true})
			id += 2
		}
	}
	atkWantNoAbuse(t, tc)
}

// TestLegitSlowReader: a 1 MiB response read 1 KiB at a time, one window
// update every 59 s, just under StreamStallTimeout: the stream-stall, write-
// stall and idle timers must not fire, and the small window updates are no
// flood.
func TestLegitSlowReader(t *testing.T) {
	const size, step = 1 << 20, 1024
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: step}))
	openGET(tc, 1)
	tc.Respond(1, 200, false)
	tc.WantHeaders("response", 1, false)
	body := atkBody(size)
	queued := tc.SendData(1, body, true)
	var got []byte
	for len(got) < size {
		chunk, end := tc.WantData("one window's worth", 1)
		if len(chunk) != step || end != (len(got)+step == size) {
			t.Fatalf("after %d octets: got %d, end %v; want %d", len(got), len(chunk), end, step)
		}
		got = append(got, chunk...)
		for ev, ok := tc.NextEvent(); ok; ev, ok = tc.NextEvent() {
			if ev.Kind != h2sm.EventStreamWritable {
				t.Fatalf("got event %v, want StreamWritable", ev.Kind)
			}
			queued += tc.SendData(1, body[queued:], true)
		}
		if len(got) == size {
			break
		}
		tc.Advance(h2sm.DefaultStreamStallTimeout - time.Second)
		tc.WriteWindowUpdate(1, step)
		tc.WriteWindowUpdate(0, step)
	}
	if !bytes.Equal(got, body) {
		t.Fatal("body differs")
	}
	tc.WantIdle("no RST_STREAM, no GOAWAY")
	atkWantNoAbuse(t, tc)
}

// TestLegitSteadyCancels: a client that cancels 32 requests a second for
// two and a half minutes (a video player seeking, a search box typing
// ahead): nearly five times the reset burst in total, just under
// RemoteResetRate.
func TestLegitSteadyCancels(t *testing.T) {
	tc := scPeer(t)
	id := h2sm.StreamID(1)
	for i := 0; i < 32*150; i++ {
		openGET(tc, id)
		tc.WriteRSTStream(id, h2sm.ErrCodeCancel)
		atkWantReset(t, tc, "cancelled", id, h2sm.ErrCodeCancel, true)
		tc.Advance(time.Second / 32)
		id += 2
	}
	atkWantNoAbuse(t, tc)
}

// TestLegitOccasionalStreamErrors: a client with a bug that makes every
// other request malformed, 64 requests a second for five minutes: 32 stream
// errors a second, nearly ten times the burst in total, just under
// LocalResetRate.
func TestLegitOccasionalStreamErrors(t *testing.T) {
	tc := scPeer(t)
	id := h2sm.StreamID(1)
	for i := 0; i < 64*300; i++ {
		if i%2 == 0 {
			tc.WriteHeaders(id, scBase(scField("X-Buggy", "1")), memory.EndStream)
			scWantMalformed(t, tc, "malformed", id)
		} else {
			openGET(tc, id)
			finish(tc, id)
		}
		tc.Advance(time.Second / 64)
		id += 2
	}
	if s := tc.Conn().Stats(); tc.Conn().Closed() || s.ConnErrors != 0 || s.StreamErrors != 32*300 {
		t.Errorf("closed %v, ConnErrors %d, StreamErrors %d; want open, 0, %d", tc.Conn().Closed(), s.ConnErrors, s.StreamErrors, 32*300)
	}
}

// TestLegitSmallDataFrames: a body sent one octet per frame, and uploads
// that end with an empty DATA frame carrying END_STREAM (Go's transport does
// this): neither is an empty-frame flood.
func TestLegitSmallDataFrames(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1, scField("content-length", "200"))
	for i := 0; i < 200; i++ {
		tc.WriteData(1, []byte{byte(i)}, i == 199)
		tc.WantEvent("one octet", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte{byte(i)}, EndStream: i == 199})
	}
	finish(tc, 1)
	tc.Discard() // WINDOW_UPDATEs
	id := h2sm.StreamID(3)
	for i := 0; i < 2000; i++ {
		scPost(t, tc, id)
		tc.WriteData(id, []byte("x"), false)
		tc.WriteData(id, nil, true)
		tc.WantEvent("body", h2sm.Event{Kind: h2sm.EventData, Stream: id, Data: []byte("x")})
		tc.WantEvent("END_STREAM on an empty frame", h2sm.Event{Kind: h2sm.EventData, Stream: id, Data: []byte{}, EndStream: true})
		finish(tc, id)
		tc.Discard()
		id += 2
	}
	atkWantNoAbuse(t, tc)
}

// TestLegitHeadersNearLimits: a request just under MaxHeaderListSize with
// MaxHeaderFields fields, in four frames, and a block cut into the most
// CONTINUATIONs a block may have.
func TestLegitHeadersNearLimits(t *testing.T) {
	tc := scPeer(t)
	fields := scBase()
	size := 0
	for _, f := range fields {
		size += len(f.Name) + len(f.Value) + 32
	}
	per := (h2sm.DefaultMaxHeaderListSize - size) / h2sm.DefaultMaxHeaderFields
	for i := 0; i < h2sm.DefaultMaxHeaderFields; i++ {
		name := "x-field-" + strconv.Itoa(100+i)
		fields = append(fields, scField(name, strings.Repeat("~", per-len(name)-32)))
	}
	tc.WriteHeaders(1, fields, memory.EndStream)
	tc.WantEvent("a list of 65536 octets less a little, 100 fields, 4 frames", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Fields: fields[4:],
	})
	tc.WriteHeaders(3, memory.Request("GET", "/cut", scField("x-long", strings.Repeat("~", 300))),
		memory.EndStream, memory.SplitAt(20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20))
	atkWantRequest(t, tc, "HEADERS and 16 CONTINUATIONs", 3, true)
	if got := tc.Conn().Stats().FramesIn[h2sm.FrameContinuation]; got != 3+16 {
		t.Errorf("CONTINUATIONs received = %d, want 19", got)
	}
	atkWantNoAbuse(t, tc)
}
