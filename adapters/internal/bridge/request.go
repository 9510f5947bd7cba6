package bridge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/h2sm/h2sm/h2sm"
)

// stream is one request and its response, shared between the handler
// goroutine and the Driver.
type stream struct {
	b      *Conn
	id     h2sm.StreamID
	req    *http.Request
	ctx    context.Context
	cancel context.CancelCauseFunc
	body   *body
	wakeCh chan struct{} // EventStreamWritable or abort

	w       *responseWriter
	endSent bool // END_STREAM handed to the core (handler goroutine only)

	// The request's body and the response writer live in the stream's
	// allocation (body and w point here).
	bodyv body
	wv    responseWriter

	// Under the Driver's exclusivity: the handler returned before the client
	// finished its body, which is now discarded.
	discarding bool
	discarded  int

	mu       sync.Mutex
	err      error // set when the stream was reset or the connection lost
	trailers http.Header
}

// newStream builds the request of a request event.
func (b *Conn) newStream(c *h2sm.Conn, ev h2sm.Event) (*stream, error) {
	var u *url.URL
	var err error
	if ev.Method == "CONNECT" && ev.Protocol == "" {
		u = &url.URL{Host: ev.Authority}
	} else if ev.Path == "*" {
		u = &url.URL{Path: "*"}
	} else if u, err = url.ParseRequestURI(ev.Path); err != nil {
		return nil, err
	}
	hdr := make(http.Header, len(ev.Fields))
	// One backing array for the values: a field seen once takes a one-slot
	// slice of it (capped, so that a repeated field copies on append).
	vals := make([]string, len(ev.Fields))
	var cookies []string
	for i, f := range ev.Fields {
		if f.Name == "cookie" {
			// RFC 9113 §8.2.3: cookie crumbs are joined with "; ".
			cookies = append(cookies, f.Value)
			continue
		}
		key := canonicalKey(f.Name)
		if prev, ok := hdr[key]; ok {
			hdr[key] = append(prev, f.Value)
			continue
		}
		vals[i] = f.Value
		hdr[key] = vals[i : i+1 : i+1]
	}
	if len(cookies) > 0 {
		hdr["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if ev.Protocol != "" {
		hdr[":protocol"] = []string{ev.Protocol}
	}
	st := &stream{b: b, id: ev.Stream, wakeCh: make(chan struct{}, 1)}
	st.body, st.w = &st.bodyv, &st.wv
	st.ctx, st.cancel = context.WithCancelCause(b.ctx)
	if b.cfg.Server != nil {
		st.ctx = context.WithValue(st.ctx, http.ServerContextKey, b.cfg.Server)
	}
	st.bodyv.init(st, ev.EndStream, b.manual)
	cl := ev.ContentLength
	if cl < 0 && ev.EndStream {
		cl = 0
	}
	req := http.Request{
		Method:     ev.Method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     hdr,
		Host:       ev.Authority,
		RequestURI: ev.Path,
		RemoteAddr: b.cfg.RemoteAddr,
		TLS:        b.cfg.TLS,
	}
	if ev.Method == "CONNECT" && ev.Protocol == "" {
		req.RequestURI = ev.Authority
	}
	req.ContentLength = cl
	req.Body = st.body
	if ev.EndStream {
		req.Body = http.NoBody
	}
	if tr := hdr["Trailer"]; len(tr) > 0 {
		req.Trailer = make(http.Header)
		for _, v := range tr {
			for _, k := range strings.Split(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
					req.Trailer[k] = nil
				}
			}
		}
	}
	st.req = req.WithContext(st.ctx) // the one Request allocated
	st.wv.st, st.wv.header = st, make(http.Header)
	return st, nil
}

// setTrailers records the request's trailers. The handler sees them in
// Request.Trailer once the body returned io.EOF.
func (st *stream) setTrailers(fields []h2sm.HeaderField) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.trailers == nil {
		st.trailers = make(http.Header)
	}
	for _, f := range fields {
		k := http.CanonicalHeaderKey(f.Name)
		st.trailers[k] = append(st.trailers[k], f.Value)
	}
}

// abort records that the stream ended abnormally and wakes everyone waiting
// on it.
func (st *stream) abort(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
	// The context first: a handler woken by the failed body read must find
	// its context already cancelled.
	st.cancel(err)
	st.body.fail(err)
	st.wake()
}

func (st *stream) aborted() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err != nil
}

func (st *stream) wake() {
	select {
	case st.wakeCh <- struct{}{}:
	default:
	}
}

// run calls f on the core through the Driver.
func (st *stream) run(f func(c *h2sm.Conn, now time.Time)) { st.b.drv.Run(f) }

// body is the request body: DATA the core delivered, read by the handler.
// Credit returns to the client as the handler reads (manual flow control).
type body struct {
	st     *stream
	manual bool

	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte // bytes not yet read are buf[off:]; from Buffers, back at the end
	off     int
	eof     bool
	err     error
	closed  bool
	started bool // first Read happened (Expect: 100-continue)
}

func (bd *body) init(st *stream, eof bool, manual bool) {
	bd.st, bd.eof, bd.manual = st, eof, manual
	bd.cond.L = &bd.mu
}

// push appends delivered DATA; it runs under the Driver's exclusivity. It
// returns how many bytes nobody will read, whose credit the caller returns.
func (bd *body) push(p []byte, end bool) (discarded int) {
	bd.mu.Lock()
	if bd.closed {
		bd.mu.Unlock()
		return len(p)
	}
	if len(p) > 0 {
		switch {
		case bd.buf == nil:
			bd.buf = Buffers.Get()
		case bd.off == len(bd.buf):
			bd.buf, bd.off = bd.buf[:0], 0
		case bd.off > 0 && len(bd.buf)+len(p) > cap(bd.buf):
			bd.buf = bd.buf[:copy(bd.buf, bd.buf[bd.off:])]
			bd.off = 0
		}
		bd.buf = append(bd.buf, p...)
	}
	if end {
		bd.eof = true
	}
	bd.mu.Unlock()
	bd.cond.Broadcast()
	return 0
}

func (bd *body) fail(err error) {
	bd.mu.Lock()
	if bd.err == nil && !bd.eof {
		bd.err = err
	}
	bd.mu.Unlock()
	bd.cond.Broadcast()
}

// Read implements io.Reader.
func (bd *body) Read(p []byte) (int, error) {
	bd.mu.Lock()
	first := !bd.started
	bd.started = true
	bd.mu.Unlock()
	if first && bd.st.req.Header.Get("Expect") == "100-continue" {
		bd.st.rw().send100Continue()
	}
	bd.mu.Lock()
	for bd.off == len(bd.buf) && !bd.eof && bd.err == nil && !bd.closed {
		bd.cond.Wait()
	}
	if bd.closed {
		bd.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if bd.off == len(bd.buf) {
		bd.release()
		err := bd.err
		if err == nil {
			err = io.EOF
			bd.st.publishTrailers()
		}
		bd.mu.Unlock()
		return 0, err
	}
	n := copy(p, bd.buf[bd.off:])
	bd.off += n
	bd.mu.Unlock()
	if bd.manual {
		bd.st.run(func(c *h2sm.Conn, now time.Time) { c.Consumed(now, bd.st.id, n) })
	}
	return n, nil
}

// Close implements io.Closer: the rest of the body is discarded.
func (bd *body) Close() error {
	bd.mu.Lock()
	if bd.closed {
		bd.mu.Unlock()
		return nil
	}
	bd.closed = true
	n := len(bd.buf) - bd.off
	bd.release()
	bd.mu.Unlock()
	bd.cond.Broadcast()
	if n > 0 && bd.manual {
		bd.st.run(func(c *h2sm.Conn, now time.Time) { c.Consumed(now, bd.st.id, n) })
	}
	return nil
}

// release gives the buffer back to the pool; bd.mu is held.
func (bd *body) release() {
	if bd.buf != nil {
		Buffers.Put(bd.buf)
		bd.buf, bd.off = nil, 0
	}
}

// unfinished reports whether the client may still send body.
func (bd *body) unfinished() bool {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	return !bd.eof && bd.err == nil
}

// publishTrailers copies received trailers into Request.Trailer.
func (st *stream) publishTrailers() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.trailers == nil {
		return
	}
	if st.req.Trailer == nil {
		st.req.Trailer = make(http.Header)
	}
	for k, v := range st.trailers {
		st.req.Trailer[k] = v
	}
}

// errStreamGone is what a handler's writes return once the stream is gone.
var errStreamGone = errors.New("h2sm: stream closed")
