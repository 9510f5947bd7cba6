// Command h2bench compares HTTP/2 servers under h2load in one run: the Go
// standard library's server (bench/stdserver), netconn serving an
// http.Handler (examples/server -h2c), loop with its non-blocking API
// (examples/loop), loop serving an http.Handler (examples/loop -http), and
// nghttpd 1.52, the C reference, when it is installed (Debian's
// nghttp2-server), serving files that match the routes.
//
// Every Go server runs the same demo handlers over h2c, pinned to CPU 0 with
// GOMAXPROCS=1; h2load runs pinned to CPU 1. The scenarios:
//
//	S1  GET /                 -c 50 -m 10
//	S2  GET /                 -c 10 -m 100
//	S3  GET /bytes?n=1048576  -c 10 -m 1
//	S4  POST /echo, 64 KiB    -c 20 -m 10
//
// Runs are interleaved (each repetition runs every scenario against every
// server in turn), so that the machine's drift hits all servers alike; the
// report gives medians, ranges and the ratios to the standard library. For
// each run it reads the server's CPU time (/proc/PID/stat) and write system
// calls (/proc/PID/io syscw), and it fails if h2load reports a failed,
// errored or non-2xx request.
//
// Then it runs bench/idlemem (memory per idle connection, -idle connections
// per server) and prints its table.
//
//	go run ./bench/h2bench                    # 5 runs of 8 s per scenario and server, then idlemem
//	go run ./bench/h2bench -reps 1 -duration 3s -scenarios S1,S3 -idle 0
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/h2sm/h2sm/bench/internal/procs"
)

// server is one server under test.
type server struct {
	name, pkg string // pkg: a Go package to build, or "" for an installed program
	args      func(addr string) []string
	program   string // the installed program when pkg is ""

	cmd     *exec.Cmd
	addr    string
	stopped bool
}

// started are the servers running, stopped by fail too.
var started []*server

// scenario is one h2load workload.
type scenario struct {
	name, path string
	c, m       int
	upload     bool // POST a 64 KiB body
}

var scenarios = []scenario{
	{"S1", "/", 50, 10, false},
	{"S2", "/", 10, 100, false},
	{"S3", "/bytes?n=1048576", 10, 1, false},
	{"S4", "/echo", 20, 10, true},
}

// result is one run's figures.
type result struct {
	reqs, reqPerSec, mbPerSec float64
	cpuMicrosPerReq           float64
	writesPerReq              float64
	clientCPU                 float64 // h2load's CPU time over the run's length (1 = a whole core)
}

func main() {
	reps := flag.Int("reps", 5, "runs per scenario and server (the report gives medians)")
	duration := flag.Duration("duration", 8*time.Second, "length of one measured run")
	warmup := flag.Duration("warmup", time.Second, "unmeasured run before each measured one")
	which := flag.String("servers", "std,netconn,loop,loop-http,nghttpd", "servers, comma-separated (nghttpd is skipped when not installed)")
	only := flag.String("scenarios", "S1,S2,S3,S4", "scenarios, comma-separated")
	pin := flag.Bool("pin", runtime.NumCPU() >= 2, "pin the server to CPU 0 and h2load to CPU 1")
	idle := flag.Int("idle", 10000, "then measure memory per idle connection with this many connections per server (bench/idlemem); 0 skips it")
	flag.Parse()

	h2load, err := exec.LookPath("h2load")
	check(err)
	dir, err := os.MkdirTemp("", "h2bench")
	check(err)
	defer os.RemoveAll(dir)
	upload := filepath.Join(dir, "upload.bin")
	check(os.WriteFile(upload, bytes.Repeat([]byte("0123456789abcdef"), 4096), 0o644))

	all := []*server{
		{name: "std", pkg: "./bench/stdserver", args: func(a string) []string { return []string{"-addr", a} }},
		{name: "netconn", pkg: "./examples/server", args: func(a string) []string { return []string{"-addr", "", "-h2c", a} }},
		{name: "loop", pkg: "./examples/loop", args: func(a string) []string { return []string{"-addr", a} }},
		{name: "loop-http", pkg: "./examples/loop", args: func(a string) []string { return []string{"-addr", a, "-http"} }},
		{name: "nghttpd", program: "nghttpd", args: func(a string) []string {
			host, port, _ := net.SplitHostPort(a)
			// / -> index.html, /bytes (the query is ignored) -> a 1 MiB file,
			// POST /echo -> the upload back.
			return []string{"--no-tls", "-a", host, "-d", filepath.Join(dir, "docroot"), "--echo-upload", port}
		}},
	}
	docroot := filepath.Join(dir, "docroot")
	check(os.MkdirAll(docroot, 0o755))
	check(os.WriteFile(filepath.Join(docroot, "index.html"), []byte("hello world\n"), 0o644))
	check(os.WriteFile(filepath.Join(docroot, "bytes"), bytes.Repeat([]byte("x"), 1<<20), 0o644))
	var servers []*server
	for _, s := range all {
		if !inList(*which, s.name) {
			continue
		}
		if s.pkg == "" {
			if _, err := exec.LookPath(s.program); err != nil {
				fmt.Fprintf(os.Stderr, "h2bench: %s not installed, skipped\n", s.program)
				continue
			}
		}
		servers = append(servers, s)
	}
	var scens []scenario
	for _, sc := range scenarios {
		if inList(*only, sc.name) {
			scens = append(scens, sc)
		}
	}
	for _, s := range servers {
		bin := s.program
		if s.pkg != "" {
			bin = filepath.Join(dir, filepath.Base(s.pkg))
		}
		if _, err := os.Stat(bin); s.pkg != "" && err != nil {
			if out, err := exec.Command("go", "build", "-o", bin, s.pkg).CombinedOutput(); err != nil {
				fail("build %s: %v\n%s", s.pkg, err, out)
			}
		}
		s.addr = freeAddr()
		args := append([]string{"GOMAXPROCS=1", bin}, s.args(s.addr)...)
		if *pin {
			args = append([]string{"taskset", "-c", "0", "env"}, args...)
		} else {
			args = append([]string{"env"}, args...)
		}
		s.cmd = exec.Command(args[0], args[1:]...)
		check(s.cmd.Start())
		started = append(started, s)
		defer stop(s)
		check(procs.WaitPort(s.addr, 15*time.Second))
	}

	fmt.Printf("h2bench %s: %d runs of %v per scenario and server, pinned=%v, %s, %d CPUs\n\n",
		time.Now().UTC().Format(time.RFC3339), *reps, *duration, *pin, runtime.Version(), runtime.NumCPU())
	results := map[string]map[string][]result{} // scenario → server → runs
	for rep := 0; rep < *reps; rep++ {
		for _, sc := range scens {
			for _, s := range servers {
				if *warmup > 0 {
					if _, err := runH2load(h2load, s, sc, upload, *warmup, *pin); err != nil {
						fail("%s %s warm-up: %v", sc.name, s.name, err)
					}
				}
				r, err := runH2load(h2load, s, sc, upload, *duration, *pin)
				if err != nil {
					fail("%s %s: %v", sc.name, s.name, err)
				}
				if results[sc.name] == nil {
					results[sc.name] = map[string][]result{}
				}
				results[sc.name][s.name] = append(results[sc.name][s.name], r)
				fmt.Fprintf(os.Stderr, "run %d %s %-9s %9.0f req/s %8.1f MB/s %6.1f µs CPU/req %5.2f writes/req, h2load %3.0f%% CPU\n",
					rep+1, sc.name, s.name, r.reqPerSec, r.mbPerSec, r.cpuMicrosPerReq, r.writesPerReq, 100*r.clientCPU)
			}
		}
	}
	report(scens, servers, results)
	if *idle > 0 {
		// After the load, so that the two never share the machine.
		for _, s := range servers {
			stop(s)
		}
		fmt.Printf("### Memory per idle connection\n\n")
		cmd := exec.Command("go", "run", "./bench/idlemem", "-n", strconv.Itoa(*idle))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fail("bench/idlemem: %v", err)
		}
	}
}

// runH2load runs one h2load and reads the server's CPU and writes around it.
func runH2load(h2load string, s *server, sc scenario, upload string, d time.Duration, pin bool) (result, error) {
	args := []string{h2load, "-D", strconv.Itoa(int(d.Round(time.Second) / time.Second)),
		"-c", strconv.Itoa(sc.c), "-m", strconv.Itoa(sc.m), "-t", "1"}
	if sc.upload {
		args = append(args, "-d", upload)
	}
	args = append(args, "http://"+s.addr+sc.path)
	if pin {
		args = append([]string{"taskset", "-c", "1"}, args...)
	}
	pid := s.cmd.Process.Pid
	cpu0, w0, err := procFigures(pid)
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("h2load: %v\n%s", err, out)
	}
	elapsed := time.Since(start)
	cpu1, w1, err := procFigures(pid)
	if err != nil {
		return result{}, err
	}
	r, err := parseH2load(string(out), cpu1-cpu0, w1-w0)
	r.clientCPU = float64(cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime()) / float64(elapsed)
	return r, err
}

var (
	reFinished = regexp.MustCompile(`finished in [\d.]+m?s, ([\d.]+) req/s, ([\d.]+)([KMG]?B)/s`)
	reRequests = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	reStatus   = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

func parseH2load(out string, cpu time.Duration, writes int64) (result, error) {
	f, q, st := reFinished.FindStringSubmatch(out), reRequests.FindStringSubmatch(out), reStatus.FindStringSubmatch(out)
	if f == nil || q == nil || st == nil {
		return result{}, fmt.Errorf("cannot read h2load's output:\n%s", out)
	}
	num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	if num(q[5]) != 0 || num(q[6]) != 0 || num(q[7]) != 0 || num(st[2]) != 0 || num(st[3]) != 0 || num(st[4]) != 0 {
		return result{}, fmt.Errorf("h2load reported failed, errored or non-2xx requests:\n%s", out)
	}
	done := num(q[4])
	if done == 0 {
		return result{}, fmt.Errorf("no request succeeded:\n%s", out)
	}
	mb := num(f[2])
	switch f[3] {
	case "KB":
		mb /= 1024
	case "GB":
		mb *= 1024
	case "B":
		mb /= 1 << 20
	}
	return result{
		reqs: done, reqPerSec: num(f[1]), mbPerSec: mb,
		cpuMicrosPerReq: float64(cpu.Microseconds()) / done,
		writesPerReq:    float64(writes) / done,
	}, nil
}

// procFigures returns a process's CPU time (user+system) and its count of
// write-like system calls.
func procFigures(pid int) (time.Duration, int64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
	cpu := time.Duration(ut+st) * time.Second / clkTck
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0, err
	}
	var w int64
	for _, line := range strings.Split(string(io), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			w, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return cpu, w, nil
}

// report prints one table per scenario, with medians, ranges and ratios.
func report(scens []scenario, servers []*server, results map[string]map[string][]result) {
	for _, sc := range scens {
		fmt.Printf("### %s  %s %s  -c %d -m %d\n\n", sc.name, map[bool]string{false: "GET", true: "POST 64 KiB"}[sc.upload], sc.path, sc.c, sc.m)
		fmt.Printf("| server | req/s (median, range) | MB/s | server CPU µs/req | writes/req | h2load CPU | × std req/s | × std CPU/req |\n|---|---|---|---|---|---|---|---|\n")
		base := results[sc.name]["std"]
		for _, s := range servers {
			rs := results[sc.name][s.name]
			rps := median(rs, func(r result) float64 { return r.reqPerSec })
			lo, hi := rng(rs, func(r result) float64 { return r.reqPerSec })
			cpu := median(rs, func(r result) float64 { return r.cpuMicrosPerReq })
			ratio, cpuRatio := "", ""
			if len(base) > 0 {
				ratio = fmt.Sprintf("%.2f", rps/median(base, func(r result) float64 { return r.reqPerSec }))
				cpuRatio = fmt.Sprintf("%.2f", median(base, func(r result) float64 { return r.cpuMicrosPerReq })/cpu)
			}
			fmt.Printf("| %s | %.0f (%.0f–%.0f) | %.1f | %.1f | %.2f | %.0f%% | %s | %s |\n", s.name, rps, lo, hi,
				median(rs, func(r result) float64 { return r.mbPerSec }), cpu,
				median(rs, func(r result) float64 { return r.writesPerReq }),
				100*median(rs, func(r result) float64 { return r.clientCPU }), ratio, cpuRatio)
		}
		fmt.Println()
	}
}

func median(rs []result, f func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func rng(rs []result, f func(result) float64) (lo, hi float64) {
	for i, r := range rs {
		v := f(r)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

func inList(list, name string) bool { return slices.Contains(strings.Split(list, ","), name) }

func stop(s *server) {
	if s.stopped {
		return
	}
	s.stopped = true
	procs.Stop(s.cmd, 10*time.Second)
}

func freeAddr() string {
	a, err := procs.FreeAddr()
	check(err)
	return a
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	for _, s := range started {
		stop(s)
	}
	fmt.Fprintf(os.Stderr, "h2bench: "+format+"\n", args...)
	os.Exit(1)
}
