package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/netconn"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// safety bounds waits that a working server ends far sooner; it is never an
// assertion about speed.
const safety = 30 * time.Second

// echoClient is the client side of the service, as protoc would generate it.
type echoClient struct{ cc grpc.ClientConnInterface }

// Echo calls the unary method.
func (c echoClient) Echo(ctx context.Context, in *Message, opts ...grpc.CallOption) (*Message, error) {
	out := new(Message)
	if err := c.cc.Invoke(ctx, "/"+serviceName+"/Echo", in, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// Chat starts a call of the bidirectional streaming method.
func (c echoClient) Chat(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[Message, Message], error) {
	s, err := c.cc.NewStream(ctx, &echoDesc.Streams[0], "/"+serviceName+"/Chat", opts...)
	if err != nil {
		return nil, err
	}
	return &grpc.GenericClientStream[Message, Message]{ClientStream: s}, nil
}

// start serves impl on a free port with netconn and returns a client
// connected with grpc-go's own HTTP/2 client (insecure credentials, so h2c
// with prior knowledge), and the server. The cleanup closes the client and
// shuts the server down.
func start(t *testing.T, impl EchoServer) (echoClient, *netconn.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(impl)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(jsonCodec{}), grpc.MaxCallRecvMsgSize(maxMessage)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, netconn.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return echoClient{cc}, srv
}

// ctx returns a context that ends with the test, bounded by safety.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), safety)
	t.Cleanup(cancel)
	return c
}

// pattern returns n bytes that are not all alike, so that a misplaced
// chunk shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>10)
	}
	return b
}

func TestUnary(t *testing.T) {
	c, _ := start(t, echoService{})
	var hdr metadata.MD
	out, err := c.Echo(ctx(t), &Message{Text: "hello"}, grpc.Header(&hdr))
	if err != nil {
		t.Fatalf("Echo: %v", err)
	}
	if out.Text != "hello" {
		t.Errorf("Echo(hello) = %q", out.Text)
	}
	if got := hdr.Get("server"); len(got) != 1 || got[0] != "h2sm" {
		t.Errorf("header metadata server = %q, want [h2sm]", got)
	}
}

// TestUnaryStatus checks an error status and trailer metadata: both travel
// in the HTTP/2 trailers (grpc-status, grpc-message, reason).
func TestUnaryStatus(t *testing.T) {
	c, _ := start(t, echoService{})
	var tr metadata.MD
	_, err := c.Echo(ctx(t), &Message{}, grpc.Trailer(&tr))
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || st.Message() != "nothing to echo" {
		t.Errorf("Echo(empty) = %v, want InvalidArgument \"nothing to echo\"", err)
	}
	if got := tr.Get("reason"); len(got) != 1 || got[0] != "empty message" {
		t.Errorf("trailer metadata reason = %q, want [empty message]", got)
	}
}

func TestUnimplemented(t *testing.T) {
	c, _ := start(t, echoService{})
	err := c.cc.Invoke(ctx(t), "/"+serviceName+"/Nope", &Message{Text: "x"}, new(Message))
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v, want Unimplemented", err)
	}
}

// TestUnaryLarge sends and receives a 4 MiB payload (more once encoded):
// many times the connection's and the stream's flow-control windows, both
// ways.
func TestUnaryLarge(t *testing.T) {
	c, _ := start(t, echoService{})
	want := pattern(4 << 20)
	out, err := c.Echo(ctx(t), &Message{Data: want})
	if err != nil {
		t.Fatalf("Echo(4 MiB): %v", err)
	}
	if !bytes.Equal(out.Data, want) {
		t.Errorf("Echo(4 MiB) returned %d bytes, not the ones sent", len(out.Data))
	}
}

// TestUnaryConcurrent multiplexes calls on one connection.
func TestUnaryConcurrent(t *testing.T) {
	c, _ := start(t, echoService{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			text := fmt.Sprint("call ", i)
			out, err := c.Echo(ctx(t), &Message{Text: text, Data: pattern(100 << 10)})
			if err == nil && out.Text != text {
				err = fmt.Errorf("Echo(%q) = %q", text, out.Text)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestChatFullDuplex sends a message and waits for its answer before
// sending the next: a server that answered only once the request ended
// would block here.
func TestChatFullDuplex(t *testing.T) {
	c, _ := start(t, echoService{})
	s, err := c.Chat(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		text := fmt.Sprint("message ", i)
		if err := s.Send(&Message{Text: text}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		in, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if want := "echo: " + text; in.Text != want {
			t.Fatalf("Recv %d = %q, want %q", i, in.Text, want)
		}
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if in, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv after CloseSend = %v, %v; want io.EOF", in, err)
	}
	if got := s.Trailer().Get("chat-count"); len(got) != 1 || got[0] != fmt.Sprint(n) {
		t.Errorf("trailer chat-count = %q, want [%d]", got, n)
	}
}

// TestChatLarge streams large messages both ways at once: the client sends
// while it receives, and neither side's flow-control window holds a
// message.
func TestChatLarge(t *testing.T) {
	c, _ := start(t, echoService{})
	s, err := c.Chat(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := s.Send(&Message{Text: fmt.Sprint(i), Data: pattern(1<<20 + i)}); err != nil {
				sent <- fmt.Errorf("Send %d: %w", i, err)
				return
			}
		}
		sent <- s.CloseSend()
	}()
	for i := range n {
		in, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if in.Text != fmt.Sprint("echo: ", i) || !bytes.Equal(in.Data, pattern(1<<20+i)) {
			t.Fatalf("Recv %d: %q with %d bytes, want the echo of message %d", i, in.Text, len(in.Data), i)
		}
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv after the last message: %v, want io.EOF", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// chatWatcher reports when Chat returns, and with what.
type chatWatcher struct {
	echoService
	done chan error
}

// Chat runs echoService's Chat and reports its result.
func (w chatWatcher) Chat(stream grpc.BidiStreamingServer[Message, Message]) error {
	err := w.echoService.Chat(stream)
	w.done <- err
	return err
}

// TestChatCancel cancels a call in flight: the client resets the stream,
// and the server's handler must see its stream end.
func TestChatCancel(t *testing.T) {
	w := chatWatcher{done: make(chan error, 1)}
	c, _ := start(t, w)
	cctx, cancel := context.WithCancel(ctx(t))
	s, err := c.Chat(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&Message{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-w.done:
		if err == nil {
			t.Errorf("Chat returned nil after the client cancelled, want an error")
		}
	case <-time.After(safety):
		t.Fatal("Chat did not return after the client cancelled")
	}
	if _, err := s.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("client Recv after cancel: %v, want Canceled", err)
	}
}

// TestShutdownDrainsStream shuts the server down gracefully while a
// streaming call is in flight: the client hears the GOAWAY, and the call
// still runs to its end before the connection closes.
func TestShutdownDrainsStream(t *testing.T) {
	c, srv := start(t, echoService{})
	s, err := c.Chat(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	chat := func(text string) {
		t.Helper()
		if err := s.Send(&Message{Text: text}); err != nil {
			t.Fatalf("Send %q: %v", text, err)
		}
		if in, err := s.Recv(); err != nil || in.Text != "echo: "+text {
			t.Fatalf("Recv = %v, %v; want the echo of %q", in, err, text)
		}
	}
	chat("before")
	shut := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		shut <- srv.Shutdown(sctx)
	}()
	// The client's connection leaves READY when it receives the GOAWAY.
	cc := c.cc.(*grpc.ClientConn)
	if !cc.WaitForStateChange(ctx(t), connectivity.Ready) {
		t.Fatal("the client connection stayed READY after Shutdown")
	}
	chat("after GOAWAY")
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
	if got := s.Trailer().Get("chat-count"); len(got) != 1 || got[0] != "2" {
		t.Errorf("trailer chat-count = %q, want [2]", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// bigMetadata sends header and trailer metadata larger than an HTTP/2
// frame (16 KiB by default), so both blocks need CONTINUATION frames.
type bigMetadata struct{ echoService }

// Echo implements EchoServer.
func (bigMetadata) Echo(ctx context.Context, in *Message) (*Message, error) {
	grpc.SetHeader(ctx, metadata.Pairs("big-header", strings.Repeat("h", 40000)))
	grpc.SetTrailer(ctx, metadata.Pairs("big-trailer", strings.Repeat("t", 40000)))
	return in, nil
}

func TestLargeMetadata(t *testing.T) {
	c, _ := start(t, bigMetadata{})
	var hdr, tr metadata.MD
	// The request's header block is larger than a frame too.
	rctx := metadata.AppendToOutgoingContext(ctx(t), "big-request", strings.Repeat("r", 30000))
	if _, err := c.Echo(rctx, &Message{Text: "x"}, grpc.Header(&hdr), grpc.Trailer(&tr)); err != nil {
		t.Fatalf("Echo: %v", err)
	}
	if got := hdr.Get("big-header"); len(got) != 1 || len(got[0]) != 40000 {
		t.Errorf("big-header: %d values", len(got))
	}
	if got := tr.Get("big-trailer"); len(got) != 1 || len(got[0]) != 40000 {
		t.Errorf("big-trailer: %d values", len(got))
	}
}

// refuser ends Chat with an error after the first message, while the
// client is still sending.
type refuser struct{ echoService }

// Chat implements EchoServer.
func (refuser) Chat(stream grpc.BidiStreamingServer[Message, Message]) error {
	stream.Recv()
	return status.Error(codes.FailedPrecondition, "no more")
}

// TestChatEarlyStatus checks that a status sent before the request ended
// reaches a client that is still sending (RFC 9113 §8.1: a complete
// response, then RST_STREAM NO_ERROR if the client goes on).
func TestChatEarlyStatus(t *testing.T) {
	c, _ := start(t, refuser{})
	s, err := c.Chat(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 50 { // 10 MiB: more than the windows, so sending blocks
		if err := s.Send(&Message{Data: pattern(200 << 10)}); err != nil {
			break // io.EOF: the call ended; Recv says how
		}
	}
	if _, err := s.Recv(); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Recv: %v, want FailedPrecondition", err)
	}
}
