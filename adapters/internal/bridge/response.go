package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/h2sm/h2sm/h2sm"
)

// bufferSize is how much body a handler may write before its response
// headers are committed; a response that fits gets a Content-Length (as
// net/http does).
const bufferSize = 4096

// responseWriter implements http.ResponseWriter over the core's commands.
// Like net/http's, it is not safe for concurrent use, except that
// Request.Body may be read concurrently.
type responseWriter struct {
	st     *stream
	header http.Header
	status int
	wrote  bool   // final status chosen (WriteHeader or first Write)
	buf    []byte // body written before the headers were committed
	noBody bool   // HEAD, 204, 304

	mu        sync.Mutex // guards sent, deadlines (Body.Read runs concurrently)
	sent      bool       // final HEADERS handed to the core
	trailers  []string   // declared in the Trailer header at commit
	readTimer *time.Timer
	writeTime *time.Timer

	added    [3]string           // values of the headers commit adds
	fieldBuf [8]h2sm.HeaderField // commit's fields, when they fit
	cmd      commitCmd
}

func (st *stream) rw() *responseWriter { return st.w }

// Header implements http.ResponseWriter.
func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter. A 1xx status other than 101
// is sent at once as an informational response (with the current header
// for 103, as net/http does).
func (w *responseWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 && code != 101 {
		fields := []h2sm.HeaderField{{Name: ":status", Value: strconv.Itoa(code)}}
		if code != 100 {
			fields = appendHeader(fields, w.header, nil)
		}
		w.st.run(func(c *h2sm.Conn, now time.Time) { c.WriteHeaders(now, w.st.id, fields, false) })
		return
	}
	if code == 101 {
		code = http.StatusInternalServerError // HTTP/2 has no 101 (RFC 9113 §8.6)
	}
	w.wrote, w.status = true, code
	if code == 204 || code == 304 || w.st.req.Method == "HEAD" {
		w.noBody = true
	}
}

// Write implements http.ResponseWriter. It blocks while the client's
// flow-control window is closed.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody && (w.status == 204 || w.status == 304) {
		return 0, http.ErrBodyNotAllowed
	}
	if !w.isSent() {
		// A HEAD response buffers too: its headers (Content-Type sniffed,
		// Content-Length) are those of the GET, as with net/http.
		if len(w.buf)+len(p) <= bufferSize {
			if w.buf == nil {
				w.buf = Buffers.Get() // back to the pool at commit
			}
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.commit(false, p); err != nil {
			return 0, err
		}
	}
	if w.noBody {
		return len(p), nil // HEAD
	}
	return w.st.sendData(p, false)
}

// WriteString implements io.StringWriter.
func (w *responseWriter) WriteString(s string) (int, error) {
	if !w.isSent() && w.wrote && !w.noBody && len(w.buf)+len(s) <= bufferSize {
		// Buffered: no []byte copy of s needed.
		if w.buf == nil {
			w.buf = Buffers.Get()
		}
		w.buf = append(w.buf, s...)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { w.FlushError() }

// FlushError sends the headers and buffered body now (http.ResponseController).
func (w *responseWriter) FlushError() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.isSent() {
		return w.commit(false, nil)
	}
	return w.st.err0()
}

// EnableFullDuplex implements http.ResponseController's method: HTTP/2
// streams always allow reading the request while writing the response.
func (w *responseWriter) EnableFullDuplex() error { return nil }

// SetReadDeadline makes Request.Body reads fail with os.ErrDeadlineExceeded
// after t (http.ResponseController). A zero t clears it.
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.readTimer != nil {
		w.readTimer.Stop()
		w.readTimer = nil
	}
	if !t.IsZero() {
		w.readTimer = time.AfterFunc(time.Until(t), func() { w.st.body.fail(os.ErrDeadlineExceeded) })
	}
	return nil
}

// SetWriteDeadline resets the stream (RST_STREAM CANCEL) if the response
// is not complete by t, so blocked writes return os.ErrDeadlineExceeded
// (http.ResponseController). A zero t clears it.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writeTime != nil {
		w.writeTime.Stop()
		w.writeTime = nil
	}
	if !t.IsZero() {
		w.writeTime = time.AfterFunc(time.Until(t), func() {
			w.st.run(func(c *h2sm.Conn, now time.Time) { c.ResetStream(now, w.st.id, h2sm.ErrCodeCancel) })
			w.st.abort(os.ErrDeadlineExceeded)
		})
	}
	return nil
}

func (w *responseWriter) isSent() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent
}

// send100Continue answers Expect: 100-continue on the first Body read,
// unless the final response has started.
func (w *responseWriter) send100Continue() {
	w.mu.Lock()
	sent := w.sent
	w.mu.Unlock()
	if !sent {
		w.st.run(func(c *h2sm.Conn, now time.Time) {
			c.WriteHeaders(now, w.st.id, []h2sm.HeaderField{{Name: ":status", Value: "100"}}, false)
		})
	}
}

// commit sends the final response headers and the buffered body. final
// means the handler has returned: the body is complete. next is the write
// that overflowed the buffer, if any: it is not sent here, but when nothing
// was buffered its first bytes are what the Content-Type is sniffed from
// (as net/http does), so that a large first write is typed too.
func (w *responseWriter) commit(final bool, next []byte) error {
	h := w.header
	sniff := w.buf
	if len(sniff) < sniffLen && len(next) > 0 {
		sniff = append(sniff[:len(sniff):len(sniff)], next[:min(len(next), sniffLen-len(sniff))]...)
	}
	// The headers the bridge adds share one backing array.
	added := w.added[:0:0]
	add := func(k, v string) {
		added = append(w.added[:len(added)], v)
		h[k] = added[len(added)-1 : len(added) : len(added)]
	}
	if len(sniff) > 0 {
		if _, ok := h["Content-Type"]; !ok && h.Get("Content-Encoding") == "" {
			add("Content-Type", http.DetectContentType(sniff))
		}
	}
	// Trailers set with http.TrailerPrefix are known only once the handler
	// returned: when it returns before the headers are committed, they must
	// keep the stream open too, or finish finds it ended and drops them.
	trailing := len(w.trailerKeys()) > 0 || (final && hasPrefixTrailers(h))
	// A HEAD response gets the Content-Length of what the handler wrote,
	// but only if it wrote something (as net/http does).
	if final && (!w.noBody || len(w.buf) > 0) && h.Get("Content-Length") == "" && !trailing {
		add("Content-Length", strconv.Itoa(len(w.buf)))
	}
	if _, ok := h["Date"]; !ok {
		add("Date", httpDate())
	}
	w.mu.Lock()
	w.trailers = w.trailerKeys()
	w.sent = true
	w.mu.Unlock()
	fields := w.fieldBuf[:1]
	if 1+len(h) > len(w.fieldBuf) {
		fields = make([]h2sm.HeaderField, 1, 1+len(h))
	}
	fields[0] = h2sm.HeaderField{Name: ":status", Value: strconv.Itoa(w.status)}
	fields = appendHeader(fields, h, nil)
	end := final && (w.noBody || len(w.buf) == 0) && !trailing
	buf := w.buf
	w.buf = nil
	pooled := buf // back to the pool once the core copied it
	if w.noBody {
		buf = nil
	}
	endData := final && !trailing
	// The headers and as much of the buffered body as the stream takes go
	// in one turn of the driver. The command lives in w; only the method
	// value passed to Run is allocated.
	cm := &w.cmd
	*cm = commitCmd{id: w.st.id, fields: fields, end: end, buf: buf, endData: endData}
	w.st.run(w.runCommit)
	n, err := cm.n, cm.err
	*cm = commitCmd{}
	if err != nil {
		err = w.st.writeErr(err)
	} else {
		w.st.endSent = end || (len(buf) > 0 && n == len(buf) && endData)
		if n < len(buf) {
			_, err = w.st.sendData(buf[n:], endData)
		}
	}
	if pooled != nil {
		Buffers.Put(pooled)
	}
	return err
}

// commitCmd is commit's command to the core.
type commitCmd struct {
	id           h2sm.StreamID
	fields       []h2sm.HeaderField
	end, endData bool
	buf          []byte
	n            int
	err          error
}

// runCommit runs w.cmd on the core.
func (w *responseWriter) runCommit(c *h2sm.Conn, now time.Time) { w.cmd.run(c, now) }

func (cm *commitCmd) run(c *h2sm.Conn, now time.Time) {
	if cm.err = c.WriteHeaders(now, cm.id, cm.fields, cm.end); cm.err == nil && len(cm.buf) > 0 {
		cm.n, cm.err = c.WriteData(now, cm.id, cm.buf, cm.endData)
	}
}

// httpDate returns the Date header's value for now, formatted once a
// second.
func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &cachedDate{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

type cachedDate struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[cachedDate]

// sniffLen is how much body http.DetectContentType considers.
const sniffLen = 512

// hasPrefixTrailers reports whether h holds a trailer set with
// http.TrailerPrefix.
func hasPrefixTrailers(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// trailerKeys are the trailers the handler declared.
func (w *responseWriter) trailerKeys() []string {
	var keys []string
	for _, v := range w.header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// finish completes the response after the handler returned.
func (w *responseWriter) finish() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.isSent() {
		if err := w.commit(true, nil); err != nil {
			return err
		}
	}
	w.mu.Lock()
	declared := w.trailers
	w.mu.Unlock()
	var fields []h2sm.HeaderField
	for _, k := range declared {
		for _, v := range w.header[k] {
			fields = append(fields, h2sm.HeaderField{Name: strings.ToLower(k), Value: v})
		}
	}
	for k, vs := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			for _, v := range vs {
				fields = append(fields, h2sm.HeaderField{Name: strings.ToLower(name), Value: v})
			}
		}
	}
	fields = validFields(fields)
	if len(fields) == 0 {
		if w.st.endSent {
			return nil // commit ended the stream
		}
		_, err := w.st.sendData(nil, true)
		return err
	}
	var err error
	w.st.run(func(c *h2sm.Conn, now time.Time) { err = c.WriteHeaders(now, w.st.id, fields, true) })
	return w.st.writeErr(err)
}

// sendData writes p through the core, waiting for flow-control credit.
func (st *stream) sendData(p []byte, end bool) (int, error) {
	total := 0
	for {
		var n int
		var err error
		st.run(func(c *h2sm.Conn, now time.Time) { n, err = c.WriteData(now, st.id, p, end) })
		total += n
		if err != nil {
			return total, st.writeErr(err)
		}
		p = p[n:]
		if len(p) == 0 {
			if end {
				st.endSent = true
			}
			return total, nil
		}
		select {
		case <-st.wakeCh:
		case <-st.ctx.Done():
			return total, st.writeErr(context.Cause(st.ctx))
		}
		if err := st.err0(); err != nil {
			return total, err
		}
	}
}

// err0 is the stream's abort error, if any.
func (st *stream) err0() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// writeErr turns a core or context error into what a handler's Write returns.
func (st *stream) writeErr(err error) error {
	if err == nil {
		return nil
	}
	if e := st.err0(); e != nil {
		if errors.Is(e, os.ErrDeadlineExceeded) {
			return os.ErrDeadlineExceeded
		}
		return fmt.Errorf("%w: %v", errStreamGone, e)
	}
	return fmt.Errorf("%w: %v", errStreamGone, err)
}

// serve runs the handler and completes the response.
func (st *stream) serve(cfg Config) {
	w := st.w
	defer func() {
		w.mu.Lock()
		if w.readTimer != nil {
			w.readTimer.Stop()
		}
		if w.writeTime != nil {
			w.writeTime.Stop()
		}
		w.mu.Unlock()
		st.cancel(context.Canceled)
	}()
	if !st.callHandler(cfg) {
		st.run(func(c *h2sm.Conn, now time.Time) { c.ResetStream(now, st.id, h2sm.ErrCodeInternal) })
		st.body.Close()
		return
	}
	if err := w.finish(); err != nil {
		st.body.Close()
		return
	}
	st.body.Close()
}

// callHandler runs the handler; false means it panicked.
func (st *stream) callHandler(cfg Config) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				cfg.Logger.Error("h2sm: panic serving request", "remote", cfg.RemoteAddr, "panic", p, "stack", string(buf))
			}
		}
	}()
	cfg.Handler.ServeHTTP(st.w, st.req)
	return true
}

// appendHeader appends the fields of h, lowercased and valid for HTTP/2,
// skipping connection-specific ones (RFC 9113 §8.2.2) and trailers.
func appendHeader(dst []h2sm.HeaderField, h http.Header, skip map[string]bool) []h2sm.HeaderField {
	start := len(dst)
	for k, vs := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || skip[k] {
			continue
		}
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te":
			continue
		}
		name := lowerName(k)
		for _, v := range vs {
			dst = append(dst, h2sm.HeaderField{Name: name, Value: strings.Trim(v, " \t")})
		}
	}
	return append(dst[:start], validFields(dst[start:])...)
}

// validFields drops fields the core would refuse: names that are not
// tokens, values with CR, LF or NUL (net/http drops them too).
func validFields(fs []h2sm.HeaderField) []h2sm.HeaderField {
	out := fs[:0]
	for _, f := range fs {
		if validFieldName(f.Name) && !strings.ContainsAny(f.Value, "\r\n\x00") {
			out = append(out, f)
		}
	}
	return out
}
