// Package debugserver serves a process's runtime figures on a side port for
// the examples: expvar (/debug/vars, with Go's memstats and the number of
// goroutines) and net/http/pprof (/debug/pprof/). The benchmarks in bench/
// read them; keep the address on loopback.
package debugserver
