package h2sm_test

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
	"golang.org/x/net/http2"
)

// updateGolden reports whether -update was given. The flag is declared once
// for the whole test binary by the package's internal tests
// (stream_table_test.go); an external test file cannot declare it again, so
// it is looked up at run time.
func updateGolden() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	v, _ := strconv.ParseBool(f.Value.String())
	return v
}

// traceScenarios are the golden traces of STYLE §5.3, each a complete
// conversation that reads every frame and event it causes. They are
// rendered by memory.Peer.Trace into testdata/traces/<name>.golden.
var traceScenarios = []struct {
	name string
	run  func(t *testing.T, tc *memory.Peer)
}{
	{"handshake", func(t *testing.T, tc *memory.Peer) {
		tc.Handshake()
		tc.WantIdle("handshake done")
	}},
	{"get", func(t *testing.T, tc *memory.Peer) {
		tc.Handshake()
		tc.WriteHeaders(1, memory.GET("/index.html"), memory.EndStream)
		tc.WantEvent("request", h2sm.Event{
			Kind: h2sm.EventRequest, Stream: 1, EndStream: true,
			Method: "GET", Scheme: "https", Authority: "example.com", Path: "/index.html",
		})
		tc.Respond(1, 200, false, h2sm.HeaderField{Name: "content-type", Value: "text/plain"})
		tc.SendData(1, []byte("hello, world\n"), true)
		tc.WantFrame("response headers", memory.Headers{Stream: 1, Fields: memory.Fields(":status", "200", "content-type", "text/plain")})
		tc.WantFrame("body", memory.Data{Stream: 1, Data: []byte("hello, world\n"), EndStream: true})
		tc.WantIdle("stream done")
	}},
	{"post", func(t *testing.T, tc *memory.Peer) {
		tc.Handshake()
		tc.WriteHeaders(1, memory.Request("POST", "/upload", memory.Fields("content-length", "11")...))
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, Method: "POST", ContentLength: 11})
		tc.WriteData(1, []byte("hello, "), false)
		tc.WantEvent("body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("hello, ")})
		tc.WriteData(1, []byte("post"), true)
		tc.WantEvent("end of body", h2sm.Event{Kind: h2sm.EventData, Stream: 1, Data: []byte("post"), EndStream: true})
		tc.Respond(1, 201, true)
		tc.WantFrame("created", memory.Headers{Stream: 1, EndStream: true, Fields: memory.Fields(":status", "201")})
		tc.WantIdle("stream done")
	}},
	{"graceful-shutdown", func(t *testing.T, tc *memory.Peer) {
		tc.Handshake()
		tc.WriteHeaders(1, memory.GET("/slow"), memory.EndStream)
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
		tc.Advance(time.Second)
		tc.Shutdown()
		tc.WantGoAway("first GOAWAY", 1<<31-1, h2sm.ErrCodeNo)
		tc.WantFrame("PING", memory.Ping{Data: [8]byte{7: 1}})
		tc.WriteHeaders(3, memory.GET("/in-flight"), memory.EndStream)
		tc.WantEvent("in flight", h2sm.Event{Kind: h2sm.EventRequest, Stream: 3, EndStream: true})
		tc.Advance(100 * time.Millisecond)
		tc.WritePing(true, [8]byte{7: 1})
		tc.WantGoAway("final GOAWAY", 3, h2sm.ErrCodeNo)
		tc.WriteHeaders(5, memory.GET("/too-late"), memory.EndStream)
		tc.WantIdle("ignored")
		tc.Respond(3, 204, true)
		tc.WantFrame("stream 3", memory.Headers{Stream: 3, EndStream: true})
		tc.Advance(2 * time.Second)
		tc.Respond(1, 200, true)
		tc.WantFrame("stream 1", memory.Headers{Stream: 1, EndStream: true})
		if err := tc.WantClosed("drained"); err != nil {
			t.Errorf("ConnClosed error = %v, want nil", err)
		}
	}},
	{"connection-error", func(t *testing.T, tc *memory.Peer) {
		tc.Handshake()
		tc.WriteHeaders(1, memory.GET("/"), memory.EndStream)
		tc.WantEvent("request", h2sm.Event{Kind: h2sm.EventRequest, Stream: 1, EndStream: true})
		tc.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8))
		tc.WantGoAway("PING on a stream", 1, h2sm.ErrCodeProtocol)
		wantLocalConnErr(t, "closed", tc.WantClosed("closed"), h2sm.ErrCodeProtocol)
		tc.WritePing(false, [8]byte{})
		tc.WantIdle("input after the close is dropped")
	}},
}

func TestTraces(t *testing.T) {
	for _, sc := range traceScenarios {
		t.Run(sc.name, func(t *testing.T) {
			render := func() string {
				tc := memory.NewPeer(t)
				sc.run(t, tc)
				return tc.Trace()
			}
			got := render()
			if again := render(); again != got {
				t.Fatalf("the trace is not deterministic:\n--- first\n%s--- second\n%s", got, again)
			}
			path := filepath.Join("testdata", "traces", sc.name+".golden")
			if updateGolden() {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./h2sm -run TestTraces -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs; if the change is intended, run go test ./h2sm -run TestTraces -update\n%s",
					path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows where two traces part, line by line.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl == gl {
			continue
		}
		b.WriteString("line " + strconv.Itoa(i+1) + ":\n\t- " + wl + "\n\t+ " + gl + "\n")
	}
	return b.String()
}
