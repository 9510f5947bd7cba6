package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/h2sm/h2sm/h2sm"
)

// Driver gives the bridge access to the core.
type Driver interface {
	// Run calls f with exclusive access to the Conn and the current time,
	// then drains the Conn's outputs, dispatching its events back to the
	// bridge with Dispatch. Run must not be called from inside Dispatch.
	Run(f func(c *h2sm.Conn, now time.Time))
}

// Config is what a connection's bridge needs from its server.
type Config struct {
	Handler       http.Handler // nil means http.DefaultServeMux
	MaxHandlers   int          // handlers running at once; 0 means h2sm.DefaultMaxConcurrentStreams
	MaxQueued     int          // requests waiting for a handler slot; 0 means 4 × MaxHandlers
	RemoteAddr    string
	LocalAddr     string
	TLS           *tls.ConnectionState
	BaseContext   context.Context
	Logger        *slog.Logger
	Server        *http.Server // for http.ServerContextKey; may be nil
	OnHandlerDone func()       // called after each handler returns (tests)

	// Go runs a handler; nil means a new goroutine each (go f()). An
	// adapter with a worker pool passes its pool's submit function. Go must
	// not block waiting for the handler, and must run f eventually.
	Go func(f func())
}

// Conn is the bridge for one connection. Its Dispatch method runs under the
// Driver's exclusivity; the handler goroutines reach the core only through
// Driver.Run.
type Conn struct {
	drv Driver
	cfg Config

	// Guarded by the Driver's exclusivity.
	streams map[h2sm.StreamID]*stream
	queue   []*stream // requests waiting for a handler slot
	running int       // handlers not yet returned, reset streams included
	closed  bool
	manual  bool // the core's ManualFlowControl, read at the first event
	known   bool // manual was read

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // handler goroutines
}

// NewConn returns the bridge for one connection.
func NewConn(drv Driver, cfg Config) *Conn {
	if cfg.Handler == nil {
		cfg.Handler = http.DefaultServeMux
	}
	if cfg.MaxHandlers <= 0 {
		cfg.MaxHandlers = h2sm.DefaultMaxConcurrentStreams
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 4 * cfg.MaxHandlers
	}
	if cfg.BaseContext == nil {
		cfg.BaseContext = context.Background()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Conn{drv: drv, cfg: cfg, streams: make(map[h2sm.StreamID]*stream)}
	b.ctx, b.cancel = context.WithCancel(cfg.BaseContext)
	return b
}

// Wait blocks until every handler goroutine has returned.
func (b *Conn) Wait() { b.wg.Wait() }

// Running returns the number of handlers that have not returned. It must be
// called under the Driver's exclusivity.
func (b *Conn) Running() int { return b.running }

// errConnClosed is the error request bodies and writes see once the
// connection is gone.
var errConnClosed = errors.New("h2sm: connection closed")

// Dispatch handles one event from the core. It runs under the Driver's
// exclusivity and may call commands on c directly.
func (b *Conn) Dispatch(c *h2sm.Conn, now time.Time, ev h2sm.Event) {
	if !b.known {
		b.manual, b.known = c.Config().ManualFlowControl, true
	}
	switch ev.Kind {
	case h2sm.EventRequest:
		b.onRequest(c, now, ev)
	case h2sm.EventData:
		n := len(ev.Data)
		st := b.streams[ev.Stream]
		if st != nil {
			n = st.body.push(ev.Data, ev.EndStream)
		}
		if n > 0 && b.manual {
			c.Consumed(now, ev.Stream, n)
		}
		if st != nil && st.discarding {
			st.discarded += n
			if ev.EndStream {
				b.forget(st)
			} else if st.discarded > maxDiscard {
				// RFC 9113 §8.1: after a complete response, ask the client to
				// stop sending the request with RST_STREAM NO_ERROR.
				c.ResetStream(now, st.id, h2sm.ErrCodeNo)
				b.forget(st)
			}
		}
	case h2sm.EventTrailers:
		if st := b.streams[ev.Stream]; st != nil {
			st.setTrailers(ev.Fields)
			st.body.push(nil, true)
			if st.discarding {
				b.forget(st)
			}
		}
	case h2sm.EventStreamReset:
		if st := b.streams[ev.Stream]; st != nil {
			st.abort(ev.Err)
			b.forget(st)
		}
	case h2sm.EventStreamWritable:
		if st := b.streams[ev.Stream]; st != nil {
			st.wake()
		}
	case h2sm.EventGoAwayReceived:
		// Open streams go on; the core stops accepting new ones.
	case h2sm.EventConnClosed:
		b.closed = true
		err := ev.Err
		if err == nil {
			err = errConnClosed
		}
		for _, st := range b.streams {
			st.abort(err)
		}
		clear(b.streams)
		b.queue = nil
		b.cancel()
	default:
		b.cfg.Logger.Error("h2sm bridge: unknown event kind", "kind", ev.Kind)
	}
}

// onRequest starts a handler for a request, or queues it.
func (b *Conn) onRequest(c *h2sm.Conn, now time.Time, ev h2sm.Event) {
	st, err := b.newStream(c, ev)
	if err != nil {
		// The core validated the request; a URL net/http cannot parse is
		// answered 400.
		c.WriteHeaders(now, ev.Stream, []h2sm.HeaderField{{Name: ":status", Value: "400"}}, true)
		if !ev.EndStream {
			c.ResetStream(now, ev.Stream, h2sm.ErrCodeNo)
		}
		return
	}
	b.streams[ev.Stream] = st
	if b.running < b.cfg.MaxHandlers {
		b.start(st)
		return
	}
	// Rapid Reset (CVE-2023-44487): a reset stream keeps its handler slot
	// until its handler returns, so resets cannot make handlers pile up;
	// requests wait here, and a client that keeps the queue full is told to
	// calm down. A queued request keeps its place even once reset (start
	// skips it), as in x/net/http2: requests beyond MaxConcurrentStreams
	// can only be queued by resetting streams (the core refuses the rest),
	// so dropping reset ones here, as was done, meant the queue never
	// filled and a client resetting every stream was never stopped.
	if len(b.queue) >= b.cfg.MaxQueued {
		c.GoAway(now, h2sm.ErrCodeEnhanceYourCalm, "too many requests waiting for a handler")
		return
	}
	b.queue = append(b.queue, st)
}

// start runs st's handler in a goroutine (through Config.Go when set).
func (b *Conn) start(st *stream) {
	b.running++
	b.wg.Add(1)
	run := func() {
		defer b.wg.Done()
		st.serve(b.cfg)
		b.drv.Run(func(c *h2sm.Conn, now time.Time) {
			b.running--
			if st.body.unfinished() && !b.closed && !st.aborted() {
				// The response is complete but the client may still send body:
				// discard it, returning its credit, and reset the stream only if
				// much more arrives. Resetting at once would also end the
				// stream's flow control, which the client may still exercise.
				st.discarding = true
			} else {
				b.forget(st)
			}
			if b.cfg.OnHandlerDone != nil {
				b.cfg.OnHandlerDone()
			}
			for !b.closed && b.running < b.cfg.MaxHandlers && len(b.queue) > 0 {
				next := b.queue[0]
				b.queue[0] = nil
				b.queue = b.queue[1:]
				if !next.aborted() {
					b.start(next)
				}
			}
		})
	}
	if b.cfg.Go != nil {
		b.cfg.Go(run)
	} else {
		go run()
	}
}

// maxDiscard is how much request body the bridge discards after a complete
// response before it resets the stream.
const maxDiscard = 64 << 10

// forget drops the bridge's reference to a stream.
func (b *Conn) forget(st *stream) {
	if b.streams[st.id] == st {
		delete(b.streams, st.id)
	}
}

// CoreConfig is the core configuration an adapter serving http.Handlers
// uses for each connection: base with manual flow control (the client is
// paced by how fast handlers read), and the server's MaxConcurrentStreams
// and IdleTimeout when they are set. Output buffers come from Buffers unless
// base names a pool.
func CoreConfig(base h2sm.Config, maxStreams uint32, idle time.Duration) h2sm.Config {
	base.ManualFlowControl = true
	if base.Buffers == nil {
		base.Buffers = Buffers
	}
	if maxStreams != 0 {
		base.MaxConcurrentStreams = maxStreams
	}
	if idle != 0 {
		base.IdleTimeout = idle
	}
	return base
}
