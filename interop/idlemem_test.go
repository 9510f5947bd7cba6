package interop

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// TestIdleMemory runs bench/idlemem with fewer connections than the
// documented 10,000 and checks the ratios of one run: a loop connection
// costs at most a tenth of the standard library's in RSS and no goroutine,
// and a netconn one at most half, with one goroutine.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	cmd := exec.Command("go", "run", "./bench/idlemem", "-n", "4000", "-settle", "2s")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench/idlemem: %v\n%s", err, out)
	}
	t.Logf("\n%s", out)
	row := regexp.MustCompile(`\| (\w+) \| (\d+) \| (-?\d+) B \| (-?\d+) B \| (-?\d+) B \| (-?[\d.]+) \|`)
	type figures struct{ open, rss, heap, stack, goroutines float64 }
	got := map[string]figures{}
	for _, m := range row.FindAllStringSubmatch(string(out), -1) {
		f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		got[m[1]] = figures{f(m[2]), f(m[3]), f(m[4]), f(m[5]), f(m[6])}
	}
	std, nc, lp := got["std"], got["netconn"], got["loop"]
	if std.open < 3900 || nc.open < 3900 || lp.open < 3900 {
		t.Fatalf("connections still open at the reading: std %v, netconn %v, loop %v (want ~4000)", std.open, nc.open, lp.open)
	}
	if lp.rss*10 > std.rss {
		t.Errorf("loop: %v B RSS per idle connection, more than a tenth of std's %v B", lp.rss, std.rss)
	}
	if lp.goroutines >= 0.01 {
		t.Errorf("loop: %v goroutines per idle connection, want 0", lp.goroutines)
	}
	if nc.rss*2 > std.rss {
		t.Errorf("netconn: %v B RSS per idle connection, more than half of std's %v B", nc.rss, std.rss)
	}
	if nc.goroutines >= 1.01 {
		t.Errorf("netconn: %v goroutines per idle connection, want 1", nc.goroutines)
	}
}
