package proptest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"golang.org/x/net/http2"
)

// The faults below sit between the Conn's output and the checker, each
// corrupting what the core emits in one way. They prove that the
// properties can fail: with a fault installed, the property that guards
// against it must be falsified. The Conn has no fault switch; the faults
// exist only in this test file.

func frameType(f []byte) http2.FrameType { return http2.FrameType(f[3]) }
func frameFlags(f []byte) http2.Flags    { return http2.Flags(f[4]) }
func frameStream(f []byte) uint32        { return binary.BigEndian.Uint32(f[5:9]) & (1<<31 - 1) }

// dropWindowUpdate drops the first WINDOW_UPDATE the server sends for a
// stream: the client never learns of that credit.
type dropWindowUpdate struct{ done bool }

func (f *dropWindowUpdate) Filter(fr []byte, emit func([]byte)) {
	if !f.done && frameType(fr) == http2.FrameWindowUpdate && frameStream(fr) != 0 {
		f.done = true
		return
	}
	emit(fr)
}

// repeatData sends the first DATA frame with a payload twice.
type repeatData struct{ done bool }

func (f *repeatData) Filter(fr []byte, emit func([]byte)) {
	emit(fr)
	if !f.done && frameType(fr) == http2.FrameData && len(fr) > frameHeaderSz {
		f.done = true
		emit(bytes.Clone(fr))
	}
}

// headersAfterData holds back the first response HEADERS frame that does
// not end its stream, and sends it after the next DATA frame on the same
// stream: HEADERS reordered after DATA.
type headersAfterData struct {
	held []byte
	done bool
}

func (f *headersAfterData) Filter(fr []byte, emit func([]byte)) {
	switch {
	case !f.done && f.held == nil && frameType(fr) == http2.FrameHeaders &&
		frameFlags(fr).Has(http2.FlagHeadersEndHeaders) && !frameFlags(fr).Has(http2.FlagHeadersEndStream):
		f.held = fr
	case f.held != nil && frameType(fr) == http2.FrameData && frameStream(fr) == frameStream(f.held):
		emit(fr)
		emit(f.held)
		f.held, f.done = nil, true
	default:
		emit(fr)
	}
}

// faultCase is one fault and the property that must catch it; want is a
// part of the violation message the property reports ("|" separates
// alternatives).
type faultCase struct {
	name   string
	filter func() FrameFilter
	prop   Property
	want   string
}

// everyOther returns a filter factory whose every second filter is f and
// the others pass everything: of two Conns run side by side, the second's
// output is corrupted.
func everyOther(f func() FrameFilter) func() FrameFilter {
	n := 0
	return func() FrameFilter {
		n++
		if n%2 == 0 {
			return f()
		}
		return nil
	}
}

// containsAny reports whether s contains one of the "|"-separated wants.
func containsAny(s, wants string) bool {
	for _, w := range strings.Split(wants, "|") {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func faultCases() []faultCase {
	return []faultCase{
		{"drop a stream WINDOW_UPDATE", func() FrameFilter { return &dropWindowUpdate{} }, PropCreditReturned, "credit held back"},
		{"repeat a DATA frame", func() FrameFilter { return &repeatData{} }, PropResponseBody, "not a prefix"},
		// Held back behind DATA, the final HEADERS shows as DATA before
		// HEADERS; held back behind a 1xx's HEADERS, as a header block that
		// differs from the one written first.
		{"reorder HEADERS after DATA", func() FrameFilter { return &headersAfterData{} }, PropResponseFraming, "DATA on stream|header block 0 differs"},
		{"drop a WINDOW_UPDATE in the second of two identical runs",
			everyOther(func() FrameFilter { return &dropWindowUpdate{} }), PropDeterminism, "different output"},
	}
}

// TestFaultsAreCaught installs each fault and checks that the property
// guarding against it fails with the expected violation. A property that
// cannot fail proves nothing.
func TestFaultsAreCaught(t *testing.T) {
	s := getSettings(t)
	logSeed(t, s)
	for _, fc := range faultCases() {
		t.Run(strings.ReplaceAll(fc.name, " ", "_"), func(t *testing.T) {
			var spec Spec
			for _, sp := range Specs() {
				if sp.Prop == fc.prop {
					spec = sp
				}
			}
			spec.Filter = fc.filter
			// A run can fail for another reason first (a known bug of the
			// Conn); try a few seeds before concluding.
			var last string
			for attempt := range 3 {
				p := s.params(fmt.Sprintf("fault %s %d", fc.name, attempt))
				p.MinSuccessfulTests = max(s.n, 50)
				p.MaxShrinkCount = 20
				res := spec.GopterProp().Check(p)
				var buf bytes.Buffer
				gopter.NewFormatedReporter(false, 1<<20, &buf).ReportTestResult(fc.prop.String(), res)
				last = buf.String()
				if res.Status == gopter.TestFailed && containsAny(strings.Join(res.Labels, "\n"), fc.want) {
					t.Logf("fault %q caught by %v (shrunk):\n%s", fc.name, fc.prop, last)
					return
				}
			}
			t.Errorf("fault %q was not caught by %v with %q:\n%s", fc.name, fc.prop, fc.want, last)
		})
	}
}
