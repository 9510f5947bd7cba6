package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/h2sm/h2sm/adapters/netconn"
)

// tool returns the path of an external program, skipping the test when it
// is missing unless H2SM_INTEROP=1 (CI), where that is a failure.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gobin := filepath.Join(os.Getenv("HOME"), "go", "bin", name)
	if _, err := os.Stat(gobin); err == nil {
		return gobin
	}
	if os.Getenv("H2SM_INTEROP") == "1" {
		t.Fatalf("%s is not installed (.ci/run installs it)", name)
	}
	t.Skipf("%s is not installed; set H2SM_INTEROP=1 to require it", name)
	return ""
}

// demo is the handler the external tools talk to: /, /echo, /bytes?n=N.
func demo() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello world\n") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := make([]byte, 32<<10)
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
	return mux
}

// server is a running netconn.Server with a TLS and an h2c listener.
type server struct {
	srv       *netconn.Server
	tlsAddr   string
	h2cAddr   string
	serveErrs chan error
}

func startServer(t *testing.T, h http.Handler) *server {
	t.Helper()
	s := &server{srv: &netconn.Server{Handler: h, H2C: true, TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}},
		serveErrs: make(chan error, 2)}
	lt, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.tlsAddr, s.h2cAddr = lt.Addr().String(), lc.Addr().String()
	go func() { s.serveErrs <- s.srv.ServeTLS(lt, "", "") }()
	go func() { s.serveErrs <- s.srv.Serve(lc) }()
	t.Cleanup(func() {
		s.srv.Close()
		for range 2 {
			if err := <-s.serveErrs; err != http.ErrServerClosed {
				t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
			}
		}
	})
	return s
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestH2Spec runs the whole h2spec suite in strict mode over TLS and h2c.
func TestH2Spec(t *testing.T) {
	h2spec := tool(t, "h2spec")
	s := startServer(t, demo())
	re := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tls", []string{"-t", "-k", "-p", port(s.tlsAddr)}},
		{"h2c", []string{"-p", port(s.h2cAddr)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--strict", "-h", "127.0.0.1", "-o", "5"}, tc.args...)
			out, _ := exec.Command(h2spec, args...).CombinedOutput()
			m := re.FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("h2spec printed no summary:\n%s", out)
			}
			if m[1] != "146" || m[2] != "146" {
				t.Fatalf("h2spec --strict over %s: %s\n%s", tc.name, m[0], failures(string(out)))
			}
			t.Logf("h2spec --strict over %s: %s", tc.name, m[0])
		})
	}
}

// failures keeps the failure section of h2spec's output.
func failures(out string) string {
	if i := strings.Index(out, "Failures:"); i >= 0 {
		return out[i:]
	}
	return out
}

// TestCurl: GET and POST with curl over TLS (ALPN h2) and h2c prior knowledge.
func TestCurl(t *testing.T) {
	curl := tool(t, "curl")
	s := startServer(t, demo())
	tlsURL, h2cURL := "https://"+s.tlsAddr, "http://"+s.h2cAddr
	if out := run(t, curl, "-sS", "-k", "--http2", "-w", " %{http_version}", tlsURL+"/"); out != "hello world\n 2" {
		t.Errorf("curl --http2 GET = %q", out)
	}
	if out := run(t, curl, "-sS", "--http2-prior-knowledge", "-w", " %{http_version}", h2cURL+"/"); out != "hello world\n 2" {
		t.Errorf("curl --http2-prior-knowledge GET = %q", out)
	}
	body := strings.Repeat("0123456789", 100_000)
	f := filepath.Join(t.TempDir(), "body")
	os.WriteFile(f, []byte(body), 0o600)
	for _, args := range [][]string{
		{"-k", "--http2", tlsURL + "/echo"},
		{"--http2-prior-knowledge", h2cURL + "/echo"},
	} {
		out := run(t, curl, append([]string{"-sS", "--data-binary", "@" + f}, args...)...)
		if out != body {
			t.Errorf("curl POST %v: got %d bytes, want %d echoed", args, len(out), len(body))
		}
	}
	// HTTP/1.1 fallback on both listeners, same handler.
	if out := run(t, curl, "-sS", "-k", "--http1.1", "-w", " %{http_version}", tlsURL+"/"); out != "hello world\n 1.1" {
		t.Errorf("curl --http1.1 over TLS = %q", out)
	}
	if out := run(t, curl, "-sS", "--http1.1", "-w", " %{http_version}", h2cURL+"/"); out != "hello world\n 1.1" {
		t.Errorf("curl --http1.1 cleartext = %q", out)
	}
}

// TestNghttp: GET, POST with body and a 1 MiB download with nghttp.
func TestNghttp(t *testing.T) {
	nghttp := tool(t, "nghttp")
	s := startServer(t, demo())
	for _, base := range []string{"https://" + s.tlsAddr, "http://" + s.h2cAddr} {
		if out := run(t, nghttp, base+"/"); out != "hello world\n" {
			t.Errorf("nghttp GET %s = %q", base, out)
		}
		f := filepath.Join(t.TempDir(), "body")
		body := strings.Repeat("abcdefghij", 50_000)
		os.WriteFile(f, []byte(body), 0o600)
		if out := run(t, nghttp, "-d", f, base+"/echo"); out != body {
			t.Errorf("nghttp POST %s: got %d bytes, want %d", base, len(out), len(body))
		}
		out := run(t, nghttp, base+"/bytes?n=1048576")
		if len(out) != 1<<20 {
			t.Errorf("nghttp download %s: got %d bytes", base, len(out))
		}
	}
}

// TestH2load: 1000 requests on one connection, GET and POST, TLS and h2c.
func TestH2load(t *testing.T) {
	h2load := tool(t, "h2load")
	s := startServer(t, demo())
	f := filepath.Join(t.TempDir(), "body")
	os.WriteFile(f, []byte(strings.Repeat("x", 4096)), 0o600)
	for _, url := range []string{"https://" + s.tlsAddr, "http://" + s.h2cAddr} {
		for _, extra := range [][]string{nil, {"-d", f}} {
			path := "/"
			if extra != nil {
				path = "/echo"
			}
			args := append([]string{"-n", "1000", "-c", "1", "-m", "10"}, extra...)
			out := run(t, h2load, append(args, url+path)...)
			if !strings.Contains(out, "1000 succeeded, 0 failed, 0 errored, 0 timeout") ||
				!strings.Contains(out, "status codes: 1000 2xx") {
				t.Errorf("h2load %v %s:\n%s", args, url+path, out)
			}
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
