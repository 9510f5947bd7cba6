package netconn

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/h2sm/h2sm/h2sm"
)

// End-to-end attack tests (research/attacks.md) against a real Server on
// 127.0.0.1 over h2c, each with a raw client. Each measures the growth of
// the Go heap (the server runs in this process) across the attack, asserts
// it stays under heapBound, and then checks that a new connection is served.

// heapBound is a generous bound on the heap growth one attack may cause.
const heapBound = 8 << 20

// heapAlloc is the live heap after a GC.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// checkHeap fails t if the heap grew by heapBound or more since before.
func checkHeap(t *testing.T, what string, before uint64) {
	t.Helper()
	after := heapAlloc()
	growth := int64(after) - int64(before)
	t.Logf("%s: heap %d -> %d bytes (growth %d)", what, before, after, growth)
	if growth >= heapBound {
		t.Errorf("%s: heap grew by %d bytes, want < %d", what, growth, heapBound)
	}
}

// attackHandler answers /ok with 200 "ok" and passes other paths to h.
func attackHandler(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "ok")
			return
		}
		h(w, r)
	})
}

// checkStillServes does a GET on a new connection with x/net's h2c Transport.
func checkStillServes(t *testing.T, ts *testServer) {
	t.Helper()
	c := ts.client(t)
	if code, body := c.get(t, ts.url("/ok")); code != 200 || body != "ok" {
		t.Errorf("GET /ok on a new connection after the attack = %d %q, want 200 \"ok\"", code, body)
	}
}

// dialRaw dials ts with a safety deadline.
func dialRaw(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(safety))
	t.Cleanup(func() { nc.Close() })
	return nc
}

// serverConn returns the server's only connection.
func (ts *testServer) serverConn(t *testing.T) *conn {
	t.Helper()
	var c *conn
	waitFor(t, "the server to track the connection", func() bool {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		for k := range ts.srv.conns {
			c = k
		}
		return len(ts.srv.conns) == 1
	})
	return c
}

func (c *conn) stats() h2sm.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.Stats()
}

// frameLog reads frames in the background, acknowledging SETTINGS and PING,
// and reports RST_STREAMs, responses' :status and the GOAWAY.
type frameLog struct {
	rc     *rawConn
	rst    chan *http2.RSTStreamFrame
	status chan string // "id status"
	goaway chan *goAway
	done   chan error // the read error that ended the loop
}

// goAway is a copy of a GOAWAY frame (the Framer reuses its buffer).
type goAway struct {
	ErrCode      http2.ErrCode
	LastStreamID uint32
	Debug        string
}

func (rc *rawConn) readLog() *frameLog {
	l := &frameLog{rc: rc, rst: make(chan *http2.RSTStreamFrame, 1000), status: make(chan string, 1000),
		goaway: make(chan *goAway, 1), done: make(chan error, 1)}
	go func() {
		dec := hpack.NewDecoder(4096, nil)
		for {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				l.done <- err
				return
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				select {
				case l.goaway <- &goAway{ErrCode: f.ErrCode, LastStreamID: f.LastStreamID, Debug: string(f.DebugData())}:
				default:
				}
			case *http2.RSTStreamFrame:
				g := *f
				l.rst <- &g
			case *http2.HeadersFrame:
				fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
				for _, hf := range fields {
					if hf.Name == ":status" {
						l.status <- fmt.Sprintf("%d %s", f.StreamID, hf.Value)
					}
				}
			case *http2.SettingsFrame:
				if !f.IsAck() {
					rc.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					rc.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
				}
			}
		}
	}()
	return l
}

// TestAttackRapidReset: HEADERS + RST_STREAM in a loop (CVE-2023-44487)
// against handlers that ignore the reset. At no time do more than
// MaxConcurrentStreams handlers run; the client gets GOAWAY
// ENHANCE_YOUR_CALM; heap growth < 8 MiB; a new connection is served.
func TestAttackRapidReset(t *testing.T) {
	const m = 4
	var running, maxRunning, total atomic.Int32
	release := make(chan struct{})
	ts := startServer(t, modeH2C, attackHandler(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		k := running.Add(1)
		defer running.Add(-1)
		for {
			old := maxRunning.Load()
			if k <= old || maxRunning.CompareAndSwap(old, k) {
				break
			}
		}
		<-release
	}), func(s *Server) { s.MaxConcurrentStreams = m })
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer releaseAll()
	before := heapAlloc()
	nc := dialRaw(t, ts)
	rc := newRawConn(t, nc)
	log := rc.readLog()
	var got *goAway
	sent := 0
loop:
	for id := uint32(1); sent < 100_000; id += 2 {
		select {
		case got = <-log.goaway:
			break loop
		default:
		}
		if err := rc.writeRequest(id, ts.addr, "/block", true); err != nil {
			break
		}
		if err := rc.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }); err != nil {
			break
		}
		sent++
	}
	if got == nil {
		select {
		case got = <-log.goaway:
		case err := <-log.done:
			select {
			case got = <-log.goaway:
			default:
				t.Fatalf("connection ended (%v) without GOAWAY after %d HEADERS+RST_STREAM", err, sent)
			}
		case <-time.After(safety):
			t.Fatal("no GOAWAY")
		}
	}
	if got.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v after %d streams, want ENHANCE_YOUR_CALM", got.ErrCode, sent)
	}
	if n := ts.handlersRunning(); n > m {
		t.Errorf("%d handler slots taken, want at most %d", n, m)
	}
	if mx := maxRunning.Load(); mx > m {
		t.Errorf("%d handlers ran at once, want at most %d", mx, m)
	}
	checkHeap(t, "rapid reset", before)
	t.Logf("GOAWAY %v after %d HEADERS+RST_STREAM; %d handlers started", got.ErrCode, sent, total.Load())
	releaseAll()
	checkStillServes(t, ts)
}

// continuationFlood sends HEADERS without END_HEADERS for a GET and then
// up to maxFrames CONTINUATIONs from next (never END_HEADERS), and expects
// GOAWAY ENHANCE_YOUR_CALM with the server having consumed at most limit
// CONTINUATIONs.
func continuationFlood(t *testing.T, next func(i int) []byte, limit uint64) {
	var started atomic.Int32
	ts := startServer(t, modeH2C, attackHandler(func(w http.ResponseWriter, r *http.Request) { started.Add(1) }))
	before := heapAlloc()
	nc := dialRaw(t, ts)
	rc := newRawConn(t, nc)
	rc.handshake(t) // so that no SETTINGS ACK falls inside the block
	sc := ts.serverConn(t)
	log := rc.readLog()
	rc.wmu.Lock()
	rc.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", ts.addr}, {":path", "/flood"}} {
		rc.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.hbuf.Bytes(), EndStream: true})
	rc.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	const maxFrames = 100_000
	stop := make(chan struct{})
	writerDone := make(chan int, 1)
	go func() {
		i := 0
		for ; i < maxFrames; i++ {
			select {
			case <-stop:
				writerDone <- i
				return
			default:
			}
			p := next(i)
			if rc.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, p) }) != nil {
				break
			}
		}
		writerDone <- i
	}()
	var got *goAway
	select {
	case got = <-log.goaway:
	case err := <-log.done:
		// The reader saw the GOAWAY, then EOF: both channels may be ready.
		select {
		case got = <-log.goaway:
		default:
			t.Fatalf("connection ended (%v) without GOAWAY", err)
		}
	case <-time.After(safety):
		t.Fatal("no GOAWAY")
	}
	close(stop)
	sent := recv(t, writerDone, "the flood writer to stop")
	if got.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", got.ErrCode)
	}
	st := sc.stats()
	if n := st.FramesIn[h2sm.FrameContinuation]; n > limit {
		t.Errorf("server consumed %d CONTINUATIONs before closing, want at most %d", n, limit)
	}
	if n := started.Load(); n != 0 {
		t.Errorf("%d handlers ran for an unfinished header block", n)
	}
	t.Logf("GOAWAY %v %q; client wrote %d CONTINUATIONs, server consumed %d (%d bytes in)",
		got.ErrCode, got.Debug, sent, st.FramesIn[h2sm.FrameContinuation], st.BytesIn)
	checkHeap(t, "CONTINUATION flood", before)
	checkStillServes(t, ts)
}

// TestAttackContinuationFlood (CVE-2023-45288): CONTINUATIONs of one ~15-byte
// field each, then empty CONTINUATIONs. Both end with GOAWAY
// ENHANCE_YOUR_CALM after at most 17 CONTINUATIONs consumed (the bound is
// max(16, 2L/F+1) = 16 at the defaults), no handler runs, heap growth
// < 8 MiB, and a new connection is served.
func TestAttackContinuationFlood(t *testing.T) {
	t.Run("15-byte fields", func(t *testing.T) {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		continuationFlood(t, func(i int) []byte {
			buf.Reset()
			enc.WriteField(hpack.HeaderField{Name: "x-f", Value: fmt.Sprintf("%010d", i), Sensitive: true})
			return append([]byte(nil), buf.Bytes()...)
		}, 17)
	})
	t.Run("empty", func(t *testing.T) {
		continuationFlood(t, func(int) []byte { return nil }, 17)
	})
}

// TestAttackPingFlood (CVE-2019-9512): the client sends PINGs and never
// reads. The server closes the connection (control-frame queue, glitch
// budget or write-stall timer), heap growth < 8 MiB, and a new connection
// is served.
func TestAttackPingFlood(t *testing.T) {
	ts := startServer(t, modeH2C, attackHandler(func(w http.ResponseWriter, r *http.Request) {}), func(s *Server) {
		s.Config.WriteStallTimeout = 500 * time.Millisecond
	})
	before := heapAlloc()
	nc := dialRaw(t, ts)
	rc := newRawConn(t, nc)
	ts.serverConn(t)
	writerDone := make(chan error, 1)
	stop := make(chan struct{})
	var sent atomic.Int64
	go func() {
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			var d [8]byte
			for k := range d {
				d[k] = byte(i >> (8 * k))
			}
			if err := rc.write(func(fr *http2.Framer) error { return fr.WritePing(false, d) }); err != nil {
				writerDone <- err
				return
			}
			sent.Add(1)
		}
	}()
	waitFor(t, "the server to close the flooding connection", func() bool { return ts.connCount() == 0 })
	checkHeap(t, "ping flood", before) // the client still has not read
	close(stop)
	nc.Close()
	recv(t, writerDone, "the flood writer to stop")
	t.Logf("client wrote %d PINGs", sent.Load())
	checkStillServes(t, ts)
}

// TestAttackHPACKBomb (CVE-2016-6581): one 4 KB dynamic-table entry
// referenced 16 000 times (~64 MB decoded from ~20 KB). The answer is a 431
// or GOAWAY; heap growth < 8 MiB; a new connection is served.
func TestAttackHPACKBomb(t *testing.T) {
	var started atomic.Int32
	ts := startServer(t, modeH2C, attackHandler(func(w http.ResponseWriter, r *http.Request) { started.Add(1) }))
	before := heapAlloc()
	nc := dialRaw(t, ts)
	rc := newRawConn(t, nc)
	log := rc.readLog()
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", ts.addr}, {":path", "/bomb"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	bomb := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)} // 4038 octets in the table
	for range 16_001 {
		enc.WriteField(bomb) // a literal with indexing, then 16 000 one-byte references
	}
	block := buf.Bytes()
	if len(block) > 25_000 {
		t.Fatalf("bomb block is %d bytes; the encoder did not index the field", len(block))
	}
	err := rc.write(func(fr *http2.Framer) error {
		first, rest := block[:16000], block[16000:]
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true}); err != nil {
			return err
		}
		return fr.WriteContinuation(1, true, rest)
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-log.status:
		if s != "1 431" {
			t.Errorf("response %q, want 1 431", s)
		}
		t.Logf("answer: %s", s)
	case g := <-log.goaway:
		t.Logf("answer: GOAWAY %v %q", g.ErrCode, g.Debug)
	case err := <-log.done:
		// The reader saw the answer, then EOF: both channels may be ready.
		select {
		case g := <-log.goaway:
			t.Logf("answer: GOAWAY %v %q", g.ErrCode, g.Debug)
		case s := <-log.status:
			if s != "1 431" {
				t.Errorf("response %q, want 1 431", s)
			}
		default:
			t.Fatalf("connection ended (%v) with neither 431 nor GOAWAY", err)
		}
	case <-time.After(safety):
		t.Fatal("no answer to the bomb")
	}
	if n := started.Load(); n != 0 {
		t.Errorf("%d handlers ran for the bomb", n)
	}
	checkHeap(t, "HPACK bomb", before)
	checkStillServes(t, ts)
}

// TestAttackSlowPreface (slowloris): the preface one byte per 100 ms with
// Config.HandshakeTimeout and TLSHandshakeTimeout (which bounds netconn's
// cleartext preface sniffing) both 1s. The server closes the connection
// before the 24-byte preface is complete; heap growth < 8 MiB; a new
// connection is served.
func TestAttackSlowPreface(t *testing.T) {
	slowPreface(t, func(s *Server) {
		s.Config.HandshakeTimeout = time.Second
		s.TLSHandshakeTimeout = time.Second
	})
}

// TestAttackSlowPrefaceHandshakeTimeout is the same with only
// Config.HandshakeTimeout set, which documents that it "bounds the time
// from NewConn to the client's preface".
func TestAttackSlowPrefaceHandshakeTimeout(t *testing.T) {
	slowPreface(t, func(s *Server) { s.Config.HandshakeTimeout = time.Second })
}

func slowPreface(t *testing.T, opt func(*Server)) {
	ts := startServer(t, modeH2C, attackHandler(func(w http.ResponseWriter, r *http.Request) {}), opt)
	before := heapAlloc()
	nc := dialRaw(t, ts)
	start := time.Now()
	stop := make(chan struct{})
	var sentBytes atomic.Int32
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < len(http2.ClientPreface); i++ {
			if _, err := nc.Write([]byte{http2.ClientPreface[i]}); err != nil {
				return
			}
			sentBytes.Add(1)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // pacing, not synchronisation
			}
		}
	}()
	_, err := io.Copy(io.Discard, nc) // the server's SETTINGS and GOAWAY, if any, then EOF
	closedAt, n := time.Since(start), sentBytes.Load()
	close(stop)
	<-writerDone
	t.Logf("connection closed after %v (read error %v), %d preface bytes sent", closedAt, err, n)
	if int(n) >= len(http2.ClientPreface) {
		t.Errorf("the whole %d-byte preface was sent (%v) before the server closed", n, closedAt)
	}
	waitFor(t, "the server to drop the connection", func() bool { return ts.connCount() == 0 })
	checkHeap(t, "slow preface", before)
	checkStillServes(t, ts)
}

// TestAttackZeroWindow (slow read, CVE-2016-1546): the client advertises
// INITIAL_WINDOW_SIZE 0 and never sends WINDOW_UPDATE; the handlers write
// 1 MiB each. With StreamStallTimeout 1s every stream gets RST_STREAM
// CANCEL, every handler's Write fails and the handler returns; heap growth
// < 8 MiB; a new connection is served.
func TestAttackZeroWindow(t *testing.T) {
	const streams = 5
	handlerErr := make(chan error, streams)
	ts := startServer(t, modeH2C, attackHandler(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 16<<10)
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				handlerErr <- err
				return
			}
		}
		handlerErr <- nil
	}), func(s *Server) { s.Config.StreamStallTimeout = time.Second })
	before := heapAlloc()
	nc := dialRaw(t, ts)
	rc := &rawConn{nc: nc, fr: http2.NewFramer(nc, nc)}
	rc.enc = hpack.NewEncoder(&rc.hbuf)
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	log := rc.readLog()
	for i := range streams {
		if err := rc.writeRequest(uint32(2*i+1), ts.addr, "/big", true); err != nil {
			t.Fatal(err)
		}
	}
	reset := map[uint32]bool{}
	for len(reset) < streams {
		f := recv(t, log.rst, "RST_STREAM")
		if f.ErrCode != http2.ErrCodeCancel {
			t.Errorf("RST_STREAM stream=%d %v, want CANCEL", f.StreamID, f.ErrCode)
		}
		reset[f.StreamID] = true
	}
	for range streams {
		if err := recv(t, handlerErr, "a handler to return"); err == nil {
			t.Errorf("a handler wrote 1 MiB into a zero window without an error")
		}
	}
	waitFor(t, "the handler slots to be freed", func() bool { return ts.handlersRunning() == 0 })
	checkHeap(t, "zero window", before)
	checkStillServes(t, ts)
}

// TestAttackStreamLimit (stream exhaustion): with MaxConcurrentStreams M,
// stream M+1 is refused with RST_STREAM REFUSED_STREAM while the first M
// run; after they are released they all answer 200, heap growth < 8 MiB,
// and a new connection is served.
func TestAttackStreamLimit(t *testing.T) {
	const m = 3
	started := make(chan string, 2*m)
	release := make(chan struct{})
	ts := startServer(t, modeH2C, attackHandler(func(w http.ResponseWriter, r *http.Request) {
		started <- r.URL.Path
		<-release
	}), func(s *Server) { s.MaxConcurrentStreams = m })
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer releaseAll()
	before := heapAlloc()
	nc := dialRaw(t, ts)
	rc := newRawConn(t, nc)
	log := rc.readLog()
	for id := uint32(1); id <= 2*m+1; id += 2 {
		if err := rc.writeRequest(id, ts.addr, fmt.Sprintf("/s/%d", id), true); err != nil {
			t.Fatal(err)
		}
	}
	f := recv(t, log.rst, "RST_STREAM REFUSED_STREAM")
	if f.StreamID != 2*m+1 || f.ErrCode != http2.ErrCodeRefusedStream {
		t.Errorf("RST_STREAM stream=%d %v, want stream=%d REFUSED_STREAM", f.StreamID, f.ErrCode, 2*m+1)
	}
	for range m {
		recv(t, started, "a handler to start")
	}
	select {
	case p := <-started:
		t.Errorf("handler for %s ran beyond the limit", p)
	default:
	}
	releaseAll()
	for range m {
		if s := recv(t, log.status, "a response"); !strings.HasSuffix(s, " 200") {
			t.Errorf("response %q, want 200", s)
		}
	}
	select {
	case f := <-log.rst:
		t.Errorf("unexpected RST_STREAM stream=%d %v", f.StreamID, f.ErrCode)
	case g := <-log.goaway:
		t.Errorf("unexpected GOAWAY %v", g.ErrCode)
	default:
	}
	checkHeap(t, "stream limit", before)
	checkStillServes(t, ts)
}
