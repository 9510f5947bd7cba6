package proptest

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

var statuses = [...]string{"103", "200", "200", "201", "204", "404", "500"}

// responseField returns the i-th optional response field.
func responseField(i int, seed uint8) h2sm.HeaderField {
	switch i % 5 {
	case 0:
		return h2sm.HeaderField{Name: "content-type", Value: "text/plain"}
	case 1:
		return h2sm.HeaderField{Name: "x-r", Value: strconv.Itoa(int(seed))}
	case 2:
		return h2sm.HeaderField{Name: "cache-control", Value: "no-store"}
	case 3:
		return h2sm.HeaderField{Name: "set-cookie", Value: "s=" + strconv.Itoa(int(seed)), Sensitive: true}
	default:
		return h2sm.HeaderField{Name: "x-long", Value: strings.Repeat("w", 20+int(seed))}
	}
}

// appMayRespond: the application saw the request and nothing ended the
// stream for it.
func appMayRespond(r *streamRec) bool {
	return r.evRequest && !r.appReset && !r.evReset && !r.srvRST && !r.clientRST
}

// appMayWrite: the final response is sent and the body is not ended.
func appMayWrite(r *streamRec) bool {
	return appMayRespond(r) && r.appFinal && !r.appEnded
}

// appErr records a command error: a conforming application acting on what
// it was told is never refused.
func (d *Driver) appErr(what string, id uint32, err error) {
	if err != nil && d.valid() {
		d.fail(PropConformingPeers, "%s(stream %d) refused: %v", what, id, err)
	}
}

// Respond is the application's WriteHeaders with a response: a 1xx, or the
// final response with or without END_STREAM.
type Respond struct {
	Sel    uint32
	Status uint8
	End    bool
	Extra  uint8
	Seed   uint8
}

// String renders the command for traces and failure reports.
func (o Respond) String() string {
	return fmt.Sprintf("Respond{sel=%d status=%s end=%v extra=%d}", o.Sel, statuses[int(o.Status)%len(statuses)], o.End, o.Extra)
}

func (o Respond) apply(d *Driver) {
	r := d.m.pick(o.Sel, func(r *streamRec) bool { return appMayRespond(r) && !r.appFinal })
	if d.conn.Closed() || r == nil {
		d.skip("no request to respond to")
		return
	}
	status := statuses[int(o.Status)%len(statuses)]
	end := o.End && status[0] != '1'
	fields := []h2sm.HeaderField{{Name: ":status", Value: status}}
	for i := range int(o.Extra % 5) {
		fields = append(fields, responseField(i+int(o.Seed), o.Seed))
	}
	err := d.conn.WriteHeaders(d.now, h2sm.StreamID(r.id), fields, end)
	d.tracef("app WriteHeaders stream=%d end=%v %s%s", r.id, end, renderFields(fields), errSuffix(err))
	if err == nil {
		r.appHeaders = append(r.appHeaders, fields)
		r.appFinal = r.appFinal || status[0] != '1'
		r.appEnded = end
	}
	d.checkStats("after WriteHeaders")
	d.drain()
	d.appErr("WriteHeaders", r.id, err)
}

// SendData is the application's WriteData of a random size, with or
// without END_STREAM.
type SendData struct {
	Sel  uint32
	Size uint32
	End  bool
	Seed uint8
}

// String renders the command for traces and failure reports.
func (o SendData) String() string {
	return fmt.Sprintf("SendData{sel=%d size=%d end=%v}", o.Sel, o.Size, o.End)
}

func (o SendData) apply(d *Driver) {
	r := d.m.pick(o.Sel, appMayWrite)
	if d.conn.Closed() || r == nil {
		d.skip("no response body to write")
		return
	}
	p := pattern(o.Seed, len(r.appBody), int(o.Size))
	n, err := d.conn.WriteData(d.now, h2sm.StreamID(r.id), p, o.End)
	d.tracef("app WriteData stream=%d len=%d end=%v accepted=%d%s", r.id, len(p), o.End, n, errSuffix(err))
	if n < 0 || n > len(p) {
		d.fail(PropResponseBody, "WriteData accepted %d of %d bytes", n, len(p))
		n = 0
	}
	r.appBody = append(r.appBody, p[:n]...)
	if err == nil {
		r.appEnded = o.End && n == len(p)
		if n < len(p) {
			r.wantWritable = true
		}
	}
	d.checkStats("after WriteData")
	d.drain()
	d.appErr("WriteData", r.id, err)
}

// AppTrailers is the application's WriteHeaders with trailers.
type AppTrailers struct {
	Sel  uint32
	Seed uint8
}

// String renders the command for traces and failure reports.
func (o AppTrailers) String() string { return fmt.Sprintf("AppTrailers{sel=%d}", o.Sel) }

func (o AppTrailers) apply(d *Driver) {
	r := d.m.pick(o.Sel, appMayWrite)
	if d.conn.Closed() || r == nil {
		d.skip("no response to end with trailers")
		return
	}
	fields := []h2sm.HeaderField{{Name: "x-checksum", Value: strconv.Itoa(len(r.appBody))}, responseField(int(o.Seed), o.Seed)}
	err := d.conn.WriteHeaders(d.now, h2sm.StreamID(r.id), fields, true)
	d.tracef("app WriteHeaders stream=%d trailers %s%s", r.id, renderFields(fields), errSuffix(err))
	if err == nil {
		r.appHeaders = append(r.appHeaders, fields)
		r.appTrailers, r.appEnded = true, true
	}
	d.checkStats("after WriteHeaders")
	d.drain()
	d.appErr("WriteHeaders", r.id, err)
}

// AppReset is the application's ResetStream.
type AppReset struct {
	Sel  uint32
	Code uint8
}

// String renders the command for traces and failure reports.
func (o AppReset) String() string { return fmt.Sprintf("AppReset{sel=%d code=%d}", o.Sel, o.Code) }

func (o AppReset) apply(d *Driver) {
	r := d.m.pick(o.Sel, func(r *streamRec) bool { return appMayRespond(r) && !r.closed() })
	if d.conn.Closed() || r == nil {
		d.skip("no stream to reset")
		return
	}
	code := h2sm.ErrCode(o.Code % 14)
	err := d.conn.ResetStream(d.now, h2sm.StreamID(r.id), code)
	d.tracef("app ResetStream stream=%d %v%s", r.id, code, errSuffix(err))
	if err == nil {
		r.appReset, r.appResetCode = true, code
	}
	d.drain()
	d.appErr("ResetStream", r.id, err)
	if err == nil && d.valid() {
		d.expect(PropConformingPeers, func() string {
			for _, f := range d.stepFrames {
				if f.typ == http2.FrameRSTStream && f.stream == r.id && f.code == code {
					return ""
				}
			}
			return fmt.Sprintf("ResetStream(%d, %v) sent no RST_STREAM with that code", r.id, code)
		})
	}
}

// Consume is the application's Consumed for part of the body it was given
// (manual flow control only).
type Consume struct {
	Sel  uint32
	Frac uint8
}

// String renders the command for traces and failure reports.
func (o Consume) String() string { return fmt.Sprintf("Consume{sel=%d frac=%d}", o.Sel, o.Frac) }

func (o Consume) apply(d *Driver) {
	r := d.m.pick(o.Sel, func(r *streamRec) bool { return r.unconsumed > 0 })
	if d.conn.Closed() || r == nil {
		d.skip("nothing to consume")
		return
	}
	n := 1 + int(o.Frac)*(r.unconsumed-1)/255
	d.tracef("app Consumed stream=%d n=%d of %d", r.id, n, r.unconsumed)
	d.conn.Consumed(d.now, h2sm.StreamID(r.id), n)
	r.unconsumed -= n
	d.drain()
}

// Shutdown is the application's graceful Shutdown.
type Shutdown struct{}

// String renders the command for traces and failure reports.
func (Shutdown) String() string { return "Shutdown{}" }

func (Shutdown) apply(d *Driver) {
	m := &d.m
	owed := !d.conn.Closed() && !m.goAwaySent
	d.tracef("app Shutdown")
	d.conn.Shutdown(d.now)
	d.drain()
	if owed {
		d.expect(PropGoAwayRules, func() string {
			for _, f := range d.stepFrames {
				if f.typ == http2.FrameGoAway {
					return ""
				}
			}
			return "Shutdown sent no GOAWAY"
		})
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " err=" + err.Error()
}
