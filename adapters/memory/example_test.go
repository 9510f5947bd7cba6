package memory_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
)

// exampleT stands in for the *testing.T a test passes to NewPeer, which an
// Example does not have. It implements the methods the Peer uses.
type exampleT struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (t *exampleT) Helper()          {}
func (t *exampleT) Failed() bool     { return t.failed }
func (t *exampleT) Log(args ...any)  { fmt.Println(args...) }
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(format string, args ...any) {
	t.failed = true
	fmt.Printf("FAIL: "+format+"\n", args...)
}
func (t *exampleT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic("test failed")
}

// finish runs the cleanups, as the testing package does at the end of a test.
func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// The test is the client: it sends a request, answers it as the application
// through the Conn, and reads the response with an independent decoder.
func Example() {
	t := new(exampleT) // in a test: the *testing.T
	defer t.finish()

	tc := memory.NewPeer(t, memory.WithConfig(func(c *h2sm.Config) {
		c.ConnWindowSize = 65535 // no connection WINDOW_UPDATE, for a shorter trace
	}))
	tc.Handshake()

	tc.WriteHeaders(1, memory.GET("/hello"), memory.EndStream)
	req := tc.WantEvent("the request reaches the application", h2sm.Event{
		Kind: h2sm.EventRequest, Stream: 1, EndStream: true, Path: "/hello",
	})
	tc.Respond(req.Stream, 200, false, h2sm.HeaderField{Name: "content-type", Value: "text/plain"})
	tc.SendData(req.Stream, []byte("hello, world"), true)

	fields := tc.WantHeaders("response headers", 1, false)
	body, end := tc.WantData("response body", 1)
	fmt.Println(fields)
	fmt.Printf("%q end=%v\n", body, end)
	fmt.Print(tc.Trace())
	// Output:
	// [{:status 200 false} {content-type text/plain false}]
	// "hello, world" end=true
	// +0.000s  new conn (reading=true)
	// +0.000s  <- SETTINGS MAX_CONCURRENT_STREAMS=100 INITIAL_WINDOW_SIZE=1048576 MAX_HEADER_LIST_SIZE=65536
	// +0.000s     deadline +10.000s
	// +0.000s  -> PREFACE
	// +0.000s  -> SETTINGS
	// +0.000s  <- SETTINGS ACK
	// +0.000s  -> SETTINGS ACK
	// +0.000s     deadline +180.000s
	// +0.000s  -> HEADERS stream=1 END_STREAM END_HEADERS len=19 :method=GET :scheme=https :authority=example.com :path=/hello
	// +0.000s     deadline none
	// +0.000s  ev Request stream=1 END_STREAM method=GET scheme=https authority=example.com path=/hello
	// +0.000s  app WriteHeaders stream=1 :status=200 content-type=text/plain
	// +0.000s  <- HEADERS stream=1 END_HEADERS len=10 :status=200 content-type=text/plain
	// +0.000s  app WriteData stream=1 len=12 END_STREAM accepted=12
	// +0.000s  <- DATA stream=1 END_STREAM len=12 "hello, world"
	// +0.000s     deadline +180.000s
}

// A handler tested over real HTTP/2, in memory: the client is net/http's,
// the server an h2sm.Conn behind the same bridge to net/http as the
// socket adapters.
func ExampleNewServer() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Length")
		n, _ := io.WriteString(w, "hello over "+r.Proto)
		w.Header().Set("X-Length", strconv.Itoa(n))
	})
	srv := memory.NewServer(h)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL() + "/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Proto)
	fmt.Println(string(body))
	fmt.Println("trailer X-Length:", resp.Trailer.Get("X-Length"))
	// Output:
	// 200 OK HTTP/2.0
	// hello over HTTP/2.0
	// trailer X-Length: 19
}

// On a virtual clock, the server's timers fire as the clock is advanced:
// here the idle timeout closes the connection after three virtual minutes,
// at once.
func ExampleWithClock() {
	clock := memory.NewClock()
	srv := memory.NewServer(http.NotFoundHandler(), memory.WithClock(clock))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL())
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, srv.Stats()[0].Phase)
	clock.Advance(srv.Config().IdleTimeout)
	fmt.Println(clock.Elapsed(), srv.Stats()[0].Phase)
	// Output:
	// 404 Open
	// 3m0s Closed
}
