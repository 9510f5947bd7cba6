// Command idlemem measures the memory a server holds per idle HTTP/2
// connection, for the Go standard library's server (bench/stdserver), the
// netconn adapter (examples/server) and the loop adapter (examples/loop), in
// one run.
//
// For each server it builds the binary, starts it, warms it with three
// requests, and reads the process's RSS (/proc/PID/status) and its Go heap
// and stacks (runtime.MemStats through the server's -debug expvar port).
// Then it opens -n cleartext connections (h2c prior knowledge), completes the
// SETTINGS exchange on each (PINGs are answered, nothing else is sent), waits
// -settle, and reads the figures again. The difference divided by the number
// of connections still open is the cost of one idle connection.
//
//	go run ./bench/idlemem -n 10000
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/h2sm/h2sm/bench/internal/procs"
)

// server is one server under test.
type server struct {
	name, pkg string
	args      func(addr, debug string) []string
}

var (
	heapDir string
	forceGC bool
)

var servers = []server{
	{"std", "./bench/stdserver", func(a, d string) []string { return []string{"-addr", a, "-debug", d} }},
	{"netconn", "./examples/server", func(a, d string) []string { return []string{"-addr", "", "-h2c", a, "-debug", d} }},
	{"loop", "./examples/loop", func(a, d string) []string { return []string{"-addr", a, "-debug", d} }},
}

func main() {
	n := flag.Int("n", 10000, "idle connections to open")
	settle := flag.Duration("settle", 3*time.Second, "wait before each reading")
	which := flag.String("servers", "std,netconn,loop", "servers to measure, comma-separated")
	bin := flag.String("bin", "", "directory for the built binaries (default: a temporary one)")
	flag.StringVar(&heapDir, "heapprofile", "", "if set, save each server's heap profile (with the connections open) in this directory")
	flag.BoolVar(&forceGC, "gc", true, "run a garbage collection in each server (through its pprof endpoint) before each reading, as a server idle for two minutes would have")
	flag.Parse()
	raiseFileLimit()

	dir := *bin
	if dir == "" {
		d, err := os.MkdirTemp("", "idlemem")
		check(err)
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Printf("idle h2c connections: %d per server, settle %v, %s\n\n", *n, *settle, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("| server | open | RSS per conn | Go heap per conn | Go stacks per conn | goroutines per conn |\n|---|---|---|---|---|---|\n")
	for _, s := range servers {
		if !strings.Contains(","+*which+",", ","+s.name+",") {
			continue
		}
		path := filepath.Join(dir, s.name)
		out, err := exec.Command("go", "build", "-o", path, s.pkg).CombinedOutput()
		if err != nil {
			fail("build %s: %v\n%s", s.name, err, out)
		}
		r, err := measure(s, path, *n, *settle)
		if err != nil {
			fail("%s: %v", s.name, err)
		}
		fmt.Printf("| %s | %d | %.0f B | %.0f B | %.0f B | %.2f |\n", s.name, r.open, r.rss, r.heap, r.stack, r.goroutines)
	}
}

// result is the cost of one idle connection.
type result struct {
	open             int
	rss, heap, stack float64
	goroutines       float64
}

func measure(s server, path string, n int, settle time.Duration) (result, error) {
	addr, debug := freeAddr(), freeAddr()
	cmd := exec.Command(path, s.args(addr, debug)...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer procs.Stop(cmd, 10*time.Second)
	if err := procs.WaitPort(addr, 15*time.Second); err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, logs.String())
	}
	for range 3 {
		if err := warm(addr); err != nil {
			return result{}, fmt.Errorf("warm-up request: %w", err)
		}
	}
	time.Sleep(settle)
	before, err := snapshot(cmd.Process.Pid, debug)
	if err != nil {
		return result{}, err
	}
	conns, err := openIdle(addr, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return result{}, err
	}
	time.Sleep(settle)
	after, err := snapshot(cmd.Process.Pid, debug)
	if err != nil {
		return result{}, err
	}
	if heapDir != "" {
		if err := saveHeap(debug, filepath.Join(heapDir, s.name+".heap")); err != nil {
			return result{}, err
		}
	}
	open := n - int(closedByServer.Swap(0))
	if open <= 0 {
		return result{}, errors.New("the server closed every connection")
	}
	per := func(a, b int64) float64 { return float64(a-b) / float64(open) }
	return result{
		open:       open,
		rss:        per(after.rss, before.rss),
		heap:       per(after.heap, before.heap),
		stack:      per(after.stack, before.stack),
		goroutines: per(after.goroutines, before.goroutines),
	}, nil
}

// figures is one reading of a server's memory.
type figures struct{ rss, heap, stack, goroutines int64 }

func snapshot(pid int, debug string) (figures, error) {
	var f figures
	if forceGC {
		// Go collects at least every two minutes; an idle server has.
		resp, err := http.Get("http://" + debug + "/debug/pprof/heap?gc=1")
		if err != nil {
			return f, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(time.Second) // the scavenger returns freed pages
	}
	resp, err := http.Get("http://" + debug + "/debug/vars")
	if err != nil {
		return f, err
	}
	var vars struct {
		Goroutines int64 `json:"goroutines"`
		Memstats   struct{ HeapInuse, StackInuse int64 }
	}
	err = json.NewDecoder(resp.Body).Decode(&vars)
	resp.Body.Close()
	if err != nil {
		return f, fmt.Errorf("debug/vars: %w", err)
	}
	f.heap, f.stack = vars.Memstats.HeapInuse, vars.Memstats.StackInuse
	f.goroutines = vars.Goroutines
	// RSS last, after the probe above finished.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return f, err
			}
			f.rss = kb << 10
		}
	}
	return f, nil
}

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

var closedByServer atomic.Int64

// openIdle opens n connections, each through the SETTINGS exchange.
func openIdle(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := handshake(addr)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	var open []net.Conn
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	if err := <-errs; err != nil {
		return open, err
	}
	return open, nil
}

// handshake sends the preface and an empty SETTINGS, waits for the server's
// SETTINGS and ACKs it; then a goroutine answers PINGs until the server
// closes the connection.
func handshake(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append([]byte(preface), frame(0x4, 0, nil)...)); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	for {
		typ, flags, _, err := readFrame(br)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("waiting for the server's SETTINGS: %w", err)
		}
		if typ == 0x4 && flags&1 == 0 {
			break
		}
	}
	if _, err := c.Write(frame(0x4, 1, nil)); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	go func() {
		for {
			typ, flags, payload, err := readFrame(br)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					closedByServer.Add(1)
				}
				return
			}
			if typ == 0x6 && flags&1 == 0 {
				c.Write(frame(0x6, 1, payload))
			}
		}
	}()
	return c, nil
}

func frame(typ, flags byte, payload []byte) []byte {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	return append(b, payload...)
}

func readFrame(br *bufio.Reader) (typ, flags byte, payload []byte, err error) {
	var h [9]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[3], h[4], payload, err
}

// warm makes one GET over its own h2c connection, with a raw exchange:
// HEADERS for GET / and reading until the response's END_STREAM.
func warm(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// HPACK: :method GET (idx 2), :scheme http (6), :path / (4), :authority
	// as a literal without indexing of name index 1.
	block := []byte{0x82, 0x86, 0x84, 0x01, byte(len(addr))}
	block = append(block, addr...)
	req := append([]byte(preface), frame(0x4, 0, nil)...)
	hdrs := frame(0x1, 0x5, block) // END_STREAM|END_HEADERS
	binary.BigEndian.PutUint32(hdrs[5:9], 1)
	req = append(req, hdrs...)
	if _, err := c.Write(req); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for {
		typ, flags, _, err := readFrame(br)
		if err != nil {
			return err
		}
		if typ == 0x7 {
			return errors.New("GOAWAY")
		}
		if (typ == 0x0 || typ == 0x1) && flags&1 != 0 {
			return nil
		}
	}
}

// saveHeap writes the server's heap profile (after a GC) to path.
func saveHeap(debug, path string) error {
	resp, err := http.Get("http://" + debug + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func freeAddr() string {
	a, err := procs.FreeAddr()
	check(err)
	return a
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "idlemem: "+format+"\n", args...)
	os.Exit(1)
}
