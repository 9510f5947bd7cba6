package testing

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
)

// NewHandler returns the example service:
//
//	GET  /hello?name=N  "hello, N" (N defaults to "world")
//	POST /echo          the request body back, with its SHA-256 in the
//	                    trailer Body-Sha256, known once the body is sent
func NewHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "world"
		}
		fmt.Fprintf(w, "hello, %s", name)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Body-Sha256")
		h := sha256.New()
		if _, err := io.Copy(w, io.TeeReader(r.Body, h)); err != nil {
			return // the client went away
		}
		w.Header().Set("Body-Sha256", hex.EncodeToString(h.Sum(nil)))
	})
	return mux
}
