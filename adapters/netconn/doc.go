// Package netconn serves HTTP/2 over net.Conn with any http.Handler, using
// the sans-IO core in package h2sm: TLS with crypto/tls (ALPN h2, RFC 9113
// §9.2 rules), cleartext HTTP/2 with prior knowledge (h2c), and net/http's
// HTTP/1.1 server as a fallback for clients that do not speak HTTP/2.
//
// Server follows net/http's conventions: ListenAndServe, ListenAndServeTLS,
// Serve, ServeConn, Shutdown and Close, returning http.ErrServerClosed.
//
// Each connection has a reader goroutine feeding the core, a writer
// goroutine that writes everything the core produced while the previous
// write was in progress (few write calls), one timer set to the core's
// deadline, and one goroutine per running handler. The core is guarded by a
// mutex that is never held during socket I/O.
package netconn
