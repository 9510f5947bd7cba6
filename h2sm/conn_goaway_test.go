package h2sm_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// openGET sends a GET with END_STREAM on stream id and reads its request event.
func openGET(tc *memory.Peer, id h2sm.StreamID) {
	tc.WriteHeaders(id, memory.GET("/"), memory.EndStream)
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: id, EndStream: true})
}

// finish answers stream id with a bare 200 that ends it.
func finish(tc *memory.Peer, id h2sm.StreamID) {
	tc.Respond(id, 200, true)
	tc.WantFrame("response ends the stream", memory.Headers{Stream: id, EndStream: true})
}

// wantGracefulClose reads EventConnClosed and fails unless it carries nil.
func wantGracefulClose(t *testing.T, tc *memory.Peer, why string) {
	t.Helper()
	if err := tc.WantClosed(why); err != nil {
		t.Fatalf("%s: ConnClosed error = %v, want nil", why, err)
	}
	tc.WantIdle(why + ": nothing after the close")
}

func TestConnGoAwayFromClientNoError(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	openGET(tc, 3)
	tc.WriteGoAway(0, h2sm.ErrCodeNo, "bye")
	ev := tc.WantEvent("§6.8: the peer's GOAWAY reaches the application", h2sm.Event{
		Kind: h2sm.EventGoAwayReceived, Stream: 0, Err: &h2sm.ConnError{Code: h2sm.ErrCodeNo, Remote: true},
	})
	if ce := (*h2sm.ConnError)(nil); !errors.As(ev.Err, &ce) || ce.Reason != "bye" {
		t.Errorf("GoAwayReceived error = %v, want the debug data as Reason", ev.Err)
	}
	tc.WantGoAway("the server answers with the last stream it processed", 3, h2sm.ErrCodeNo)
	wantPhase(t, tc, "draining", h2sm.PhaseGoAway)
	finish(tc, 3)
	tc.WantIdle("stream 1 still open")
	wantPhase(t, tc, "one stream left", h2sm.PhaseGoAway)
	finish(tc, 1)
	wantGracefulClose(t, tc, "the last stream ended")
}

func TestConnGoAwayFromClientNoStreams(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	// The reserved bit of the last stream id is ignored (§6.8).
	tc.WriteRawFrame(http2.FrameGoAway, 0, 0, []byte{0x80, 0, 0, 0, 0, 0, 0, 0})
	tc.WantEvent("GOAWAY", h2sm.Event{Kind: h2sm.EventGoAwayReceived, Stream: 0, Err: &h2sm.ConnError{Code: h2sm.ErrCodeNo, Remote: true}})
	tc.WantGoAway("answered", 0, h2sm.ErrCodeNo)
	wantGracefulClose(t, tc, "no stream to wait for")
}

func TestConnGoAwayFromClientError(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.WriteGoAway(0, h2sm.ErrCodeEnhanceYourCalm, "slow down")
	want := &h2sm.ConnError{Code: h2sm.ErrCodeEnhanceYourCalm, Remote: true}
	tc.WantEvent("GOAWAY event first", h2sm.Event{Kind: h2sm.EventGoAwayReceived, Stream: 0, Err: want})
	err := tc.WantClosed("a GOAWAY with an error code closes at once")
	var ce *h2sm.ConnError
	if !errors.As(err, &ce) || ce.Code != h2sm.ErrCodeEnhanceYourCalm || !ce.Remote || ce.Reason != "slow down" {
		t.Errorf("ConnClosed error = %#v, want the remote ConnError", err)
	}
	tc.WantIdle("no GOAWAY in answer, no reset of stream 1")
	var cmdErr error
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		cmdErr = c.WriteHeaders(now, 1, memory.Fields(":status", "200"), true)
	})
	if !errors.Is(cmdErr, h2sm.ErrConnClosed) {
		t.Errorf("WriteHeaders on a stream of the closed connection: %v, want ErrConnClosed", cmdErr)
	}
}

func TestConnGoAwayErrors(t *testing.T) {
	payload := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0), 0)
	for _, tt := range []struct {
		name    string
		stream  h2sm.StreamID
		payload []byte
		code    h2sm.ErrCode
	}{
		// §6.8: "An endpoint MUST treat a GOAWAY frame with a stream
		// identifier other than 0x00 as a connection error ... of type
		// PROTOCOL_ERROR."
		{"on stream 1", 1, payload, h2sm.ErrCodeProtocol},
		{"on stream 2", 2, payload, h2sm.ErrCodeProtocol},
		// §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a
		// frame ... is too small to contain mandatory frame data."
		{"length 0", 0, nil, h2sm.ErrCodeFrameSize},
		{"length 7", 0, payload[:7], h2sm.ErrCodeFrameSize},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			tc.Handshake()
			tc.WriteRawFrame(http2.FrameGoAway, 0, tt.stream, tt.payload)
			wantConnErrorClose(t, tc, "bad GOAWAY", 0, tt.code)
		})
	}
}

func TestConnGoAwayShutdownTwoPhase(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.Shutdown()
	// §6.8: "A server that is attempting to gracefully shut down a connection
	// SHOULD send an initial GOAWAY frame with the last stream identifier set
	// to 2^31-1 and a NO_ERROR code ... After allowing time for any in-flight
	// stream creation (at least one round-trip time), the server MAY send
	// another GOAWAY frame with an updated last stream identifier."
	tc.WantGoAway("first GOAWAY: every stream may still arrive", 1<<31-1, h2sm.ErrCodeNo)
	tc.WantFrame("PING to measure the round trip", memory.Ping{Data: [8]byte{7: 1}})
	wantPhase(t, tc, "shutting down", h2sm.PhaseGoAway)

	// A request in flight is still served.
	tc.WriteHeaders(3, memory.POST("/"))
	tc.WantEvent("in-flight request served", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, Method: "POST"})

	tc.WritePing(true, [8]byte{7: 1})
	tc.WantGoAway("second GOAWAY after the PING ACK: the last stream processed", 3, h2sm.ErrCodeNo)

	// A stream above the last id is ignored, but its header block is still
	// decoded (§4.3 and §6.8) so that the HPACK context stays in sync.
	tc.WriteHeaders(5, memory.Request("GET", "/", memory.Fields("x-after", "goaway")...), memory.EndStream)
	tc.WriteData(5, []byte("x"), true)
	tc.WantIdle("§6.8: frames on streams above the last id are ignored")
	// The client's encoder indexed x-after; trailers on stream 3 refer to it.
	tc.WriteHeaders(3, memory.Fields("x-after", "goaway"), memory.EndStream)
	tc.WantEvent("trailers decoded with the table stream 5 updated", h2sm.Event{
		Kind: h2sm.EventTrailers, Stream: 3, EndStream: true, Fields: memory.Fields("x-after", "goaway"),
	})

	finish(tc, 1)
	tc.WantIdle("stream 3 still open")
	finish(tc, 3)
	wantGracefulClose(t, tc, "the last stream up to the last id ended")
	tc.WantIdle("no GOAWAY more")
	if got := tc.Conn().Stats().FramesOut[h2sm.FrameGoAway]; got != 2 {
		t.Errorf("Stats().FramesOut[GOAWAY] = %d, want 2", got)
	}
}

func TestConnGoAwayShutdownNoStreams(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	tc.Shutdown()
	tc.WantGoAway("first GOAWAY", 1<<31-1, h2sm.ErrCodeNo)
	tc.WantFrame("PING", memory.Ping{Data: [8]byte{7: 1}})
	tc.WritePing(true, [8]byte{7: 1})
	tc.WantGoAway("second GOAWAY", 0, h2sm.ErrCodeNo)
	wantGracefulClose(t, tc, "nothing to drain")
}

func TestConnGoAwayShutdownPingTimeout(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.ShutdownPingTimeout = 2 * time.Second }))
	tc.Handshake()
	openGET(tc, 1)
	tc.Shutdown()
	tc.WantGoAway("first GOAWAY", 1<<31-1, h2sm.ErrCodeNo)
	tc.WantFrame("PING", memory.Ping{Data: [8]byte{7: 1}})
	tc.Advance(2*time.Second - time.Nanosecond)
	tc.WantIdle("1ns before ShutdownPingTimeout")
	tc.Advance(time.Nanosecond)
	tc.WantGoAway("second GOAWAY without the PING ACK", 1, h2sm.ErrCodeNo)
	// The late ACK changes nothing.
	tc.WritePing(true, [8]byte{7: 1})
	tc.WantIdle("a late ACK")
	finish(tc, 1)
	wantGracefulClose(t, tc, "drained")
}

func TestConnGoAwayShutdownDefaultPingTimeout(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.Shutdown()
	tc.WantGoAway("first GOAWAY", 1<<31-1, h2sm.ErrCodeNo)
	tc.WantFrame("PING", memory.Ping{Data: [8]byte{7: 1}})
	if d := tc.AdvanceToTimer(); d != h2sm.DefaultShutdownPingTimeout {
		t.Errorf("second GOAWAY after %v, want %v", d, h2sm.DefaultShutdownPingTimeout)
	}
	tc.WantGoAway("second GOAWAY", 1, h2sm.ErrCodeNo)
	tc.Shutdown()
	tc.WantIdle("Shutdown again does nothing")
	finish(tc, 1)
	wantGracefulClose(t, tc, "drained")
}

func TestConnGoAwayDrainTimeout(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.DrainTimeout = 5 * time.Second }))
	tc.Handshake()
	openGET(tc, 1)
	tc.Shutdown()
	tc.WantGoAway("first GOAWAY", 1<<31-1, h2sm.ErrCodeNo)
	tc.WantFrame("PING", memory.Ping{Data: [8]byte{7: 1}})
	tc.Advance(time.Second)
	tc.WritePing(true, [8]byte{7: 1})
	tc.WantGoAway("second GOAWAY", 1, h2sm.ErrCodeNo)
	tc.Advance(5*time.Second - time.Nanosecond)
	tc.WantIdle("1ns before DrainTimeout")
	tc.Advance(time.Nanosecond)
	tc.WantFrame("DrainTimeout: the connection closes", memory.GoAway{LastStream: 1, Code: h2sm.ErrCodeNo, Debug: "drain timeout"})
	wantLocalConnErr(t, "drain timeout", tc.WantClosed("stream 1 abandoned"), h2sm.ErrCodeNo)
	tc.WantIdle("no event for stream 1")
}

func TestConnGoAwayCommandNoError(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.GoAwayConn(h2sm.ErrCodeNo, "maintenance")
	tc.WantFrame("GoAway(NO_ERROR): one GOAWAY with the last stream id", memory.GoAway{LastStream: 1, Code: h2sm.ErrCodeNo, Debug: "maintenance"})
	wantPhase(t, tc, "draining", h2sm.PhaseGoAway)
	tc.WriteHeaders(3, memory.GET("/"), memory.EndStream)
	tc.WantIdle("stream 3 is above the last id: ignored")
	tc.GoAwayConn(h2sm.ErrCodeNo, "")
	tc.WantIdle("a second GoAway(NO_ERROR) does nothing")
	finish(tc, 1)
	wantGracefulClose(t, tc, "drained")
}

func TestConnGoAwayCommandError(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.GoAwayConn(h2sm.ErrCodeInternal, "oops")
	tc.WantFrame("GoAway(INTERNAL_ERROR)", memory.GoAway{LastStream: 1, Code: h2sm.ErrCodeInternal, Debug: "oops"})
	ce := wantLocalConnErr(t, "closed at once", tc.WantClosed("closed at once"), h2sm.ErrCodeInternal)
	if ce.Reason != "oops" {
		t.Errorf("ConnError.Reason = %q, want the debug data", ce.Reason)
	}
	tc.WantIdle("nothing more")
}

func TestConnGoAwayClose(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.CloseConn()
	tc.WantGoAway("Close: GOAWAY NO_ERROR with the last stream id", 1, h2sm.ErrCodeNo)
	wantGracefulClose(t, tc, "closed with the stream abandoned")
	tc.CloseConn()
	tc.WantIdle("Close again does nothing")
}

func TestConnGoAwayAbort(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.SetReading(false)
	tc.WritePing(false, [8]byte{1}) // its ACK waits in the Conn
	transport := errors.New("read tcp: connection reset by peer")
	tc.AbortConn(transport)
	if err := tc.WantClosed("Abort closes"); err != transport {
		t.Errorf("ConnClosed error = %v, want the error given to Abort", err)
	}
	tc.SetReading(true)
	tc.WantIdle("Abort drops pending output and writes no GOAWAY")
	tc.AbortConn(transport)
	tc.WantIdle("a second Abort adds no event")
}

func TestConnGoAwayIdleTimeout(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.IdleTimeout = 30 * time.Second }))
	tc.Handshake()
	tc.Advance(10 * time.Second)
	openGET(tc, 1)
	tc.Advance(time.Hour)
	tc.WantIdle("no idle timeout while a stream is open")
	if at, ok := tc.Conn().Deadline(); ok {
		t.Errorf("Deadline() = %v with a stream open and no other timer", at)
	}
	finish(tc, 1)
	if d := tc.AdvanceToTimer(); d != 30*time.Second {
		t.Errorf("idle timeout %v after the last stream ended, want 30s", d)
	}
	tc.WantGoAway("idle: GOAWAY NO_ERROR", 1, h2sm.ErrCodeNo)
	wantGracefulClose(t, tc, "idle close")
}

func TestConnGoAwayIdleTimeoutExact(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.IdleTimeout = 30 * time.Second }))
	tc.Handshake()
	tc.Advance(30*time.Second - time.Nanosecond)
	tc.WantIdle("1ns before IdleTimeout")
	tc.WritePing(false, [8]byte{})
	tc.WantFrame("a PING does not open a stream", memory.Ping{Ack: true})
	tc.Advance(time.Nanosecond)
	tc.WantGoAway("IdleTimeout counts from the handshake, not from the last frame", 0, h2sm.ErrCodeNo)
	wantGracefulClose(t, tc, "idle close")
}

func TestConnGoAwayHandshakeTimeoutSlowPreface(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.HandshakeTimeout = 5 * time.Second }))
	wantDefaultServerPreface(tc)
	// One byte a second: the timeout bounds the whole handshake, however
	// steadily the bytes come.
	for i := range 5 {
		wantPhase(t, tc, "within the handshake timeout", h2sm.PhasePreface)
		tc.WantIdle("within the handshake timeout")
		tc.WriteRaw([]byte{clientPreface[i]})
		tc.Advance(time.Second)
	}
	wantConnErrorClose(t, tc, "HandshakeTimeout", 0, h2sm.ErrCodeProtocol)
	if tc.Elapsed() != 5*time.Second {
		t.Errorf("closed at %v, want 5s", tc.Elapsed())
	}
}

func TestConnGoAwayHandshakeTimeoutNoSettings(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.HandshakeTimeout = 5 * time.Second }))
	wantDefaultServerPreface(tc)
	tc.Advance(time.Second)
	tc.Preface()
	tc.Advance(4*time.Second - time.Nanosecond)
	tc.WantIdle("1ns before HandshakeTimeout")
	wantPhase(t, tc, "waiting for SETTINGS", h2sm.PhaseSettings)
	tc.Advance(time.Nanosecond)
	wantConnErrorClose(t, tc, "HandshakeTimeout counts from NewConn", 0, h2sm.ErrCodeProtocol)
}

func TestConnGoAwayHandshakeTimeoutDefault(t *testing.T) {
	tc := memory.NewPeer(t)
	wantDefaultServerPreface(tc)
	if d := tc.AdvanceToTimer(); d != h2sm.DefaultHandshakeTimeout {
		t.Errorf("closed after %v, want DefaultHandshakeTimeout", d)
	}
	wantConnErrorClose(t, tc, "HandshakeTimeout", 0, h2sm.ErrCodeProtocol)
}

func TestConnGoAwayHeaderBlockTimeout(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.HeaderBlockTimeout = 7 * time.Second }))
	tc.Handshake()
	tc.Advance(time.Second)
	block := tc.EncodeHeaders(memory.GET("/"))
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:2])
	tc.Advance(5 * time.Second)
	tc.WriteContinuation(1, false, block[2:4])
	tc.Advance(2*time.Second - time.Nanosecond)
	tc.WantIdle("1ns before HeaderBlockTimeout; a CONTINUATION does not extend it")
	tc.Advance(time.Nanosecond)
	wantConnErrorClose(t, tc, "HeaderBlockTimeout from the HEADERS frame", 1, h2sm.ErrCodeEnhanceYourCalm)
}

func TestConnGoAwayHeaderBlockCompletedInTime(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.HeaderBlockTimeout = 7 * time.Second
		c.IdleTimeout = time.Hour
	}))
	tc.Handshake()
	block := tc.EncodeHeaders(memory.GET("/"))
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:2])
	tc.Advance(7*time.Second - time.Nanosecond)
	tc.WriteContinuation(1, true, block[2:])
	tc.WantEvent("completed in time", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/"})
	if at, ok := tc.Conn().Deadline(); ok {
		t.Errorf("Deadline() = %v: the header-block timer is still armed", at)
	}
	finish(tc, 1)
}

func TestConnGoAwayNegativeTimersOff(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.HandshakeTimeout = -1
		c.SettingsAckTimeout = -1
		c.HeaderBlockTimeout = -1
		c.IdleTimeout = -1
		c.ShutdownPingTimeout = -1
		c.DrainTimeout = -1
		c.WriteStallTimeout = -1
	}))
	noDeadline := func(why string) {
		t.Helper()
		if at, ok := tc.Conn().Deadline(); ok {
			t.Fatalf("%s: Deadline() = %v, want none", why, at)
		}
		tc.Advance(24 * time.Hour)
		tc.WantIdle(why + ": a day passes")
	}
	wantDefaultServerPreface(tc)
	noDeadline("HandshakeTimeout and SettingsAckTimeout off")
	tc.Preface()
	tc.WriteSettings()
	tc.WantFrame("ACK", memory.Settings{Ack: true})
	noDeadline("SettingsAckTimeout and IdleTimeout off")
	block := tc.EncodeHeaders(memory.GET("/"))
	tc.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, block[:2])
	noDeadline("HeaderBlockTimeout off")
	tc.WriteContinuation(1, true, block[2:])
	tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
	tc.SetReading(false)
	tc.Respond(1, 200, false)
	noDeadline("WriteStallTimeout off")
	tc.SetReading(true)
	tc.WantHeaders("response", 1, false)
	tc.Shutdown()
	tc.WantGoAway("first GOAWAY", 1<<31-1, h2sm.ErrCodeNo)
	tc.WantFrame("PING", memory.Ping{Data: [8]byte{7: 1}})
	noDeadline("ShutdownPingTimeout off")
	tc.WritePing(true, [8]byte{7: 1})
	tc.WantGoAway("second GOAWAY", 1, h2sm.ErrCodeNo)
	noDeadline("DrainTimeout off")
	tc.SendData(1, []byte("done"), true)
	tc.WantFrame("body", memory.Data{Stream: 1, Data: []byte("done"), EndStream: true})
	wantGracefulClose(t, tc, "drained")
}

func TestConnGoAwayNegativePingTimeoutOff(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.PingInterval = 10 * time.Second
		c.PingTimeout = -1
		c.IdleTimeout = -1
	}))
	tc.Handshake()
	tc.AdvanceToTimer()
	tc.WantFrame("keepalive", memory.Ping{Data: [8]byte{7: 1}})
	if at, ok := tc.Conn().Deadline(); ok {
		t.Fatalf("Deadline() = %v, want none: PingTimeout off and the PING outstanding", at)
	}
	tc.Advance(24 * time.Hour)
	tc.WantIdle("never closed for the missing ACK")
	wantPhase(t, tc, "open", h2sm.PhaseOpen)
}

func TestConnGoAwayWriteStallFromStart(t *testing.T) {
	tc := memory.NewPeer(t, memory.WithReading(false), memory.WithConfig(func(c *h2sm.Config) { c.WriteStallTimeout = 4 * time.Second }))
	tc.Preface()
	tc.WriteSettings() // our SETTINGS and its ACK are never taken
	if d := tc.AdvanceToTimer(); d != 4*time.Second {
		t.Errorf("write stall after %v, want 4s", d)
	}
	ce := wantLocalConnErr(t, "write stall", tc.WantClosed("write stall"), h2sm.ErrCodeNo)
	if ce.Reason == "" {
		t.Errorf("ConnError without a reason")
	}
	tc.SetReading(true)
	wantDefaultServerPreface(tc)
	tc.WantFrame("queued before the stall", memory.Settings{Ack: true})
	tc.WantIdle("no GOAWAY: the transport is not taking output")
}

func TestConnGoAwayWriteStallProgressRearms(t *testing.T) {
	const stall = 4 * time.Second
	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) { c.WriteStallTimeout = stall }))
	tc.Handshake()
	openGET(tc, 1)
	tc.Respond(1, 200, false)
	tc.WantHeaders("response", 1, false)
	tc.SetReading(false)
	body := make([]byte, 60000)
	tc.SendData(1, body, true) // four DATA frames, none taken
	tc.Advance(stall - time.Second)
	// The transport takes one frame: progress.
	var took int
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		out := c.Outgoing()
		if len(out) < 9 || out[3] != byte(http2.FrameData) {
			t.Fatalf("Outgoing() starts with %x, want a DATA frame", out[:min(len(out), 9)])
		}
		took = 9 + (int(out[0])<<16 | int(out[1])<<8 | int(out[2]))
		c.Advance(took)
	})
	if took != 9+16384 {
		t.Fatalf("took %d bytes, want one full DATA frame", took)
	}
	if d := tc.AdvanceToTimer(); d != time.Second {
		t.Fatalf("write-stall check after %v, want 1s", d)
	}
	tc.WantIdle("progress since the timer was armed: not a stall")
	wantPhase(t, tc, "still open", h2sm.PhaseOpen)
	if d := tc.AdvanceToTimer(); d != stall {
		t.Fatalf("second write-stall check after %v, want %v", d, stall)
	}
	wantLocalConnErr(t, "no progress for WriteStallTimeout", tc.WantClosed("write stall"), h2sm.ErrCodeNo)
	tc.SetReading(true)
	rest, end := tc.WantData("the frames framed before the stall", 1)
	if len(rest) != 60000-16384 || !end {
		t.Errorf("WantData: %d bytes, end=%v; want %d, true", len(rest), end, 60000-16384)
	}
	tc.WantIdle("no GOAWAY")
}

func TestConnGoAwayCommandsAfterClose(t *testing.T) {
	tc := memory.NewPeer(t)
	tc.Handshake()
	openGET(tc, 1)
	tc.CloseConn()
	tc.WantGoAway("closed", 1, h2sm.ErrCodeNo)
	wantGracefulClose(t, tc, "closed")

	var errs []error
	tc.Do(func(c *h2sm.Conn, now time.Time) {
		errs = append(errs, c.WriteHeaders(now, 1, memory.Fields(":status", "200"), true))
		_, err := c.WriteData(now, 1, []byte("x"), true)
		errs = append(errs, err)
		errs = append(errs, c.ResetStream(now, 1, h2sm.ErrCodeCancel))
		errs = append(errs, c.WriteHeaders(now, 3, memory.Fields(":status", "200"), true))
		c.Consumed(now, 1, 10)
		c.Shutdown(now)
		c.GoAway(now, h2sm.ErrCodeInternal, "late")
		c.Close(now)
		c.HandleTimeout(now.Add(time.Hour))
		if n := c.Receive(now, []byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}); n != 0 {
			t.Errorf("Receive after close consumed %d bytes, want 0", n)
		}
	})
	for i, err := range errs {
		if !errors.Is(err, h2sm.ErrConnClosed) {
			t.Errorf("command %d after close: %v, want ErrConnClosed", i, err)
		}
	}
	tc.WantIdle("no output and no event after the close")
	wantPhase(t, tc, "closed", h2sm.PhaseClosed)
}

func TestConnGoAwayLastStreamNeverIncreases(t *testing.T) {
	for _, tt := range []struct {
		name  string
		close func(tc *memory.Peer)
		code  h2sm.ErrCode
	}{
		{"Close", func(tc *memory.Peer) { tc.CloseConn() }, h2sm.ErrCodeNo},
		{"GoAway with an error code", func(tc *memory.Peer) { tc.GoAwayConn(h2sm.ErrCodeInternal, "") }, h2sm.ErrCodeInternal},
		{"connection error", func(tc *memory.Peer) { tc.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)) }, h2sm.ErrCodeProtocol},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			tc.Handshake()
			openGET(tc, 1)
			tc.GoAwayConn(h2sm.ErrCodeNo, "")
			tc.WantGoAway("GOAWAY with last stream 1", 1, h2sm.ErrCodeNo)
			tc.WriteHeaders(3, memory.GET("/"), memory.EndStream)
			tc.WantIdle("stream 3 ignored")
			tt.close(tc)
			// §6.8: "Endpoints MUST NOT increase the value they send in the
			// last stream identifier, since the peers might already have
			// retried unprocessed requests on another connection."
			tc.WantGoAway("§6.8: the last stream id stays 1 though stream 3 arrived", 1, tt.code)
			tc.WantClosed("closed")
		})
	}
}

func TestConnGoAwayBeforeHandshake(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmd  func(tc *memory.Peer)
	}{
		{"Shutdown", func(tc *memory.Peer) { tc.Shutdown() }},
		{"GoAway(NO_ERROR)", func(tc *memory.Peer) { tc.GoAwayConn(h2sm.ErrCodeNo, "") }},
		{"Close", func(tc *memory.Peer) { tc.CloseConn() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := memory.NewPeer(t)
			wantDefaultServerPreface(tc)
			tc.Preface()
			tt.cmd(tc)
			tc.WantGoAway("no stream can be waited for: one GOAWAY, closed at once", 0, h2sm.ErrCodeNo)
			wantGracefulClose(t, tc, "an application close with NO_ERROR is graceful")
		})
	}
}
