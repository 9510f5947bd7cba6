package demo

import (
	"io"
	"net/http"
	"strconv"
)

// Handler returns the demo handlers:
//
//	/             hello world
//	/echo         the request body streamed back
//	/bytes?n=N    N bytes
//	everything else, with dir set: files from dir (http.FileServer)
func Handler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello world\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 1<<30 {
			http.Error(w, "n must be an integer in [0, 2^30]", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := make([]byte, min(n, 64<<10))
		for i := range chunk {
			chunk[i] = 'a' + byte(i%26)
		}
		for n > 0 {
			k, err := w.Write(chunk[:min(n, len(chunk))])
			if err != nil {
				return
			}
			n -= k
		}
	})
	if dir != "" {
		mux.Handle("/", http.FileServer(http.Dir(dir)))
	}
	return mux
}
