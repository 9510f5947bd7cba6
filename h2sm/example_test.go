package h2sm_test

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// clientBytes builds what a client sends: the preface, SETTINGS, the ACK of
// the server's SETTINGS, and a GET request.
func clientBytes() []byte {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/hello"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	return buf.Bytes()
}

// printFrames prints the frames in b, as a client would read them.
func printFrames(b []byte) {
	fr := http2.NewFramer(nil, bytes.NewReader(b))
	for {
		f, err := fr.ReadFrame()
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Println("bad output:", err)
			return
		}
		fmt.Printf("  -> %v stream=%d len=%d\n", f.Header().Type, f.Header().StreamID, f.Header().Length)
	}
}

// ExampleConn drives a Conn through a whole request: the drive loop feeds
// bytes, drains output, the deadline and events in that order, and answers
// the request event with commands.
func ExampleConn() {
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := h2sm.NewConn(now, h2sm.Config{})
	if err != nil {
		panic(err)
	}
	var out []byte
	drain := func() {
		out = c.AppendOutgoing(out[:0])
		printFrames(out)
		if d, ok := c.Deadline(); ok {
			fmt.Println("  next deadline in", d.Sub(now))
		}
		for ev, ok := c.NextEvent(); ok; ev, ok = c.NextEvent() {
			fmt.Println("  event", ev.Kind, ev.Method, ev.Path)
			if ev.Kind == h2sm.EventRequest {
				c.WriteHeaders(now, ev.Stream, []h2sm.HeaderField{
					{Name: ":status", Value: "200"},
					{Name: "content-type", Value: "text/plain"},
				}, false)
				c.WriteData(now, ev.Stream, []byte("hello, world\n"), true)
			}
		}
	}
	fmt.Println("created:")
	drain()
	in := clientBytes()
	fmt.Println("received client bytes:")
	for len(in) > 0 {
		n := c.Receive(now, in)
		in = in[n:]
		drain()
	}
	fmt.Println("after the response:")
	drain()
	fmt.Println("phase:", c.Phase())
	// Output:
	// created:
	//   -> SETTINGS stream=0 len=18
	//   -> WINDOW_UPDATE stream=0 len=4
	//   next deadline in 10s
	// received client bytes:
	//   -> SETTINGS stream=0 len=0
	//   event Request GET /hello
	// after the response:
	//   -> HEADERS stream=1 len=10
	//   -> DATA stream=1 len=13
	//   next deadline in 3m0s
	// phase: Open
}

// ExampleConn_Shutdown shows a graceful shutdown: a first GOAWAY with the
// largest stream id and a PING, then, when the PING is acknowledged, the
// GOAWAY with the last stream processed; with no stream open the connection
// closes.
func ExampleConn_Shutdown() {
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	c, _ := h2sm.NewConn(now, h2sm.Config{})
	var in bytes.Buffer
	in.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&in, nil)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	c.Receive(now, in.Bytes())
	c.AppendOutgoing(nil) // the server's SETTINGS and ACK, not shown

	c.Shutdown(now)
	fmt.Println("after Shutdown:", c.Phase())
	printFrames(c.AppendOutgoing(nil))

	in.Reset()
	fr.WritePing(true, [8]byte{0, 0, 0, 0, 0, 0, 0, 1}) // the client answers the PING
	c.Receive(now.Add(20*time.Millisecond), in.Bytes())
	fmt.Println("after the PING ACK:", c.Phase())
	printFrames(c.AppendOutgoing(nil))
	ev, _ := c.NextEvent()
	fmt.Println("event", ev.Kind, ev.Err)
	// Output:
	// after Shutdown: GoAway
	//   -> GOAWAY stream=0 len=8
	//   -> PING stream=0 len=8
	// after the PING ACK: Closed
	//   -> GOAWAY stream=0 len=8
	// event ConnClosed <nil>
}
