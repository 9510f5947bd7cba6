package proptest

import (
	"bytes"
	"flag"
	"hash/fnv"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"golang.org/x/net/http2"
)

var (
	flagSeed = flag.Int64("proptest.seed", 0, "seed of the property tests (0: PROPTEST_SEED, else random)")
	flagN    = flag.Int("proptest.n", 0, "successful runs each property needs (0: PROPTEST_N, else 200, or 40 with -short)")
	flagLen  = flag.Int("proptest.len", 0, "largest number of commands in a run (0: PROPTEST_LEN, else 100, or 50 with -short)")
)

// knownBugs maps a property to the h2sm bug that makes it fail today. A
// property listed here is skipped with the message (unless
// PROPTEST_KNOWN_BUGS is set); the property itself is unchanged. Remove the
// entry with the fix.
var knownBugs = map[Property]string{}

// skipKnownBug skips the test if p has a known bug, unless
// PROPTEST_KNOWN_BUGS is set.
func skipKnownBug(t *testing.T, p Property) {
	t.Helper()
	if bug, ok := knownBugs[p]; ok && os.Getenv("PROPTEST_KNOWN_BUGS") == "" {
		t.Skip(bug)
	}
}

// settings are the parameters of a test binary's property runs, fixed once.
type settings struct {
	seed int64
	n    int
	len  int
}

var (
	settingsOnce sync.Once
	runSettings  settings
)

// intSetting returns the flag's value, else the environment variable's,
// else def.
func intSetting(t *testing.T, fromFlag int64, env string, def int64) int64 {
	if fromFlag != 0 {
		return fromFlag
	}
	if v := os.Getenv(env); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, v, err)
		}
		return n
	}
	return def
}

func getSettings(t *testing.T) settings {
	settingsOnce.Do(func() {
		n, l := int64(200), int64(100)
		if testing.Short() {
			n, l = 40, 50
		}
		runSettings = settings{
			seed: intSetting(t, *flagSeed, "PROPTEST_SEED", time.Now().UnixNano()),
			n:    int(intSetting(t, int64(*flagN), "PROPTEST_N", n)),
			len:  int(intSetting(t, int64(*flagLen), "PROPTEST_LEN", l)),
		}
	})
	return runSettings
}

// params returns the gopter parameters of one property: its seed is derived
// from the run's seed and the property's name, so that each property sees
// different command sequences and any one replays alone.
func (s settings) params(name string) *gopter.TestParameters {
	h := fnv.New64a()
	h.Write([]byte(name))
	p := gopter.DefaultTestParametersWithSeed(s.seed ^ int64(h.Sum64()>>1))
	p.MinSuccessfulTests = s.n
	p.MaxSize = s.len
	p.MaxShrinkCount = 200
	return p
}

func logSeed(t *testing.T, s settings) {
	t.Helper()
	t.Logf("proptest seed %d (%d runs of up to %d commands per property); replay with -proptest.seed=%d -proptest.n=%d -proptest.len=%d (or PROPTEST_SEED, PROPTEST_N, PROPTEST_LEN)",
		s.seed, s.n, s.len, s.seed, s.n, s.len)
}

// report turns a gopter result into a test failure with the shrunk
// command sequence and its trace.
func report(t *testing.T, name string, res *gopter.TestResult, s settings) {
	t.Helper()
	var buf bytes.Buffer
	gopter.NewFormatedReporter(true, 1<<20, &buf).ReportTestResult(name, res)
	if res.Passed() {
		t.Log(buf.String())
		return
	}
	t.Errorf("%s\nreplay: go test ./proptest -run 'TestProperties/%s$' -proptest.seed=%d -proptest.n=%d -proptest.len=%d",
		buf.String(), name, s.seed, s.n, s.len)
}

// TestProperties runs every property of the suite. Each is a gopter
// stateful test (commands.Prop) over random command sequences. They run one
// after the other: gopter evaluates generators on a package-level
// GenParameters (MinGenParams) to learn their types, so two properties
// checked in parallel race on its random source.
func TestProperties(t *testing.T) {
	s := getSettings(t)
	logSeed(t, s)
	for _, spec := range Specs() {
		name := spec.Prop.String()
		t.Run(name, func(t *testing.T) {
			skipKnownBug(t, spec.Prop)
			report(t, name, spec.GopterProp().Check(s.params(name)), s)
		})
	}
}

// TestKnownBugs replays, as fixed command sequences, the shrunk failures
// of the properties in knownBugs.
func TestKnownBugs(t *testing.T) {
	t.Run("SendLiveness", func(t *testing.T) {
		skipKnownBug(t, PropSendLiveness)
		// The client's connection window is 65535, its stream windows 1 MiB.
		// Stream 1's body takes the whole connection window; stream 3's
		// response then ends with an empty DATA frame, which needs no
		// window, but waits behind stream 1.
		d := NewDriver(Setup{Client: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 20}}}, ModeValid, nil)
		for _, op := range []Op{
			OpenStream{End: true, ContentLength: -1, Pad: -1},
			OpenStream{End: true, ContentLength: -1, Pad: -1},
			Respond{Sel: 0, Status: 1},
			Respond{Sel: 0, Status: 1},
			SendData{Sel: 0, Size: 70000},
			SendData{Sel: 1, Size: 0, End: true},
		} {
			d.Do(op)
		}
		if len(d.Violations()) > 0 {
			t.Errorf("%v\n%s", d.Violations(), d.Trace())
		}
	})
}
