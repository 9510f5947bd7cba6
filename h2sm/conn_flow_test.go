package h2sm_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// Frame-level scenarios for flow control (RFC 9113 §5.2, §6.9): the
// receive windows the server grants and WINDOW_UPDATE from the client.

const scMaxWindow = 1<<31 - 1

// scWindows is the client's account of the receive windows the server
// granted: what it may still send on the connection and on each stream.
type scWindows struct {
	t       *testing.T
	tc      *memory.Peer
	conn    int64
	streams map[h2sm.StreamID]int64
	initial int64 // a new stream's window
	limit   int64 // no window may exceed it
	updates int   // WINDOW_UPDATE frames read
}

func newScWindows(t *testing.T, tc *memory.Peer) *scWindows {
	cfg := tc.Conn().Config()
	return &scWindows{
		t: t, tc: tc, conn: int64(cfg.ConnWindowSize), streams: map[h2sm.StreamID]int64{},
		initial: int64(cfg.InitialWindowSize), limit: scMaxWindow,
	}
}

// read takes every frame waiting, which must all be WINDOW_UPDATEs, and
// checks that no window goes past the limit (§6.9.1: "A sender MUST NOT
// allow a flow-control window to exceed 2^31-1 octets").
func (w *scWindows) read() {
	w.t.Helper()
	for {
		f, ok := w.tc.ReadFrame()
		if !ok {
			return
		}
		wu, ok := f.(*http2.WindowUpdateFrame)
		if !ok {
			w.t.Fatalf("got %v, want only WINDOW_UPDATE frames", f.Header())
		}
		w.updates++
		if wu.Increment == 0 {
			w.t.Fatalf("WINDOW_UPDATE with increment 0 on stream %d", wu.StreamID)
		}
		if wu.StreamID == 0 {
			w.conn += int64(wu.Increment)
			if w.conn > w.limit {
				w.t.Fatalf("connection window %d after WINDOW_UPDATE, limit %d", w.conn, w.limit)
			}
			continue
		}
		id := h2sm.StreamID(wu.StreamID)
		w.streams[id] = w.stream(id) + int64(wu.Increment)
		if w.streams[id] > w.limit {
			w.t.Fatalf("stream %d window %d after WINDOW_UPDATE, limit %d", id, w.streams[id], w.limit)
		}
	}
}

func (w *scWindows) stream(id h2sm.StreamID) int64 {
	if v, ok := w.streams[id]; ok {
		return v
	}
	return w.initial
}

// send writes a DATA frame of n octets on id, which both windows must allow
// (the client is never starved), reads the EventData and the credit.
func (w *scWindows) send(id h2sm.StreamID, n int) {
	w.t.Helper()
	if int64(n) > w.conn || int64(n) > w.stream(id) {
		w.t.Fatalf("client starved: %d octets to send on stream %d, windows: connection %d, stream %d",
			n, id, w.conn, w.stream(id))
	}
	w.conn -= int64(n)
	w.streams[id] = w.stream(id) - int64(n)
	w.tc.WriteData(id, bytes.Repeat([]byte{'d'}, n), false)
	ev, ok := w.tc.NextEvent()
	if !ok || ev.Kind != h2sm.EventData || ev.Stream != id || len(ev.Data) != n {
		w.t.Fatalf("after %d octets on stream %d: event %+v, %v; want EventData", n, id, ev, ok)
	}
	w.read()
}

func TestConnFlowAutomaticBatched(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.InitialWindowSize = 65535
		c.ConnWindowSize = 65535
	}))
	scPost(t, tc, 1)
	w := newScWindows(t, tc)
	w.limit = 65535 // credit never takes a window past what was advertised
	const frames, size = 3000, 100
	for i := 0; i < frames; i++ {
		w.send(1, size) // 300 000 octets: more than four times the windows
	}
	// Credit is announced in batches of at least 4096 octets (or when the
	// window runs low), per window: far fewer frames than DATA frames.
	if max := 2 * ((frames*size+4095)/4096 + 1); w.updates > max || w.updates < 2 {
		t.Errorf("%d WINDOW_UPDATEs for %d DATA frames of %d octets, want between 2 and %d", w.updates, frames, size, max)
	}
	tc.WantIdle("nothing else")
}

func TestConnFlowAutomaticNeverStarves(t *testing.T) {
	// Frame sizes that do not divide the batch size, on two streams, with
	// windows smaller than the batch size: after any amount of data the
	// client can go on sending.
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.InitialWindowSize = 3000
		c.ConnWindowSize = 65535
	}))
	scPost(t, tc, 1)
	scPost(t, tc, 3)
	w := newScWindows(t, tc)
	sizes := []int{1, 4999, 17, 4096, 1000, 3333, 2500, 5000, 123}
	for i := 0; i < 400; i++ {
		n := sizes[i%len(sizes)]
		id := h2sm.StreamID(1 + 2*(i%2))
		if s := w.stream(id); int64(n) > s {
			n = int(s) // a real client sends what the window allows
		}
		if n == 0 {
			t.Fatalf("stream %d window is 0 after %d frames", id, i)
		}
		w.send(id, n)
	}
	tc.WantIdle("nothing else")
}

func TestConnFlowLargeWindowsStayBelowMax(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.InitialWindowSize = scMaxWindow
		c.ConnWindowSize = scMaxWindow
	}))
	scPost(t, tc, 1)
	w := newScWindows(t, tc)
	if w.conn != scMaxWindow {
		t.Fatalf("connection window %d, want 2^31-1", w.conn)
	}
	for i := 0; i < 200; i++ {
		w.send(1, 16384)
	}
	// read checked every WINDOW_UPDATE against 2^31-1; all the credit came
	// back but what is batched.
	if w.updates == 0 || scMaxWindow-w.conn >= 4096 || scMaxWindow-w.stream(1) >= 4096 {
		t.Fatalf("after 3 MiB: %d WINDOW_UPDATEs, windows %d and %d; want both within a batch of 2^31-1",
			w.updates, w.conn, w.stream(1))
	}
	tc.WantIdle("nothing else")
}

func TestConnFlowConnectionWindowExceeded(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.ManualFlowControl = true
		c.InitialWindowSize = 1 << 20
		c.ConnWindowSize = 65535
	}))
	scPost(t, tc, 1)
	for _, n := range []int{16384, 16384, 16384, 16383} {
		tc.WriteData(1, make([]byte, n), false)
		tc.WantEvent("within the window", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
	}
	tc.WantIdle("no credit without Consumed")
	tc.WriteData(1, []byte{1}, false)
	// §6.9.1: "A receiver MAY respond with a ... connection error ... of
	// type FLOW_CONTROL_ERROR if it is unable to accept a frame"; the
	// connection window is a connection error.
	scWantConnError(t, tc, "one octet past the connection window", 1, h2sm.ErrCodeFlowControl)
}

func TestConnFlowConnectionWindowPaddingCounts(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.ManualFlowControl = true
		c.ConnWindowSize = 65535
	}))
	scPost(t, tc, 1)
	for i := 0; i < 3; i++ {
		tc.WriteData(1, make([]byte, 16384), false)
		tc.WantEvent("data", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
	}
	// 16383 octets of window left. A padded frame of 16 382 data octets
	// and one of padding is 16 384 octets of payload.
	tc.WriteDataPadded(1, make([]byte, 16382), false, 1)
	scWantConnError(t, tc, "the Pad Length and padding count (§6.9)", 1, h2sm.ErrCodeFlowControl)
}

func TestConnFlowStreamWindowExceeded(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) {
		c.ManualFlowControl = true
		c.InitialWindowSize = 1000
		c.ConnWindowSize = 65535
	}))
	scPost(t, tc, 1)
	tc.WriteData(1, make([]byte, 600), false)
	tc.WantEvent("within the stream window", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
	tc.WriteData(1, make([]byte, 401), false)
	// §6.9: "errors on the connection flow-control window MUST be treated as
	// a connection error"; a stream's window is a stream error.
	scWantStreamReset(t, tc, "one octet past the stream window", 1, h2sm.ErrCodeFlowControl)
	tc.WantIdle("nothing else")
	scPost(t, tc, 3)
	tc.WriteData(3, make([]byte, 1000), true)
	tc.WantEvent("other streams have their own window", h2sm.Event{Kind: h2sm.EventData, Stream: 3, EndStream: true})
	// The rejected 401 octets came back to the connection by themselves; with
	// stream 3's 1000 that is still below the batch size.
	tc.Consumed(3, 1000)
	tc.WantIdle("1401 octets of credit: below the batch size")
}

func TestConnFlowStreamWindowExceededAutomatic(t *testing.T) {
	tc := scPeer(t, scConfig(func(c *h2sm.Config) { c.InitialWindowSize = 1000 }))
	scPost(t, tc, 1)
	tc.WriteData(1, make([]byte, 1001), false)
	scWantStreamReset(t, tc, "a frame larger than the stream window", 1, h2sm.ErrCodeFlowControl)
	scWantUsable(t, tc, 3)
}

func TestConnFlowManual(t *testing.T) {
	cfg := scConfig(func(c *h2sm.Config) {
		c.ManualFlowControl = true
		c.InitialWindowSize = 65535
		c.ConnWindowSize = 65535
	})
	t.Run("no credit until Consumed", func(t *testing.T) {
		tc := scPeer(t, cfg)
		scPost(t, tc, 1)
		tc.WriteData(1, make([]byte, 12000), false)
		tc.WantEvent("data", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
		tc.WantIdle("the application has not consumed anything")
		tc.Consumed(1, 6000)
		tc.WantFrame("connection credit", memory.WindowUpdate{Stream: 0, Incr: 6000})
		tc.WantFrame("stream credit", memory.WindowUpdate{Stream: 1, Incr: 6000})
		tc.Consumed(1, 3000)
		tc.WantIdle("credit below the batch size waits")
		tc.Consumed(1, 3000)
		tc.WantFrame("batched connection credit", memory.WindowUpdate{Stream: 0, Incr: 6000})
		tc.WantFrame("batched stream credit", memory.WindowUpdate{Stream: 1, Incr: 6000})
		tc.WantIdle("nothing else")
	})
	t.Run("credit beyond what was received is ignored", func(t *testing.T) {
		tc := scPeer(t, cfg)
		scPost(t, tc, 1)
		tc.WriteData(1, make([]byte, 5000), false)
		tc.WantEvent("data", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
		tc.Consumed(1, 50000)
		tc.WantFrame("only what was received comes back (connection)", memory.WindowUpdate{Stream: 0, Incr: 5000})
		tc.WantFrame("only what was received comes back (stream)", memory.WindowUpdate{Stream: 1, Incr: 5000})
		tc.Consumed(1, 1<<30)
		tc.Consumed(1, -5)
		tc.Consumed(99, 1<<20)
		tc.WantIdle("no credit is outstanding")
		// The window is whole again: the client may send 65535 octets.
		w := newScWindows(t, tc)
		for i := 0; i < 3; i++ {
			w.send(1, 16384)
		}
		w.send(1, 16383)
		tc.WantIdle("manual mode: nothing comes back yet")
	})
	t.Run("Consumed on a closed stream", func(t *testing.T) {
		tc := scPeer(t, cfg)
		scPost(t, tc, 1)
		tc.WriteData(1, make([]byte, 6000), true)
		tc.WantEvent("data", h2sm.Event{Kind: h2sm.EventData, Stream: 1, EndStream: true})
		tc.Respond(1, 200, true)
		tc.WantFrame("response", memory.Headers{Stream: 1, EndStream: true})
		if n := tc.Conn().Stats().ActiveStreams; n != 0 {
			t.Fatalf("ActiveStreams = %d, want 0", n)
		}
		tc.Consumed(1, 6000)
		tc.WantFrame("connection credit still returns for a closed stream", memory.WindowUpdate{Stream: 0, Incr: 6000})
		tc.WantIdle("no stream credit for a closed stream")
	})
	t.Run("Consumed on a stream the client reset", func(t *testing.T) {
		tc := scPeer(t, cfg)
		scPost(t, tc, 1)
		tc.WriteData(1, make([]byte, 7000), false)
		tc.WantEvent("data", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
		tc.WriteRSTStream(1, h2sm.ErrCodeCancel)
		tc.WantEvent("reset", h2sm.Event{Kind: h2sm.EventStreamReset, Stream: 1})
		tc.Consumed(1, 7000)
		tc.WantFrame("connection credit", memory.WindowUpdate{Stream: 0, Incr: 7000})
		tc.WantIdle("nothing else")
	})
	t.Run("Consumed is a no-op in automatic mode", func(t *testing.T) {
		tc := scPeer(t, scConfig(func(c *h2sm.Config) {
			c.InitialWindowSize = 65535
			c.ConnWindowSize = 65535
		}))
		scPost(t, tc, 1)
		tc.WriteData(1, make([]byte, 5000), false)
		tc.WantEvent("data", h2sm.Event{Kind: h2sm.EventData, Stream: 1})
		tc.WantFrame("automatic credit", memory.WindowUpdate{Stream: 0, Incr: 5000})
		tc.WantFrame("automatic credit", memory.WindowUpdate{Stream: 1, Incr: 5000})
		tc.Consumed(1, 5000)
		tc.WantIdle("no double credit")
	})
}

func TestConnFlowWindowUpdateErrors(t *testing.T) {
	t.Run("increment 0 on a stream", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WriteWindowUpdate(1, 0)
		// §6.9: "A receiver MUST treat the receipt of a WINDOW_UPDATE frame
		// with a flow-control window increment of 0 as a stream error ... of
		// type PROTOCOL_ERROR".
		scWantStreamReset(t, tc, "WINDOW_UPDATE increment 0 on a stream", 1, h2sm.ErrCodeProtocol)
		scWantUsable(t, tc, 3)
	})
	t.Run("increment 0 on the connection", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WriteWindowUpdate(0, 0)
		scWantConnError(t, tc, "WINDOW_UPDATE increment 0 on the connection (§6.9)", 1, h2sm.ErrCodeProtocol)
	})
	t.Run("reserved bit ignored", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0x80, 0, 0, 1})
		tc.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0x80, 0, 0, 1})
		tc.WantIdle("the reserved bit is ignored (§6.9)")
		tc.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0x80, 0, 0, 0})
		scWantConnError(t, tc, "an increment of 0 with the reserved bit set", 1, h2sm.ErrCodeProtocol)
	})
	t.Run("overflow on a stream", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WriteWindowUpdate(1, scMaxWindow-65535)
		tc.WantIdle("exactly 2^31-1 is allowed")
		tc.WriteWindowUpdate(1, 1)
		// §6.9.1: "If a sender receives a WINDOW_UPDATE that causes a
		// flow-control window to exceed this maximum, it MUST terminate either
		// the stream or the connection, as appropriate"; §6.9: a stream's
		// error is "a stream error ... of type FLOW_CONTROL_ERROR".
		scWantStreamReset(t, tc, "stream window past 2^31-1", 1, h2sm.ErrCodeFlowControl)
		scWantUsable(t, tc, 3)
	})
	t.Run("overflow on the connection", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.WriteWindowUpdate(0, scMaxWindow-65535)
		tc.WantIdle("exactly 2^31-1 is allowed")
		tc.WriteWindowUpdate(0, 1)
		scWantConnError(t, tc, "connection window past 2^31-1 (§6.9.1)", 1, h2sm.ErrCodeFlowControl)
	})
	t.Run("overflow in one frame", func(t *testing.T) {
		tc := scPeer(t)
		tc.WriteWindowUpdate(0, scMaxWindow)
		scWantConnError(t, tc, "connection window past 2^31-1", 0, h2sm.ErrCodeFlowControl)
	})
	t.Run("length", func(t *testing.T) {
		for _, n := range []int{0, 3, 5} {
			tc := scPeer(t)
			scPost(t, tc, 1)
			tc.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, make([]byte, n))
			// §6.9: "A WINDOW_UPDATE frame with a length other than 4 octets
			// MUST be treated as a connection error ... FRAME_SIZE_ERROR."
			scWantConnError(t, tc, "WINDOW_UPDATE of "+strconv.Itoa(n)+" octets", 1, h2sm.ErrCodeFrameSize)
		}
	})
	t.Run("on a half-closed (local) stream", func(t *testing.T) {
		tc := scPeer(t)
		scPost(t, tc, 1)
		tc.Respond(1, 200, true)
		tc.WantFrame("response", memory.Headers{Stream: 1, EndStream: true})
		tc.WriteWindowUpdate(1, 100)
		tc.WantIdle("WINDOW_UPDATE after our END_STREAM is ignored (§5.1)")
		tc.WriteData(1, []byte("x"), true)
		tc.WantEvent("the stream still receives", h2sm.Event{Kind: h2sm.EventData, Stream: 1, EndStream: true})
	})
}
