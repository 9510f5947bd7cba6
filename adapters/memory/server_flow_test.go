package memory_test

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/h2sm/h2sm/adapters/memory"
	"github.com/h2sm/h2sm/h2sm"
)

// TestServerSlowReader has the client read a large response slowly: the
// handler is held back by the client's flow-control window, the server
// never buffers more than the window and its per-stream send buffer, and
// every byte arrives intact.
func TestServerSlowReader(t *testing.T) {
	const (
		window     = 64 << 10 // the client's receive window, stream and connection
		sendBuffer = 16 << 10 // the server's per-stream send buffer
		chunk      = 16 << 10 // the handler's writes
		size       = 1 << 20  // the response body
	)
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7 / 3)
	}

	var (
		read    atomic.Int64 // bytes the client has read
		srv     *memory.Server
		mu      sync.Mutex
		maxHeld int // largest written - read seen by the handler
		maxStat memory.ConnStats
	)
	blocked := make(chan struct{}) // the handler has filled window and buffer
	srv = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		written := 0
		for written < size {
			n, err := w.Write(body[written : written+chunk])
			written += n
			if err != nil {
				t.Errorf("Write after %d bytes: %v", written, err)
				return
			}
			st := srv.Stats()[0]
			mu.Lock()
			maxHeld = max(maxHeld, written-int(read.Load()))
			maxStat.Unread = max(maxStat.Unread, st.Unread)
			maxStat.Core.BufferedSendBytes = max(maxStat.Core.BufferedSendBytes, st.Core.BufferedSendBytes)
			mu.Unlock()
			if written == window+sendBuffer {
				close(blocked)
			}
		}
	}, memory.WithServerConfig(func(c *h2sm.Config) {
		c.StreamSendBuffer = sendBuffer
	}), memory.WithTransport(func(tr *http.Transport) {
		tr.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: window, MaxReceiveBufferPerConnection: window}
	}))

	resp, err := srv.Client().Get(srv.URL() + "/large")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	// Before the client reads anything, the handler fills the window and the
	// send buffer; its next Write blocks, and nothing more is buffered.
	recv(t, blocked, "the handler to fill the window and the send buffer")
	st := srv.Stats()[0]
	if st.Core.BufferedSendBytes != sendBuffer {
		t.Errorf("server buffers %d bytes of body while the window is closed, want the send buffer's %d",
			st.Core.BufferedSendBytes, sendBuffer)
	}

	// Read slowly: a small piece at a time.
	got := make([]byte, 0, size)
	buf := make([]byte, 1000)
	for {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		read.Add(int64(n))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading after %d bytes: %v", len(got), err)
		}
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), size)
	}

	mu.Lock()
	defer mu.Unlock()
	// Flow control: what was written and not yet read is in the server's
	// send buffer or within the client's window, nowhere else. The client
	// returns credit inside Read, before the reader counts the bytes: one
	// read may be in flight.
	if limit := window + sendBuffer + len(buf); maxHeld > limit {
		t.Errorf("handler got %d bytes ahead of the reader, want at most window + send buffer + one read = %d",
			maxHeld, limit)
	}
	if maxStat.Core.BufferedSendBytes > sendBuffer {
		t.Errorf("server buffered up to %d bytes of body, want at most %d", maxStat.Core.BufferedSendBytes, sendBuffer)
	}
	// The in-memory connection holds DATA within the window, plus frame
	// headers and control frames.
	if limit := window + 4<<10; maxStat.Unread > limit {
		t.Errorf("up to %d bytes waited in the connection for the client, want at most %d", maxStat.Unread, limit)
	}
}
