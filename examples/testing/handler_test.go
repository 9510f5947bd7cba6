package testing

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/h2sm/h2sm/adapters/memory"
)

func TestHello(t *testing.T) {
	srv := memory.NewServer(NewHandler())
	defer srv.Close()

	for _, tc := range []struct{ query, want string }{
		{"", "hello, world"},
		{"?name=gopher", "hello, gopher"},
	} {
		resp, err := srv.Client().Get(srv.URL() + "/hello" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Proto != "HTTP/2.0" || string(body) != tc.want {
			t.Errorf("GET /hello%s = %s %q, want HTTP/2.0 %q", tc.query, resp.Proto, body, tc.want)
		}
	}
}

func TestEchoChecksumTrailer(t *testing.T) {
	srv := memory.NewServer(NewHandler())
	defer srv.Close()

	const payload = "some bytes worth checking"
	resp, err := srv.Client().Post(srv.URL()+"/echo", "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // trailers arrive after the body
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != payload {
		t.Errorf("body %q, want %q", body, payload)
	}
	sum := sha256.Sum256([]byte(payload))
	if got, want := resp.Trailer.Get("Body-Sha256"), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("trailer Body-Sha256 = %q, want %q", got, want)
	}
}
