package h2sm

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// STYLE.md §1: h2sm is a pure state machine. These tests parse the
// package's non-test sources and fail on anything that would give it I/O,
// concurrency, a clock or randomness.

// allowedImports is the complete list of packages h2sm may import.
var allowedImports = []string{
	"bytes",
	"encoding/binary",
	"errors",
	"fmt",
	"math",
	"math/bits",
	"slices",
	"strconv",
	"strings",
	"time", // only the Time and Duration types: see forbiddenTimeFuncs
	"unicode/utf8",
	"golang.org/x/net/http2/hpack",
}

// forbiddenImports are named explicitly in failures, so that the message
// says why rather than only "not allowed". A trailing "/" forbids a whole
// tree (crypto/tls, crypto/rand, ...).
var forbiddenImports = []string{
	"net", "net/", "crypto/", "sync", "sync/", "os", "os/", "log", "log/",
	"context", "math/rand", "math/rand/", "io", "io/", "runtime", "runtime/",
	"unsafe", "reflect",
}

// forbiddenTimeFuncs read the clock, sleep or start timers.
var forbiddenTimeFuncs = []string{
	"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick",
}

// Kinds of purity violation.
const (
	violImportNotAllowed = "import not in allowlist"
	violImportForbidden  = "forbidden import"
	violDotImport        = "dot import"
	violGoStmt           = "go statement"
	violChanType         = "channel type"
	violChanSend         = "channel send"
	violChanRecv         = "channel receive"
	violSelect           = "select statement"
	violTimeFunc         = "forbidden time function"
)

type purityViolation struct {
	kind   string
	pos    token.Position
	detail string
}

func (v purityViolation) String() string {
	return fmt.Sprintf("%v: %s: %s", v.pos, v.kind, v.detail)
}

func forbiddenImport(path string) bool {
	for _, f := range forbiddenImports {
		if path == f || strings.HasSuffix(f, "/") && strings.HasPrefix(path, f) {
			return true
		}
	}
	return false
}

// checkPurity reports every purity violation in one parsed file.
func checkPurity(fset *token.FileSet, f *ast.File) []purityViolation {
	var out []purityViolation
	report := func(n ast.Node, kind, detail string) {
		out = append(out, purityViolation{kind, fset.Position(n.Pos()), detail})
	}

	// The names under which "time" is visible in this file.
	timeNames := map[string]bool{}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			report(imp, violImportNotAllowed, imp.Path.Value)
			continue
		}
		switch {
		case forbiddenImport(path):
			report(imp, violImportForbidden, fmt.Sprintf("%q is forbidden in h2sm (STYLE.md §1)", path))
		case !slices.Contains(allowedImports, path):
			report(imp, violImportNotAllowed, fmt.Sprintf("%q is not in the h2sm allowlist (STYLE.md §1)", path))
		}
		if imp.Name != nil && imp.Name.Name == "." {
			// A dot import would hide time.Now and friends from the selector check.
			report(imp, violDotImport, fmt.Sprintf("dot import of %q", path))
		}
		if path == "time" {
			name := "time"
			if imp.Name != nil {
				name = imp.Name.Name
			}
			timeNames[name] = true
		}
	}

	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n, violGoStmt, "h2sm starts no goroutines")
		case *ast.ChanType:
			report(n, violChanType, "h2sm uses no channels")
		case *ast.SendStmt:
			report(n, violChanSend, "h2sm uses no channels")
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				report(n, violChanRecv, "h2sm uses no channels")
			}
		case *ast.SelectStmt:
			report(n, violSelect, "h2sm uses no channels")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeNames[id.Name] && slices.Contains(forbiddenTimeFuncs, n.Sel.Name) {
				report(n, violTimeFunc, fmt.Sprintf("%s.%s: time comes in as a now argument", id.Name, n.Sel.Name))
			}
		}
		return true
	})
	return out
}

// TestPurity parses every non-test .go file of the package.
func TestPurity(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("parse %s: %v", name, err)
			continue
		}
		if f.Name.Name != "h2sm" {
			t.Errorf("%s: package %s, want h2sm", name, f.Name.Name)
		}
		checked++
		for _, v := range checkPurity(fset, f) {
			t.Errorf("%v", v)
		}
	}
	if checked == 0 {
		t.Fatal("no non-test .go files found: the test is not looking at the package")
	}
}

// TestPurityCheckerFindsViolations runs the checker on a source that breaks
// every rule, so that TestPurity can fail.
func TestPurityCheckerFindsViolations(t *testing.T) {
	const bad = `package bad

import (
	"net"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"os"
	"log"
	"context"
	"math/rand"
	"math/rand/v2"
	"io"
	"runtime"
	"unsafe"
	"reflect"
	"net/http"
	"encoding/json"
	. "strings"
	clock "time"
)

func f(in <-chan int) {
	ch := make(chan int, 1)
	go func() {}()
	ch <- 1
	<-ch
	select {}
	_ = clock.Now()
	_ = clock.Since(clock.Time{})
	_ = clock.Until(clock.Time{})
	clock.Sleep(0)
	_ = clock.After(0)
	_ = clock.AfterFunc(0, nil)
	_ = clock.NewTimer(0)
	_ = clock.NewTicker(1)
	_ = clock.Tick(1)
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "bad.go", bad, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	details := map[string]bool{}
	for _, v := range checkPurity(fset, f) {
		got[v.kind]++
		details[v.detail] = true
	}
	want := map[string]int{
		violImportForbidden:  14, // net … net/http
		violImportNotAllowed: 1,  // encoding/json
		violDotImport:        1,
		violGoStmt:           1,
		violChanType:         2, // <-chan int, chan int
		violChanSend:         1,
		violChanRecv:         1,
		violSelect:           1,
		violTimeFunc:         9,
	}
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("checkPurity(bad) found %d × %q, want %d", got[kind], kind, n)
		}
	}
	for kind := range got {
		if _, ok := want[kind]; !ok {
			t.Errorf("checkPurity(bad) found unexpected kind %q", kind)
		}
	}
	// Forbidden imports are named in the failure.
	for _, p := range []string{"net", "crypto/tls", "sync/atomic", "math/rand/v2", "unsafe", "net/http"} {
		if !details[fmt.Sprintf("%q is forbidden in h2sm (STYLE.md §1)", p)] {
			t.Errorf("checkPurity(bad): no failure naming %q", p)
		}
	}
}

// TestPurityCheckerAcceptsClean makes sure the checker does not flag what
// the package is allowed to do, including the time types and an aliased
// allowed import.
func TestPurityCheckerAcceptsClean(t *testing.T) {
	const good = `package good

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	hp "golang.org/x/net/http2/hpack"
)

type now struct{ Now time.Time }

func f(t time.Time, d time.Duration, n now) time.Time {
	_ = bytes.Equal; _ = binary.BigEndian; _ = errors.New; _ = fmt.Sprint
	_ = math.MaxInt; _ = bits.Len; _ = slices.Sort[[]int]; _ = strconv.Itoa
	_ = strings.Cut; _ = utf8.RuneLen; _ = hp.NewDecoder
	_ = n.Now // a field named Now is not time.Now
	return t.Add(d).Add(time.Second)
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "good.go", good, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range checkPurity(fset, f) {
		t.Errorf("checkPurity(good) = %v, want no violation", v)
	}
}
