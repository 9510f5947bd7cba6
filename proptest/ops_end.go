package proptest

import (
	"errors"
	"fmt"

	"github.com/h2sm/h2sm/h2sm"
)

// errTransport is the error AppAbort reports, as a transport would.
var errTransport = errors.New("proptest: transport failed")

// AppClose is the application's Close: GOAWAY NO_ERROR and closed at once.
type AppClose struct{}

// String renders the command for traces and failure reports.
func (AppClose) String() string { return "AppClose{}" }

func (AppClose) apply(d *Driver) {
	d.tracef("app Close")
	d.conn.Close(d.now)
	d.drain()
}

// AppGoAway is the application's GoAway with a code: NO_ERROR drains, any
// other code closes at once.
type AppGoAway struct{ Code uint8 }

// String renders the command for traces and failure reports.
func (o AppGoAway) String() string { return fmt.Sprintf("AppGoAway{%v}", h2sm.ErrCode(o.Code%14)) }

func (o AppGoAway) apply(d *Driver) {
	code := h2sm.ErrCode(o.Code % 14)
	d.tracef("app GoAway %v", code)
	if !d.conn.Closed() {
		d.m.appCodes = append(d.m.appCodes, code)
	}
	d.conn.GoAway(d.now, code, "proptest")
	d.drain()
}

// AppAbort is a transport failure reported with Abort: the connection
// closes without output.
type AppAbort struct{}

// String renders the command for traces and failure reports.
func (AppAbort) String() string { return "AppAbort{}" }

func (AppAbort) apply(d *Driver) {
	d.tracef("app Abort")
	if !d.conn.Closed() {
		d.m.aborted = true
	}
	d.conn.Abort(d.now, errTransport)
	d.drain()
}

// AppMisuse is a command the application must not give: the Conn must
// return the documented error and send nothing.
type AppMisuse struct {
	Kind uint8
	Sel  uint32
}

// String renders the command for traces and failure reports.
func (o AppMisuse) String() string { return fmt.Sprintf("AppMisuse{kind=%d sel=%d}", o.Kind, o.Sel) }

func (o AppMisuse) apply(d *Driver) {
	m := &d.m
	var (
		want error
		call func() error
		what string
	)
	data := []byte("misuse")
	writeData := func(id uint32) func() error {
		return func() error {
			n, err := d.conn.WriteData(d.now, h2sm.StreamID(id), data, false)
			if n != 0 {
				d.fail(PropCommandErrors, "WriteData(stream %d) accepted %d bytes and returned %v", id, n, err)
			}
			return err
		}
	}
	if d.conn.Closed() {
		want, what, call = h2sm.ErrConnClosed, "WriteData after close", writeData(1)
	} else {
		switch o.Kind % 6 {
		case 0:
			id := m.nextID + 2*(o.Sel%4)
			if o.Sel%2 == 1 {
				id = 2 + 2*(o.Sel%8)
			}
			want, what, call = h2sm.ErrUnknownStream, fmt.Sprintf("WriteData on stream %d, never opened", id), writeData(id)
		case 1:
			r := m.pick(o.Sel, func(r *streamRec) bool { return appMayRespond(r) && !r.appFinal })
			if r == nil {
				d.skip("no stream without a response")
				return
			}
			want, what, call = h2sm.ErrHeadersNotSent, fmt.Sprintf("WriteData on stream %d before the response", r.id), writeData(r.id)
		case 2, 3:
			r := m.pick(o.Sel, func(r *streamRec) bool { return appMayRespond(r) && !r.appFinal })
			if r == nil {
				d.skip("no stream without a response")
				return
			}
			bad := [...][]h2sm.HeaderField{
				{{Name: "content-type", Value: "text/plain"}},
				{{Name: ":status", Value: "200"}, {Name: "Upper", Value: "v"}},
				{{Name: ":status", Value: "200"}, {Name: "connection", Value: "close"}},
				{{Name: ":status", Value: "101"}},
				{{Name: ":status", Value: "2000"}},
				{{Name: ":status", Value: "200"}, {Name: ":path", Value: "/"}},
				{{Name: ":status", Value: "200"}, {Name: "x", Value: "a\nb"}},
			}
			f := bad[int(o.Sel/2)%len(bad)]
			want, what = h2sm.ErrInvalidHeader, fmt.Sprintf("WriteHeaders(stream %d, %s)", r.id, renderFields(f))
			call = func() error { return d.conn.WriteHeaders(d.now, h2sm.StreamID(r.id), f, false) }
		case 4:
			r := m.pick(o.Sel, func(r *streamRec) bool { return r.appReset || r.evReset })
			if r == nil {
				d.skip("no reset stream")
				return
			}
			want, what, call = h2sm.ErrStreamClosed, fmt.Sprintf("WriteData on reset stream %d", r.id), writeData(r.id)
		default:
			r := m.pick(o.Sel, func(r *streamRec) bool { return r.appEnded && !r.closed() && !r.appReset && !r.evReset })
			if r == nil {
				d.skip("no ended stream")
				return
			}
			want, what, call = h2sm.ErrStreamClosed, fmt.Sprintf("WriteData on stream %d after END_STREAM", r.id), writeData(r.id)
		}
	}
	err := call()
	d.tracef("app misuse: %s%s", what, errSuffix(err))
	before := len(d.stepOut)
	d.drain()
	if !errors.Is(err, want) {
		d.fail(PropCommandErrors, "%s returned %v, want %v", what, err, want)
	}
	if len(d.stepOut) != before {
		d.fail(PropCommandErrors, "%s produced %d bytes of output", what, len(d.stepOut)-before)
	}
}
