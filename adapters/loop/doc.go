// Package loop serves cleartext HTTP/2 with prior knowledge (h2c) on the
// event loops of github.com/panjf2000/gnet/v2, using the sans-IO core in
// package h2sm: thousands of connections per goroutine, for servers that
// cannot afford two goroutines and two buffers per connection.
//
// Each gnet connection carries one h2sm.Conn in its context. Bytes from
// OnTraffic are fed to the core, honouring partial consumption: what the
// core does not take stays in gnet's buffer until the output drained. The
// core's output view is written to the socket directly; gnet copies only
// what the socket did not take, and no more output is pulled until that
// drained. Each event loop has one timer heap for the deadlines of all its
// connections, driven from gnet's ticker; there is no time.Timer per
// connection. Work done off the loop comes back through Conn.Wake.
//
// Requests are served in one of two ways: by a Handler that runs on the
// loop and never blocks (answering inline with Stream.Respond, streaming
// with WriteHeader, Write, OnWritable and End, or answering later through
// Stream.Do), or by any http.Handler on a bounded pool of worker
// goroutines, through the same bridge as package netconn.
//
// An idle connection holds no read or write buffer and no goroutine: about
// 2 KB in all (docs/loop.md has the measurement).
//
// # TLS
//
// gnet has no TLS, so this package serves h2c only. Run it behind a TLS
// terminator that speaks HTTP/2 with prior knowledge to its backend
// (HAProxy "proto h2", Envoy, Caddy "h2c://", nginx "grpc_pass" for gRPC,
// a service mesh sidecar); docs/loop.md shows each. Choose package netconn instead when the
// server must terminate TLS itself, needs the HTTP/1.1 fallback on the same
// port, or runs few connections with long blocking handlers, where a
// goroutine per connection is simpler and as cheap.
//
// # Limitations
//
// gnet cannot stop reading a socket: under backpressure the unconsumed
// bytes wait in gnet's buffer, and a peer that sends more than 1 MiB
// while not reading is disconnected with GOAWAY ENHANCE_YOUR_CALM. Timers
// fire up to 50ms late. Upgrade: h2c is not supported.
package loop
