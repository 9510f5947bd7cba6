package main

import (
	"strings"
	"testing"
	"time"
)

const sample = `finished in 8.00s, 62345.50 req/s, 2.03MB/s
requests: 498764 total, 498764 started, 498764 done, 498764 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 498764 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 16.26MB (17045312) total, 1.43MB (1496292) headers (space savings 94.75%), 5.71MB (5985168) data`

func TestParseH2load(t *testing.T) {
	r, err := parseH2load(sample, 4*time.Second, 49876)
	if err != nil {
		t.Fatal(err)
	}
	if r.reqs != 498764 || r.reqPerSec != 62345.50 || r.mbPerSec != 2.03 {
		t.Errorf("parsed %+v", r)
	}
	if got := r.cpuMicrosPerReq; got < 8.01 || got > 8.03 { // 4 s over 498764 requests
		t.Errorf("CPU per request %v µs, want 8.02", got)
	}
	if got := r.writesPerReq; got < 0.0999 || got > 0.1001 {
		t.Errorf("writes per request %v, want 0.1", got)
	}
	gb := strings.Replace(sample, "2.03MB/s", "1.50GB/s", 1)
	if r, err := parseH2load(gb, time.Second, 0); err != nil || r.mbPerSec != 1536 {
		t.Errorf("GB/s: %v MB/s, %v", r.mbPerSec, err)
	}
	for _, bad := range []string{
		strings.Replace(sample, "0 failed", "3 failed", 1),
		strings.Replace(sample, "0 errored", "1 errored", 1),
		strings.Replace(sample, "0 4xx", "7 4xx", 1),
		strings.Replace(sample, "0 5xx", "7 5xx", 1),
		"h2load: connection refused",
	} {
		if _, err := parseH2load(bad, time.Second, 0); err == nil {
			t.Errorf("no error for:\n%s", bad)
		}
	}
}
