package loop

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/h2sm/h2sm/adapters/internal/bridge"
	"github.com/h2sm/h2sm/h2sm"
)

// Handler serves requests on the event loop, for proxies and embedders that
// must never block it. ServeH2 is called on the loop when a request's
// headers arrive; it must not block. It may answer at once with
// Stream.Respond, register Stream.OnData to receive the body, or keep st
// and answer later from any goroutine through Stream.Do. A response of
// unknown length is streamed with WriteHeader, Write (paced by OnWritable)
// and End.
type Handler interface {
	ServeH2(st *Stream)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(st *Stream)

// ServeH2 calls f(st).
func (f HandlerFunc) ServeH2(st *Stream) { f(st) }

// Stream is one request and its response under the non-blocking API. Its
// methods must be called on the event loop (in ServeH2, an OnData callback,
// or a function passed to Do), except Do itself.
type Stream struct {
	// Method, Scheme, Authority and Path are the request's pseudo-header
	// fields.
	Method, Scheme, Authority, Path string

	// Header holds the request's regular header fields, copied.
	Header http.Header

	// ContentLength is the request's content-length, or -1 if absent.
	ContentLength int64

	// Trailer holds the request's trailer fields once the body ended with
	// them (OnData's call with end set), else nil.
	Trailer http.Header

	c          *conn
	id         h2sm.StreamID
	onData     func(p []byte, end bool)
	onWritable func()
	reqEnd     bool   // the client sent END_STREAM
	body       []byte // Respond's body not yet taken by the core
	sent       bool   // response headers sent
	streaming  bool   // WriteHeader sent them: Write and End follow
	discard    bool   // a streamed response without body (HEAD, 204, 304)
	done       bool   // response complete, reset, or connection gone

	discarded int // request body received after the response completed
}

// maxDiscard is how much request body is discarded after a complete
// response before the stream is reset.
const maxDiscard = 64 << 10

// asyncConn holds the streams of one connection under the Handler API.
type asyncConn struct {
	c       *conn
	streams map[h2sm.StreamID]*Stream
	fields  []h2sm.HeaderField // scratch for response fields (the core keeps none)
}

// dispatch handles one core event on the loop.
func (a *asyncConn) dispatch(now time.Time, ev h2sm.Event) {
	core := a.c.core
	switch ev.Kind {
	case h2sm.EventRequest:
		hdr := make(http.Header, len(ev.Fields))
		vals := make([]string, len(ev.Fields)) // one backing array for the values
		for i, f := range ev.Fields {
			k := bridge.CanonicalKey(f.Name)
			if prev, ok := hdr[k]; ok {
				hdr[k] = append(prev, f.Value)
				continue
			}
			vals[i] = f.Value
			hdr[k] = vals[i : i+1 : i+1]
		}
		st := &Stream{
			Method: ev.Method, Scheme: ev.Scheme, Authority: ev.Authority, Path: ev.Path,
			Header: hdr, ContentLength: ev.ContentLength,
			c: a.c, id: ev.Stream, reqEnd: ev.EndStream,
		}
		a.streams[ev.Stream] = st
		a.c.srv.AsyncHandler.ServeH2(st)
		a.maybeForget(st)
	case h2sm.EventData:
		st := a.streams[ev.Stream]
		if len(ev.Data) > 0 {
			core.Consumed(now, ev.Stream, len(ev.Data))
		}
		if st == nil {
			return
		}
		st.reqEnd = ev.EndStream
		if st.onData != nil && !st.done {
			st.onData(ev.Data, ev.EndStream)
		} else if st.done && !st.reqEnd {
			st.discarded += len(ev.Data)
			if st.discarded > maxDiscard {
				// RFC 9113 §8.1: after a complete response, ask the client to
				// stop sending the request with RST_STREAM NO_ERROR.
				core.ResetStream(now, st.id, h2sm.ErrCodeNo)
				st.reqEnd = true
			}
		}
		a.maybeForget(st)
	case h2sm.EventTrailers:
		if st := a.streams[ev.Stream]; st != nil {
			st.reqEnd = true
			st.Trailer = make(http.Header, len(ev.Fields))
			for _, f := range ev.Fields {
				k := http.CanonicalHeaderKey(f.Name)
				st.Trailer[k] = append(st.Trailer[k], f.Value)
			}
			if st.onData != nil && !st.done {
				st.onData(nil, true)
			}
			a.maybeForget(st)
		}
	case h2sm.EventStreamWritable:
		if st := a.streams[ev.Stream]; st != nil {
			if st.streaming {
				if st.onWritable != nil && !st.done {
					st.onWritable()
				}
			} else {
				st.pump(now)
			}
			a.maybeForget(st)
		}
	case h2sm.EventStreamReset:
		if st := a.streams[ev.Stream]; st != nil {
			st.done = true
			delete(a.streams, ev.Stream)
		}
	case h2sm.EventConnClosed:
		for id, st := range a.streams {
			st.done = true
			delete(a.streams, id)
		}
	case h2sm.EventGoAwayReceived:
	default:
		a.c.srv.logger().Error("loop: unknown event kind", "kind", ev.Kind)
	}
}

// maybeForget drops a stream whose request and response are both complete.
func (a *asyncConn) maybeForget(st *Stream) {
	if st.done && st.reqEnd {
		delete(a.streams, st.id)
	}
}

// OnData registers f to receive the request body: p is valid only during
// the call; end is true with the last part. If the request has no body, or
// its body already ended, f(nil, true) runs at once. Without OnData the
// body is discarded. Flow-control credit returns to the client after each
// call.
func (st *Stream) OnData(f func(p []byte, end bool)) {
	st.onData = f
	if st.reqEnd && !st.done {
		f(nil, true)
	}
}

// Respond sends the response: status, header and body, complete. body is
// retained until sent and must not be modified. It returns
// h2sm.ErrStreamClosed if the stream was reset or already answered.
func (st *Stream) Respond(status int, header http.Header, body []byte) error {
	if st.done || st.sent {
		return h2sm.ErrStreamClosed
	}
	now := time.Now()
	// The core does not keep fields: the connection's scratch array serves.
	fields := appendFields(st.c.async.fields[:0], status, header)
	if _, ok := header["Content-Length"]; !ok && status >= 200 && status != 204 && status != 304 {
		fields = append(fields, h2sm.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	}
	st.c.async.fields = fields[:0]
	if st.noBody(status) {
		body = nil
	}
	st.sent = true
	if err := st.c.core.WriteHeaders(now, st.id, fields, len(body) == 0); err != nil {
		st.done = true
		return err
	}
	st.body = body
	if len(body) == 0 {
		st.finish(now)
		return nil
	}
	st.pump(now)
	return nil
}

// appendFields appends the response's :status and header fields.
func appendFields(fields []h2sm.HeaderField, status int, header http.Header) []h2sm.HeaderField {
	fields = append(fields, h2sm.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	return appendHeader(fields, header)
}

// appendHeader appends h's fields under their HTTP/2 names, as given: an
// invalid one makes the core's WriteHeaders return ErrInvalidHeader (unlike
// the bridge, which drops it as net/http does).
func appendHeader(fields []h2sm.HeaderField, h http.Header) []h2sm.HeaderField {
	for k, vs := range h {
		name := bridge.LowerName(k)
		for _, v := range vs {
			fields = append(fields, h2sm.HeaderField{Name: name, Value: v})
		}
	}
	return fields
}

// noBody reports whether a response with status carries no body.
func (st *Stream) noBody(status int) bool {
	return st.Method == "HEAD" || status == 204 || status == 304
}

// WriteHeader starts a streamed response: it sends status and header
// without ending the stream; the body follows with Write and the end with
// End. A content-length in header is the application's promise. It
// returns h2sm.ErrStreamClosed if the stream was reset or answered, and an
// error wrapping h2sm.ErrInvalidHeader for a status or field HTTP/2 does not
// allow.
func (st *Stream) WriteHeader(status int, header http.Header) error {
	if st.done || st.sent {
		return h2sm.ErrStreamClosed
	}
	if status < 200 {
		return fmt.Errorf("%w: a streamed response needs a final status, not %d", h2sm.ErrInvalidHeader, status)
	}
	fields := appendFields(st.c.async.fields[:0], status, header)
	st.c.async.fields = fields[:0]
	if err := st.c.core.WriteHeaders(time.Now(), st.id, fields, false); err != nil {
		if !errors.Is(err, h2sm.ErrInvalidHeader) {
			st.done = true
		}
		return err
	}
	st.sent, st.streaming, st.discard = true, true, st.noBody(status)
	return nil
}

// Write queues response body after WriteHeader and returns how many bytes
// of p it took (copied: p may be reused at once). Fewer than len(p), with
// a nil error, means the stream's send buffer is full
// (h2sm.Config.StreamSendBuffer): the function given to OnWritable runs
// when there is room, and the rest can be written then. It returns
// h2sm.ErrStreamClosed after End, a reset, or the connection's end, and
// h2sm.ErrHeadersNotSent before WriteHeader.
func (st *Stream) Write(p []byte) (int, error) {
	if !st.streaming {
		if st.sent || st.done {
			return 0, h2sm.ErrStreamClosed
		}
		return 0, h2sm.ErrHeadersNotSent
	}
	if st.done {
		return 0, h2sm.ErrStreamClosed
	}
	if st.discard {
		return len(p), nil
	}
	n, err := st.c.core.WriteData(time.Now(), st.id, p, false)
	if err != nil {
		st.done = true
	}
	return n, err
}

// OnWritable registers f, run on the loop when a stream whose Write took
// less than it was given can take more.
func (st *Stream) OnWritable(f func()) { st.onWritable = f }

// End finishes a streamed response, with trailer fields if trailer is not
// empty. The body already written is still sent first. It returns
// h2sm.ErrStreamClosed if the response already ended or the stream was
// reset, and h2sm.ErrHeadersNotSent before WriteHeader.
func (st *Stream) End(trailer http.Header) error {
	if !st.streaming {
		if st.sent || st.done {
			return h2sm.ErrStreamClosed
		}
		return h2sm.ErrHeadersNotSent
	}
	if st.done {
		return h2sm.ErrStreamClosed
	}
	now := time.Now()
	var err error
	if len(trailer) == 0 {
		_, err = st.c.core.WriteData(now, st.id, nil, true)
	} else {
		fields := appendHeader(st.c.async.fields[:0], trailer)
		st.c.async.fields = fields[:0]
		err = st.c.core.WriteHeaders(now, st.id, fields, true)
		if errors.Is(err, h2sm.ErrInvalidHeader) {
			return err
		}
	}
	st.finish(now)
	if a := st.c.async; a != nil {
		a.maybeForget(st)
	}
	return err
}

// pump offers the rest of the body to the core.
func (st *Stream) pump(now time.Time) {
	if st.done || !st.sent {
		return
	}
	n, err := st.c.core.WriteData(now, st.id, st.body, true)
	st.body = st.body[n:]
	if err != nil {
		st.done = true
		return
	}
	if len(st.body) == 0 {
		st.body = nil
		st.finish(now)
	}
}

// finish marks the response complete; a request body still arriving is
// discarded, its credit returned, and the stream reset only if much more
// arrives (as the bridge does for http.Handlers).
func (st *Stream) finish(time.Time) { st.done = true }

// Reset abandons the stream with RST_STREAM CANCEL.
func (st *Stream) Reset() {
	if st.done {
		return
	}
	st.done = true
	st.reqEnd = true
	st.c.core.ResetStream(time.Now(), st.id, h2sm.ErrCodeCancel)
	if st.c.async != nil {
		delete(st.c.async.streams, st.id)
	}
}

// Do runs f on the stream's event loop; it may be called from any goroutine
// and never blocks. It is how a handler answers later. If the connection is
// gone, f still runs, and Respond returns an error.
func (st *Stream) Do(f func()) {
	st.c.do(func(*h2sm.Conn, time.Time) {
		f()
		if a := st.c.async; a != nil {
			a.maybeForget(st)
		}
	})
}
