package h2sm_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// browserGET is a request with the header fields a browser sends.
var browserGET = []hpack.HeaderField{
	{Name: ":method", Value: "GET"},
	{Name: ":scheme", Value: "https"},
	{Name: ":authority", Value: "www.example.com"},
	{Name: ":path", Value: "/"},
	{Name: "user-agent", Value: "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"},
	{Name: "accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	{Name: "accept-language", Value: "en-US,en;q=0.5"},
	{Name: "accept-encoding", Value: "gzip, deflate, br, zstd"},
	{Name: "upgrade-insecure-requests", Value: "1"},
	{Name: "sec-fetch-dest", Value: "document"},
	{Name: "sec-fetch-mode", Value: "navigate"},
	{Name: "sec-fetch-site", Value: "none"},
	{Name: "sec-fetch-user", Value: "?1"},
	{Name: "priority", Value: "u=0, i"},
	{Name: "cookie", Value: "session=4f2a9c1e7b; theme=dark"},
}

// benchClient is the client side of a benchmark: it prepares bytes with
// x/net/http2 and discards what the server sends.
type benchClient struct {
	c   *h2sm.Conn
	now time.Time
	out []byte
	enc *hpack.Encoder
	blk bytes.Buffer
}

func newBenchClient(b *testing.B, cfg h2sm.Config) *benchClient {
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := h2sm.NewConn(now, cfg)
	if err != nil {
		b.Fatal(err)
	}
	bc := &benchClient{c: c, now: now}
	bc.enc = hpack.NewEncoder(&bc.blk)
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	fr.WriteSettingsAck()
	fr.WriteWindowUpdate(0, 1<<31-1-65535)
	bc.feed(buf.Bytes())
	return bc
}

// feed gives p to the Conn and drains outputs, discarding frames and events.
func (bc *benchClient) feed(p []byte) {
	for len(p) > 0 {
		n := bc.c.Receive(bc.now, p)
		p = p[n:]
		bc.drain()
	}
}

func (bc *benchClient) drain() {
	bc.out = bc.c.AppendOutgoing(bc.out[:0])
	for _, ok := bc.c.NextEvent(); ok; _, ok = bc.c.NextEvent() {
	}
}

// answer completes stream id with a 200 and a short body.
func (bc *benchClient) answer(id h2sm.StreamID) {
	bc.c.WriteHeaders(bc.now, id, okFields, false)
	bc.c.WriteData(bc.now, id, helloWorld, true)
	bc.drain()
}

// headersFrame encodes fields as one HEADERS frame on stream 1; setID
// patches the stream id in place.
func (bc *benchClient) headersFrame(fields []hpack.HeaderField, end bool) []byte {
	bc.blk.Reset()
	for _, f := range fields {
		bc.enc.WriteField(f)
	}
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: bc.blk.Bytes(), EndStream: end, EndHeaders: true})
	return buf.Bytes()
}

func setID(frame []byte, id uint32) { binary.BigEndian.PutUint32(frame[5:9], id) }

var (
	okFields   = []h2sm.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "text/plain; charset=utf-8"}}
	helloWorld = []byte("hello, world\n")
)

// BenchmarkConnGET is one browser-like GET answered with 200 and a 13-byte
// body, through the core in memory, in steady state (the HPACK tables hold
// every field): bytes in, request event, response commands, bytes out.
func BenchmarkConnGET(b *testing.B) {
	bc := newBenchClient(b, h2sm.Config{})
	// The first request fills the peer's HPACK table; later ones are all indexed.
	first := bc.headersFrame(browserGET, true)
	req := bc.headersFrame(browserGET, true)
	bc.feed(first)
	bc.answer(1)
	id := uint32(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id += 2
		setID(req, id)
		for p := req; len(p) > 0; {
			n := bc.c.Receive(bc.now, p)
			p = p[n:]
		}
		ev, ok := bc.c.NextEvent()
		if !ok || ev.Kind != h2sm.EventRequest {
			b.Fatalf("event = %v, %v", ev.Kind, ok)
		}
		if err := bc.c.WriteHeaders(bc.now, ev.Stream, okFields, false); err != nil {
			b.Fatal(err)
		}
		if _, err := bc.c.WriteData(bc.now, ev.Stream, helloWorld, true); err != nil {
			b.Fatal(err)
		}
		bc.out = bc.c.AppendOutgoing(bc.out[:0])
	}
	b.StopTimer()
	if s := bc.c.Stats(); s.ActiveStreams != 0 || s.StreamErrors != 0 || s.ConnErrors != 0 {
		b.Fatalf("stats: %+v", s)
	}
}

// BenchmarkConnLargeResponse sends a 1 MiB response body; the client keeps
// the connection window open.
func BenchmarkConnLargeResponse(b *testing.B) {
	bc := newBenchClient(b, h2sm.Config{})
	req := bc.headersFrame(browserGET[:4], true)
	var wu bytes.Buffer
	http2.NewFramer(&wu, nil).WriteWindowUpdate(0, 1<<20)
	body := make([]byte, 1<<20)
	id := uint32(1)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		setID(req, id)
		bc.feed(req)
		ev, ok := bc.c.NextEvent()
		if ok || ev.Kind != 0 {
			b.Fatal("events must have been drained by feed")
		}
		if err := bc.c.WriteHeaders(bc.now, h2sm.StreamID(id), okFields, false); err != nil {
			b.Fatal(err)
		}
		for p := body; len(p) > 0; {
			n, err := bc.c.WriteData(bc.now, h2sm.StreamID(id), p, true)
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
			bc.drain()
		}
		bc.drain()
		bc.feed(wu.Bytes())
		id += 2
	}
	b.StopTimer()
	if s := bc.c.Stats(); s.ActiveStreams != 0 || s.StreamErrors != 0 || s.ConnErrors != 0 {
		b.Fatalf("stats: %+v", s)
	}
}

// BenchmarkConn100Streams opens 100 streams at once and answers each with a
// 16 KiB body, so that the scheduler interleaves them; one op is the 100
// requests.
func BenchmarkConn100Streams(b *testing.B) {
	bc := newBenchClient(b, h2sm.Config{})
	first := bc.headersFrame(browserGET, true)
	req := bc.headersFrame(browserGET, true)
	bc.feed(first)
	bc.answer(1)
	var wu bytes.Buffer
	http2.NewFramer(&wu, nil).WriteWindowUpdate(0, 100*16384)
	body := make([]byte, 16384)
	batch := make([]byte, 0, 100*len(req))
	id := uint32(1)
	ids := make([]h2sm.StreamID, 0, 100)
	b.SetBytes(100 * int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch = batch[:0]
		for j := 0; j < 100; j++ {
			id += 2
			setID(req, id)
			batch = append(batch, req...)
		}
		ids = ids[:0]
		for p := batch; len(p) > 0; {
			n := bc.c.Receive(bc.now, p)
			p = p[n:]
			for ev, ok := bc.c.NextEvent(); ok; ev, ok = bc.c.NextEvent() {
				ids = append(ids, ev.Stream)
			}
		}
		for _, s := range ids {
			bc.c.WriteHeaders(bc.now, s, okFields, false)
			if n, _ := bc.c.WriteData(bc.now, s, body, true); n != len(body) {
				b.Fatalf("WriteData accepted %d", n)
			}
		}
		for bc.c.Stats().ActiveStreams > 0 {
			bc.drain()
		}
		bc.feed(wu.Bytes())
	}
}
