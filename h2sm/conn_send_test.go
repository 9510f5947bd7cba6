package h2sm_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// Frame-level scenarios for the response side: flow-controlled DATA,
// buffering and EventStreamWritable, scheduling, header blocks, informational
// responses, command errors, ResetStream and output backpressure.

// scBody is n octets of a recognizable pattern.
func scBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// scDataFrames reads the DATA frames waiting and returns them in order. Any
// other frame fails the test.
func scDataFrames(t *testing.T, tc *memory.Peer) []*http2.DataFrame {
	t.Helper()
	var out []*http2.DataFrame
	for {
		f, ok := tc.ReadFrame()
		if !ok {
			return out
		}
		df, ok := f.(*http2.DataFrame)
		if !ok {
			t.Fatalf("got %v, want DATA frames only", f.Header())
		}
		out = append(out, df)
	}
}

// scRespondWithBody answers a GET on id with a 200 and starts body.
func scRespondWithBody(t *testing.T, tc *memory.Peer, id h2sm.StreamID, body []byte, end bool) {
	t.Helper()
	scGet(t, tc, id, "/body")
	tc.Respond(id, 200, false)
	tc.WantFrame("response headers", memory.Headers{Stream: id, Fields: memory.Fields(":status", "200")})
	if n := tc.SendData(id, body, end); n != len(body) {
		t.Fatalf("WriteData accepted %d of %d octets", n, len(body))
	}
}

func TestConnSendRespectsWindowsAndFrameSize(t *testing.T) {
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000}))
	body := scBody(65536)
	scRespondWithBody(t, tc, 1, body, true)
	var got []byte
	check := func(why string, wantTotal int) []*http2.DataFrame {
		t.Helper()
		frames := scDataFrames(t, tc)
		n := 0
		for _, f := range frames {
			if f.Length > 16384 {
				t.Errorf("%s: DATA of %d octets, the client's SETTINGS_MAX_FRAME_SIZE is 16384 (§4.2)", why, f.Length)
			}
			n += len(f.Data())
			got = append(got, f.Data()...)
		}
		if n != wantTotal {
			t.Fatalf("%s: %d octets of DATA, want %d", why, n, wantTotal)
		}
		return frames
	}
	// §6.9.1: "A sender MUST NOT send a flow-controlled frame with a length
	// that exceeds the space available in either of the flow-control windows
	// advertised by the receiver." The harness checks every DATA frame
	// against the windows too; here the totals are explicit.
	check("the stream window of 1000", 1000)
	tc.WriteWindowUpdate(1, 50000)
	if frames := check("the stream window, in frames of at most 16384", 50000); len(frames) != 4 {
		t.Errorf("%d frames for 50000 octets, want 4", len(frames))
	}
	tc.WriteWindowUpdate(1, 100000)
	check("now the connection window: 65535 - 51000", 65535-51000)
	tc.WriteWindowUpdate(0, 1<<20)
	last := check("the last octet", 1)
	if !last[0].StreamEnded() {
		t.Errorf("the last DATA frame has no END_STREAM")
	}
	if !bytes.Equal(got, body) {
		t.Errorf("the body arrived altered")
	}
	tc.WantIdle("nothing else")
}

func TestConnSendLargerPeerFrameSize(t *testing.T) {
	tc := scPeer(t, memory.WithSettings(
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20},
	))
	tc.WriteWindowUpdate(0, 1<<20)
	scRespondWithBody(t, tc, 1, scBody(50000), true)
	frames := scDataFrames(t, tc)
	var sizes []int
	for _, f := range frames {
		sizes = append(sizes, len(f.Data()))
	}
	if len(sizes) != 3 || sizes[0] != 20000 || sizes[1] != 20000 || sizes[2] != 10000 {
		t.Errorf("DATA sizes %v, want [20000 20000 10000]: frames as large as the client allows", sizes)
	}
}

func TestConnSendSendBufferAndWritable(t *testing.T) {
	tc := scPeer(t,
		scConfig(func(c *h2sm.Config) { c.StreamSendBuffer = 1000 }),
		memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
	scGet(t, tc, 1, "/")
	tc.Respond(1, 200, false)
	tc.WantFrame("headers", memory.Headers{Stream: 1})
	body := scBody(3000)
	n := tc.SendData(1, body, true)
	if n != 1000 {
		t.Fatalf("WriteData accepted %d octets with StreamSendBuffer 1000, want 1000", n)
	}
	if m := tc.SendData(1, body[n:], true); m != 0 {
		t.Fatalf("WriteData on a full buffer accepted %d octets, want 0", m)
	}
	if s := tc.Conn().Stats(); s.BufferedSendBytes != 1000 {
		t.Errorf("BufferedSendBytes = %d, want 1000", s.BufferedSendBytes)
	}
	tc.WantIdle("the client's window is 0: nothing sent, no event")
	tc.WriteWindowUpdate(1, 400)
	tc.WantFrame("400 octets", memory.Data{Stream: 1, Data: body[:400]})
	tc.WantIdle("600 octets still buffered: more than half the buffer, no event")
	tc.WriteWindowUpdate(1, 100)
	tc.WantFrame("100 octets", memory.Data{Stream: 1, Data: body[400:500]})
	tc.WantEvent("room again: the body may resume", h2sm.Event{Kind: h2sm.EventStreamWritable, Stream: 1})
	m := tc.SendData(1, body[n:], true)
	if m != 500 {
		t.Fatalf("WriteData accepted %d octets with 500 buffered, want 500", m)
	}
	n += m
	tc.WriteWindowUpdate(1, 1<<20)
	tc.WantFrame("the buffered 1000", memory.Data{Stream: 1, Data: body[500:1500]})
	tc.WantEvent("writable again", h2sm.Event{Kind: h2sm.EventStreamWritable, Stream: 1})
	for n < len(body) {
		m := tc.SendData(1, body[n:], true)
		if m == 0 {
			t.Fatalf("WriteData accepted nothing with an open window")
		}
		n += m
		got, end := tc.WantData("the rest", 1)
		if end != (n == len(body)) || !bytes.Equal(got, body[n-m:n]) {
			t.Fatalf("got %d octets end=%v, want %d octets end=%v", len(got), end, m, n == len(body))
		}
		if n < len(body) {
			tc.WantEvent("writable", h2sm.Event{Kind: h2sm.EventStreamWritable, Stream: 1})
		}
	}
	tc.WantIdle("nothing else")
}

func TestConnSendResumesAfterWindowUpdate(t *testing.T) {
	tc := scPeer(t)
	body := scBody(100000)
	scGet(t, tc, 1, "/")
	tc.Respond(1, 200, false)
	tc.WantFrame("headers", memory.Headers{Stream: 1})
	if n := tc.SendData(1, body[:65535], false); n != 65535 {
		t.Fatalf("accepted %d", n)
	}
	got, _ := tc.WantData("the initial windows' worth", 1)
	if len(got) != 65535 {
		t.Fatalf("%d octets before any WINDOW_UPDATE, want 65535", len(got))
	}
	if n := tc.SendData(1, body[65535:], true); n != len(body)-65535 {
		t.Fatalf("accepted %d", n)
	}
	tc.WantIdle("both windows are empty")
	tc.WriteWindowUpdate(1, 1<<20)
	tc.WantIdle("the connection window is still empty")
	tc.WriteWindowUpdate(0, 10)
	tc.WantFrame("10 octets of connection window", memory.Data{Stream: 1, Data: body[65535:65545]})
	tc.WriteWindowUpdate(0, 1<<20)
	rest, end := tc.WantData("the body resumes", 1)
	if !end || !bytes.Equal(rest, body[65545:]) {
		t.Fatalf("rest: %d octets end=%v, want %d octets end=true", len(rest), end, len(body)-65545)
	}
}

func TestConnSendSettingsOpenWindow(t *testing.T) {
	// §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE increase opens every stream's
	// window; a decrease can make it negative.
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
	tc.WriteWindowUpdate(0, 1<<20)
	body := scBody(3000)
	scRespondWithBody(t, tc, 1, body, true)
	tc.WantIdle("window 0")
	tc.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.WantFrame("1000 octets after the increase", memory.Data{Stream: 1, Data: body[:1000]})
	tc.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 500})
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	tc.WriteWindowUpdate(1, 400)
	tc.WantIdle("the window is -500 + 400 after the decrease")
	tc.WriteWindowUpdate(1, 101)
	tc.WantFrame("one octet", memory.Data{Stream: 1, Data: body[1000:1001]})
	tc.WriteWindowUpdate(1, 1<<20)
	rest, end := tc.WantData("the rest", 1)
	if !end || !bytes.Equal(rest, body[1001:]) {
		t.Fatalf("rest: %d octets end=%v", len(rest), end)
	}
}

func TestConnSendRoundRobin(t *testing.T) {
	tc := scPeer(t)
	scGet(t, tc, 1, "/a")
	scGet(t, tc, 3, "/b")
	body1, body3 := bytes.Repeat([]byte{'1'}, 60000), bytes.Repeat([]byte{'3'}, 60000)
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		for _, id := range []h2sm.StreamID{1, 3} {
			if err := c.WriteHeaders(now, id, memory.Fields(":status", "200"), false); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := c.WriteData(now, 1, body1, true); n != len(body1) || err != nil {
			t.Fatalf("WriteData(1) = %d, %v", n, err)
		}
		if n, err := c.WriteData(now, 3, body3, true); n != len(body3) || err != nil {
			t.Fatalf("WriteData(3) = %d, %v", n, err)
		}
	})
	tc.WantFrame("headers 1", memory.Headers{Stream: 1})
	tc.WantFrame("headers 3", memory.Headers{Stream: 3})
	var order []uint32
	left := map[uint32]int{1: 60000, 3: 60000}
	read := func() {
		for _, f := range scDataFrames(t, tc) {
			order = append(order, f.StreamID)
			left[f.StreamID] -= len(f.Data())
		}
	}
	read()
	for i := 0; i < 10 && (left[1] > 0 || left[3] > 0); i++ {
		tc.WriteWindowUpdate(0, 2*16384) // two frames' worth at a time
		read()
	}
	if left[1] != 0 || left[3] != 0 {
		t.Fatalf("octets left: %v", left)
	}
	// Each stream gets one frame in turn: while both have data, DATA frames
	// alternate between them.
	for i := 1; i < len(order)-1; i++ {
		if order[i] == order[i-1] {
			t.Fatalf("DATA frame order %v: stream %d twice in a row at %d while the other had data", order, order[i], i)
		}
	}
	if len(order) < 8 {
		t.Fatalf("DATA frame order %v, want at least 8 frames", order)
	}
}

func TestConnSendTrailersWaitForBody(t *testing.T) {
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10}))
	body := scBody(25)
	scRespondWithBody(t, tc, 1, body, false)
	tc.SendHeaders(1, memory.Fields("x-checksum", "abc"), true)
	tc.WantFrame("the stream window's worth", memory.Data{Stream: 1, Data: body[:10]})
	tc.WantIdle("the trailers wait behind the buffered body")
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if _, err := c.WriteData(now, 1, []byte("x"), false); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("WriteData after trailers = %v, want ErrStreamClosed", err)
		}
		if err := c.WriteHeaders(now, 1, memory.Fields("x-b", "1"), true); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("second trailers = %v, want ErrStreamClosed", err)
		}
	})
	tc.WriteWindowUpdate(1, 10)
	tc.WantFrame("10 more, no END_STREAM", memory.Data{Stream: 1, Data: body[10:20]})
	tc.WantIdle("still waiting")
	tc.WriteWindowUpdate(1, 100)
	tc.WantFrame("the last 5, no END_STREAM: the trailers carry it", memory.Data{Stream: 1, Data: body[20:]})
	tc.WantFrame("trailers", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields("x-checksum", "abc")})
	tc.WantIdle("nothing else")
	if n := tc.Conn().Stats().ActiveStreams; n != 0 {
		t.Errorf("ActiveStreams = %d after trailers, want 0", n)
	}
}

func TestConnSendTrailersWithoutBody(t *testing.T) {
	tc := scPeer(t)
	scGet(t, tc, 1, "/")
	tc.Respond(1, 200, false)
	tc.SendHeaders(1, memory.Fields("grpc-status", "0"), true)
	tc.WantFrame("headers", memory.Headers{Stream: 1, EndStream: false})
	tc.WantFrame("trailers at once", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields("grpc-status", "0")})
	tc.WantIdle("nothing else")
}

func TestConnSendEmptyEndStream(t *testing.T) {
	tc := scPeer(t)
	scRespondWithBody(t, tc, 1, []byte("body"), false)
	tc.WantFrame("body", memory.Data{Stream: 1, Data: []byte("body")})
	tc.SendData(1, nil, true)
	tc.WantFrame("END_STREAM on an empty DATA frame", memory.Data{Stream: 1, Data: []byte{}, EndStream: true})
	tc.WantIdle("nothing else")
}

func TestConnSendHeadersContinuation(t *testing.T) {
	tc := scPeer(t)
	scGet(t, tc, 1, "/")
	// '~' has a 13-bit Huffman code, so the encoder sends the value raw.
	big := strings.Repeat("~", 40000)
	tc.Respond(1, 200, true, scField("x-big", big))
	// §4.3: a header block larger than a frame continues in CONTINUATION
	// frames, each within the client's SETTINGS_MAX_FRAME_SIZE (16384; the
	// harness checks every frame against it).
	tc.WantFrame("a 40 kB block in three frames", memory.Headers{
		Stream: 1, EndStream: true, Frames: 3, Fields: memory.Fields(":status", "200", "x-big", big),
	})
	scGet(t, tc, 3, "/")
	tc.Respond(3, 200, true, scField("x-after", "1"))
	tc.WantFrame("the encoder is still in sync", memory.Headers{
		Stream: 3, EndStream: true, Frames: 1, Fields: memory.Fields(":status", "200", "x-after", "1"),
	})
}

func TestConnSendTrailersContinuation(t *testing.T) {
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384}))
	scRespondWithBody(t, tc, 1, []byte("b"), false)
	tc.WantFrame("body", memory.Data{Stream: 1, Data: []byte("b")})
	big := strings.Repeat("~", 20000)
	tc.SendHeaders(1, memory.Fields("x-trailer", big), true)
	tc.WantFrame("trailers in two frames", memory.Headers{Stream: 1, EndStream: true, Frames: 2, Fields: memory.Fields("x-trailer", big)})
}

func TestConnSendInformational(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1, scField("expect", "100-continue"))
	tc.Respond(1, 100, false)
	tc.WantFrame("100 Continue", memory.Headers{Stream: 1, Fields: memory.Fields(":status", "100")})
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if _, err := c.WriteData(now, 1, []byte("x"), false); !errors.Is(err, h2sm.ErrHeadersNotSent) {
			t.Errorf("WriteData after only a 1xx = %v, want ErrHeadersNotSent", err)
		}
	})
	tc.Respond(1, 103, false, scField("link", "</style.css>; rel=preload"))
	tc.WantFrame("103 Early Hints", memory.Headers{Stream: 1, Fields: memory.Fields(":status", "103", "link", "</style.css>; rel=preload")})
	tc.WriteData(1, []byte("request body"), true)
	tc.WantEvent("the request body flows meanwhile", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("request body"), EndStream: true})
	tc.Respond(1, 201, false)
	tc.WantFrame("the final response", memory.Headers{Stream: 1, Fields: memory.Fields(":status", "201")})
	tc.SendData(1, []byte("done"), true)
	tc.WantFrame("body", memory.Data{Stream: 1, Data: []byte("done"), EndStream: true})
	tc.WantIdle("nothing else")
}

func TestConnSendWriteHeadersErrors(t *testing.T) {
	tests := []struct {
		name   string
		before func(tc *memory.Peer) // after the request on stream 1
		fields []h2sm.HeaderField
		end    bool
		want   error
	}{
		{"101", nil, memory.Fields(":status", "101"), false, h2sm.ErrInvalidHeader},
		{"1xx with END_STREAM", nil, memory.Fields(":status", "100"), true, h2sm.ErrInvalidHeader},
		{"missing :status", nil, memory.Fields("content-type", "text/plain"), false, h2sm.ErrInvalidHeader},
		{"empty fields", nil, []h2sm.HeaderField{}, true, h2sm.ErrInvalidHeader},
		{":status not first", nil, memory.Fields("x-a", "1", ":status", "200"), false, h2sm.ErrInvalidHeader},
		{"two :status", nil, memory.Fields(":status", "200", ":status", "200"), false, h2sm.ErrInvalidHeader},
		{"bad :status", nil, memory.Fields(":status", "2000"), false, h2sm.ErrInvalidHeader},
		{":status 099", nil, memory.Fields(":status", "099"), false, h2sm.ErrInvalidHeader},
		{"request pseudo-header", nil, memory.Fields(":status", "200", ":path", "/"), false, h2sm.ErrInvalidHeader},
		{"uppercase name", nil, memory.Fields(":status", "200", "Content-Type", "text/plain"), false, h2sm.ErrInvalidHeader},
		{"empty name", nil, memory.Fields(":status", "200", "", "x"), false, h2sm.ErrInvalidHeader},
		{"CRLF in value", nil, memory.Fields(":status", "200", "x-a", "1\r\nx-b: 2"), false, h2sm.ErrInvalidHeader},
		{"connection", nil, memory.Fields(":status", "200", "connection", "close"), false, h2sm.ErrInvalidHeader},
		{"transfer-encoding", nil, memory.Fields(":status", "200", "transfer-encoding", "chunked"), false, h2sm.ErrInvalidHeader},
		{"keep-alive", nil, memory.Fields(":status", "200", "keep-alive", "1"), false, h2sm.ErrInvalidHeader},
		{"upgrade", nil, memory.Fields(":status", "200", "upgrade", "h2c"), false, h2sm.ErrInvalidHeader},
		{"te", nil, memory.Fields(":status", "200", "te", "trailers"), false, h2sm.ErrInvalidHeader},
		{"trailers without END_STREAM", func(tc *memory.Peer) {
			tc.Respond(1, 200, false)
			tc.WantFrame("headers", memory.Headers{Stream: 1})
		}, memory.Fields("x-t", "1"), false, h2sm.ErrInvalidHeader},
		{"pseudo-header in trailers", func(tc *memory.Peer) {
			tc.Respond(1, 200, false)
			tc.WantFrame("headers", memory.Headers{Stream: 1})
		}, memory.Fields(":status", "200"), true, h2sm.ErrInvalidHeader},
		{"after END_STREAM", func(tc *memory.Peer) {
			tc.Respond(1, 200, true)
			tc.WantFrame("headers", memory.Headers{Stream: 1, EndStream: true})
		}, memory.Fields("x-t", "1"), true, h2sm.ErrStreamClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := scPeer(t)
			scPost(t, tc, 1)
			if tt.before != nil {
				tt.before(tc)
			}
			tc.Do(func(c *h2sm.Conn, now time.Time) {
				if err := c.WriteHeaders(now, 1, tt.fields, tt.end); !errors.Is(err, tt.want) {
					t.Errorf("WriteHeaders(%v, end=%v) = %v, want %v", tt.fields, tt.end, err, tt.want)
				}
			})
			tc.WantIdle("a refused command sends nothing")
			if tt.want == h2sm.ErrInvalidHeader && tt.before == nil {
				tc.Respond(1, 200, true)
				tc.WantFrame("the stream is still usable", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields(":status", "200")})
			}
		})
	}
}

func TestConnSendCommandErrors(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1)
	scGet(t, tc, 3, "/")
	tc.Respond(3, 204, true)
	tc.WantFrame("stream 3 done", memory.Headers{Stream: 3, EndStream: true})
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if _, err := c.WriteData(now, 1, []byte("x"), false); !errors.Is(err, h2sm.ErrHeadersNotSent) {
			t.Errorf("WriteData before headers = %v, want ErrHeadersNotSent", err)
		}
		if err := c.WriteHeaders(now, 1, memory.Fields("x-t", "1"), true); !errors.Is(err, h2sm.ErrInvalidHeader) {
			t.Errorf("trailers before headers = %v, want ErrInvalidHeader", err)
		}
		if _, err := c.WriteData(now, 3, []byte("x"), false); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("WriteData after the stream ended = %v, want ErrStreamClosed", err)
		}
		if err := c.ResetStream(now, 3, h2sm.ErrCodeCancel); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("ResetStream on a closed stream = %v, want ErrStreamClosed", err)
		}
		for _, id := range []h2sm.StreamID{5, 2, 0, 99} {
			if _, err := c.WriteData(now, id, []byte("x"), false); !errors.Is(err, h2sm.ErrUnknownStream) {
				t.Errorf("WriteData on stream %d = %v, want ErrUnknownStream", id, err)
			}
			if err := c.WriteHeaders(now, id, memory.Fields(":status", "200"), true); !errors.Is(err, h2sm.ErrUnknownStream) {
				t.Errorf("WriteHeaders on stream %d = %v, want ErrUnknownStream", id, err)
			}
			if err := c.ResetStream(now, id, h2sm.ErrCodeCancel); !errors.Is(err, h2sm.ErrUnknownStream) {
				t.Errorf("ResetStream on stream %d = %v, want ErrUnknownStream", id, err)
			}
		}
	})
	tc.WantIdle("refused commands send nothing")
	tc.Respond(1, 200, false)
	tc.WantFrame("headers", memory.Headers{Stream: 1})
	tc.SendData(1, []byte("x"), true)
	tc.WantFrame("data", memory.Data{Stream: 1, Data: []byte("x"), EndStream: true})
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if _, err := c.WriteData(now, 1, []byte("y"), false); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("WriteData after END_STREAM on a half-closed (local) stream = %v, want ErrStreamClosed", err)
		}
		if err := c.WriteHeaders(now, 1, memory.Fields("x-t", "1"), true); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("trailers after END_STREAM = %v, want ErrStreamClosed", err)
		}
	})
	tc.CloseConn()
	tc.WantFrame("GOAWAY", memory.GoAway{LastStream: 3, Code: h2sm.ErrCodeNo})
	if err := tc.WantClosed("closed"); err != nil {
		t.Fatalf("Close: ConnClosed error %v, want nil", err)
	}
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if _, err := c.WriteData(now, 1, []byte("y"), false); !errors.Is(err, h2sm.ErrConnClosed) {
			t.Errorf("WriteData after Close = %v, want ErrConnClosed", err)
		}
		if err := c.WriteHeaders(now, 1, memory.Fields(":status", "200"), true); !errors.Is(err, h2sm.ErrConnClosed) {
			t.Errorf("WriteHeaders after Close = %v, want ErrConnClosed", err)
		}
	})
	tc.WantIdle("nothing after the close")
}

func TestConnSendResetStream(t *testing.T) {
	tc := scPeer(t, memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}))
	scRespondWithBody(t, tc, 1, scBody(5000), true)
	tc.WantFrame("the first 100 octets", memory.Data{Stream: 1, Data: scBody(100)})
	if s := tc.Conn().Stats(); s.BufferedSendBytes != 4900 {
		t.Fatalf("BufferedSendBytes = %d, want 4900", s.BufferedSendBytes)
	}
	tc.Reset(1, h2sm.ErrCodeInternal)
	tc.WantFrame("RST_STREAM with the application's code", memory.RSTStream{Stream: 1, Code: h2sm.ErrCodeInternal})
	tc.WriteWindowUpdate(1, 1<<20)
	tc.WriteWindowUpdate(0, 1<<20)
	tc.WantIdle("the buffered body was dropped; no event for the application's own reset")
	if s := tc.Conn().Stats(); s.BufferedSendBytes != 0 || s.ActiveStreams != 0 {
		t.Errorf("BufferedSendBytes = %d, ActiveStreams = %d; want 0, 0", s.BufferedSendBytes, s.ActiveStreams)
	}
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		if err := c.ResetStream(now, 1, h2sm.ErrCodeCancel); !errors.Is(err, h2sm.ErrStreamClosed) {
			t.Errorf("second ResetStream = %v, want ErrStreamClosed", err)
		}
	})
	tc.WantIdle("no second RST_STREAM")
	scWantUsable(t, tc, 3)
}

func TestConnSendResetStreamBeforeResponse(t *testing.T) {
	tc := scPeer(t)
	scPost(t, tc, 1)
	tc.Reset(1, h2sm.ErrCodeRefusedStream)
	tc.WantFrame("RST_STREAM REFUSED_STREAM", memory.RSTStream{Stream: 1, Code: h2sm.ErrCodeRefusedStream})
	tc.WriteData(1, []byte("body in flight"), true)
	tc.WantIdle("frames in flight are ignored")
}

func TestConnSendBackpressure(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.OutputHighWater = 1000 }))
	tc.SetReading(false)
	const pings = 100
	for i := 0; i < pings; i++ {
		tc.WritePing(false, [8]byte{byte(i)})
	}
	// Each PING ACK is 17 octets: Receive stops once 1000 are waiting.
	s := tc.Conn().Stats()
	if s.QueuedOutput < 1000 || s.QueuedOutput >= 1000+17 {
		t.Errorf("QueuedOutput = %d with OutputHighWater 1000, want in [1000, 1017)", s.QueuedOutput)
	}
	wantLeft := (pings - (1000+16)/17) * 17
	if got := tc.PendingInput(); got != wantLeft {
		t.Errorf("input not consumed: %d octets, want %d (%d PINGs)", got, wantLeft, wantLeft/17)
	}
	if s.FramesIn[h2sm.FramePing] != (1000+16)/17 {
		t.Errorf("%d PINGs processed while the output was full, want %d", s.FramesIn[h2sm.FramePing], (1000+16)/17)
	}
	tc.WantNoFrame("the client reads nothing")
	tc.SetReading(true)
	for i := 0; i < pings; i++ {
		tc.WantFrame("every PING is answered once the client reads", memory.Ping{Ack: true, Data: [8]byte{byte(i)}})
	}
	if got := tc.PendingInput(); got != 0 {
		t.Errorf("%d octets of input left after reading resumed", got)
	}
	tc.WantIdle("nothing else")
	scWantUsable(t, tc, 1)
}

func TestConnSendBodyFramedOnlyWhenPulled(t *testing.T) {
	// Response body is framed as the driver takes output, so a client that
	// does not read holds at most one chunk of DATA in the Conn.
	tc := scPeer(t,
		scConfig(func(c *h2sm.Config) { c.OutputHighWater = 20000 }),
		memory.WithSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}))
	tc.WriteWindowUpdate(0, 1<<20)
	scGet(t, tc, 1, "/")
	tc.SetReading(false)
	tc.Respond(1, 200, false)
	if n := tc.SendData(1, scBody(60000), true); n != 60000 {
		t.Fatalf("accepted %d", n)
	}
	if s := tc.Conn().Stats(); s.QueuedOutput > 20000+16384+9 || s.BufferedSendBytes != 60000 {
		t.Errorf("QueuedOutput %d, BufferedSendBytes %d: want the body kept unframed while the client does not read",
			s.QueuedOutput, s.BufferedSendBytes)
	}
	tc.SetReading(true)
	tc.WantFrame("headers", memory.Headers{Stream: 1})
	body, end := tc.WantData("the whole body once the client reads", 1)
	if len(body) != 60000 || !end {
		t.Errorf("got %d octets end=%v", len(body), end)
	}
}
