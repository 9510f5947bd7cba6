// Package testing shows how to test an http.Handler over HTTP/2 without a
// socket, with the in-memory client of adapters/memory. handler.go is a
// small service; handler_test.go tests it and is the file to copy:
//
//	srv := memory.NewServer(NewHandler())
//	defer srv.Close()
//	resp, err := srv.Client().Get(srv.URL() + "/hello?name=gopher")
//
// The client is net/http's own, speaking HTTP/2 to an h2sm server in
// memory, so the test sees what a real client would: HTTP/2.0 responses,
// trailers, stream resets.
package testing
