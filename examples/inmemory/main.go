// Command inmemory drives an h2sm.Conn entirely in memory and prints the
// exchange frame by frame: a client (golang.org/x/net/http2's Framer and
// hpack, an independent codec) sends a GET and a POST with a body; the
// application answers both; then the server shuts down gracefully with two
// GOAWAYs. No socket, no goroutine, no clock: time is a variable.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

type client struct {
	buf  bytes.Buffer // bytes the client writes
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	dec  *hpack.Decoder
}

func newClient() *client {
	cl := &client{}
	cl.fr = http2.NewFramer(&cl.buf, nil)
	cl.enc = hpack.NewEncoder(&cl.hbuf)
	cl.dec = hpack.NewDecoder(4096, nil)
	return cl
}

func (cl *client) headers(id uint32, end bool, fields ...string) {
	cl.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		cl.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: cl.hbuf.Bytes(), EndStream: end, EndHeaders: true})
}

// describe renders one frame the server sent.
func (cl *client) describe(f http2.Frame) string {
	h := f.Header()
	s := fmt.Sprintf("%-13v stream=%d", h.Type, h.StreamID)
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return s + " ACK"
		}
		f.ForeachSetting(func(st http2.Setting) error { s += " " + st.String(); return nil })
	case *http2.WindowUpdateFrame:
		s += fmt.Sprintf(" +%d", f.Increment)
	case *http2.HeadersFrame:
		fields, _ := cl.dec.DecodeFull(f.HeaderBlockFragment())
		for _, hf := range fields {
			s += " " + hf.Name + "=" + hf.Value
		}
		if f.StreamEnded() {
			s += " END_STREAM"
		}
	case *http2.DataFrame:
		s += fmt.Sprintf(" %q", f.Data())
		if f.StreamEnded() {
			s += " END_STREAM"
		}
	case *http2.PingFrame:
		s += fmt.Sprintf(" ack=%v data=%x", f.IsAck(), f.Data)
	case *http2.GoAwayFrame:
		s += fmt.Sprintf(" last=%d code=%v", f.LastStreamID, f.ErrCode)
	case *http2.RSTStreamFrame:
		s += fmt.Sprintf(" code=%v", f.ErrCode)
	}
	return s
}

func main() {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	c, err := h2sm.NewConn(now, h2sm.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cl := newClient()
	bodies := map[h2sm.StreamID]*strings.Builder{}
	var out []byte

	// drain is the drive loop's second half: output, deadline, events.
	var drain func()
	drain = func() {
		out = c.AppendOutgoing(out[:0])
		fr := http2.NewFramer(nil, bytes.NewReader(out))
		for {
			f, err := fr.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Println("bad output:", err)
				os.Exit(1)
			}
			fmt.Printf("%+8.3fs  <- %s\n", now.Sub(start).Seconds(), cl.describe(f))
		}
		var respond []h2sm.StreamID
		for ev, ok := c.NextEvent(); ok; ev, ok = c.NextEvent() {
			switch ev.Kind {
			case h2sm.EventRequest:
				fmt.Printf("%+8.3fs  ev %v stream=%d %s %s\n", now.Sub(start).Seconds(), ev.Kind, ev.Stream, ev.Method, ev.Path)
				bodies[ev.Stream] = &strings.Builder{}
				if ev.EndStream {
					respond = append(respond, ev.Stream)
				}
			case h2sm.EventData:
				fmt.Printf("%+8.3fs  ev %v stream=%d %q end=%v\n", now.Sub(start).Seconds(), ev.Kind, ev.Stream, ev.Data, ev.EndStream)
				bodies[ev.Stream].Write(ev.Data)
				if ev.EndStream {
					respond = append(respond, ev.Stream)
				}
			default:
				fmt.Printf("%+8.3fs  ev %v stream=%d err=%v\n", now.Sub(start).Seconds(), ev.Kind, ev.Stream, ev.Err)
			}
		}
		for _, id := range respond {
			body := "hello, world\n"
			if b := bodies[id].String(); b != "" {
				body = "you sent: " + b + "\n"
			}
			c.WriteHeaders(now, id, []h2sm.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "text/plain"}}, false)
			c.WriteData(now, id, []byte(body), true)
		}
		if len(respond) > 0 {
			drain()
		}
	}
	send := func(what string) {
		fmt.Printf("%+8.3fs  -> %s\n", now.Sub(start).Seconds(), what)
		in := cl.buf.Bytes()
		for len(in) > 0 {
			n := c.Receive(now, in)
			in = in[n:]
			drain()
		}
		cl.buf.Reset()
	}

	fmt.Println("server created; its SETTINGS are queued:")
	drain()
	cl.buf.WriteString(http2.ClientPreface)
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	send("preface + SETTINGS INITIAL_WINDOW_SIZE=1048576")
	cl.fr.WriteSettingsAck()
	send("SETTINGS ACK")
	now = now.Add(10 * time.Millisecond)
	cl.headers(1, true, ":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/")
	send("HEADERS stream=1 GET / END_STREAM")
	now = now.Add(10 * time.Millisecond)
	cl.headers(3, false, ":method", "POST", ":scheme", "https", ":authority", "example.com", ":path", "/echo", "content-length", "5")
	cl.fr.WriteData(3, true, []byte("ping!"))
	send("HEADERS stream=3 POST /echo + DATA \"ping!\" END_STREAM")
	now = now.Add(time.Second)
	fmt.Printf("%+8.3fs  app: graceful shutdown\n", now.Sub(start).Seconds())
	c.Shutdown(now)
	drain()
	now = now.Add(20 * time.Millisecond)
	cl.fr.WritePing(true, [8]byte{0, 0, 0, 0, 0, 0, 0, 1})
	send("PING ACK (one round trip later)")
	fmt.Println("phase:", c.Phase())
}
