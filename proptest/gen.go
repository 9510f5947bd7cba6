package proptest

import (
	"math/rand"
	"time"

	"github.com/leanovate/gopter"
	"golang.org/x/net/http2"
)

// genState generates the initial state: a random server Config and client
// SETTINGS.
func genState(mode Mode) gopter.Gen {
	return func(p *gopter.GenParameters) *gopter.GenResult {
		r := p.Rng
		s := Setup{
			MaxConcurrentStreams: oneOf[uint32](r, 0, 1, 2, 4),
			InitialWindowSize:    oneOf[uint32](r, 0, 65535, 16384, 100000),
			ConnWindowSize:       oneOf[uint32](r, 0, 65535, 200000),
			MaxFrameSize:         oneOf[uint32](r, 0, 0, 32768),
			StreamSendBuffer:     oneOf[int](r, 0, 1000, 8192),
			OutputHighWater:      oneOf[int](r, 0, 0, 20000),
			HeaderTableSize:      oneOf[uint32](r, 0, 0, 1024, 65536),
			MaxEncoderTableSize:  oneOf[uint32](r, 0, 0, 256, 65536),
			ManualFlowControl:    r.Intn(2) == 0,
			PingInterval:         oneOf[time.Duration](r, 0, 0, 7*time.Second),
			IdleTimeout:          oneOf[time.Duration](r, 0, 20*time.Second),
		}
		if v := oneOf[int64](r, -1, 0, 1000, 65535, 1<<20); v >= 0 {
			s.Client = append(s.Client, http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(v)})
		}
		if v := oneOf[int64](r, -1, -1, 16384, 100000); v >= 0 {
			s.Client = append(s.Client, http2.Setting{ID: http2.SettingMaxFrameSize, Val: uint32(v)})
		}
		if v := oneOf[int64](r, -1, -1, 0, 512, 4096); v >= 0 {
			s.Client = append(s.Client, http2.Setting{ID: http2.SettingHeaderTableSize, Val: uint32(v)})
		}
		if r.Intn(2) == 0 {
			s.Client = append(s.Client, http2.Setting{ID: http2.SettingEnablePush, Val: 0})
		}
		return gopter.NewGenResult(State{Setup: s, Mode: mode}, gopter.NoShrinker)
	}
}

func oneOf[T any](r *rand.Rand, vs ...T) T { return vs[r.Intn(len(vs))] }

// weighted is one entry of the command table.
type weighted struct {
	w   int
	gen func(r *rand.Rand) Op
}

// peerOps and appOps are the commands of a conforming client and
// application, with their weights.
var peerOps = [...]weighted{
	{12, genOpenStream},
	{12, genData},
	{2, func(r *rand.Rand) Op { return ClientTrailers{Sel: r.Uint32(), Seed: uint8(r.Intn(256))} }},
	{8, genWindowUpdate},
	{3, func(r *rand.Rand) Op { return RSTStream{Sel: r.Uint32(), Code: uint8(r.Intn(14))} }},
	{2, func(r *rand.Rand) Op {
		var p Ping
		r.Read(p.Data[:])
		return p
	}},
	{3, func(r *rand.Rand) Op { return AckControl{} }},
	{3, genSettings},
	{2, func(r *rand.Rand) Op {
		return Priority{Sel: r.Uint32(), Idle: r.Intn(3) == 0, Dep: r.Uint32(), Weight: uint8(r.Intn(256)), Excl: r.Intn(2) == 0}
	}},
	{2, func(r *rand.Rand) Op {
		return Unknown{Type: uint8(r.Intn(256)), Flags: uint8(r.Intn(256)), OnStream: r.Intn(2) == 0, Sel: r.Uint32(), Len: uint8(r.Intn(64))}
	}},
	{5, genAdvance},
}

var appOps = [...]weighted{
	{10, func(r *rand.Rand) Op {
		return Respond{Sel: r.Uint32(), Status: uint8(r.Intn(256)), End: r.Intn(4) == 0, Extra: uint8(r.Intn(6)), Seed: uint8(r.Intn(256))}
	}},
	{12, genSendData},
	{3, func(r *rand.Rand) Op { return AppTrailers{Sel: r.Uint32(), Seed: uint8(r.Intn(256))} }},
	{2, func(r *rand.Rand) Op { return AppReset{Sel: r.Uint32(), Code: uint8(r.Intn(14))} }},
	{6, func(r *rand.Rand) Op { return Consume{Sel: r.Uint32(), Frac: uint8(r.Intn(256))} }},
	{2, func(r *rand.Rand) Op { return AppMisuse{Kind: uint8(r.Intn(256)), Sel: r.Uint32()} }},
}

func genOpenStream(r *rand.Rand) Op {
	o := OpenStream{
		End: r.Intn(3) == 0, Method: uint8(r.Intn(256)), Path: uint8(r.Intn(256)), Extra: uint8(r.Intn(6)),
		ContentLength: -1, Pad: -1, Seed: uint8(r.Intn(256)),
	}
	if r.Intn(5) == 0 {
		o.ContentLength = int32(r.Intn(5000))
	}
	for range r.Intn(4) {
		o.Splits = append(o.Splits, uint8(r.Intn(256)))
	}
	if r.Intn(4) == 0 {
		o.Pad = int16(r.Intn(256))
	}
	if r.Intn(4) == 0 {
		o.Prio, o.Dep, o.Weight = true, r.Uint32(), uint8(r.Intn(256))
	}
	return o
}

// size returns a size spread over several orders of magnitude, up to max.
func size(r *rand.Rand, max int) uint32 {
	switch r.Intn(10) {
	case 0:
		return 0
	case 1, 2, 3, 4:
		return uint32(r.Intn(100))
	case 5, 6, 7:
		return uint32(r.Intn(5000))
	default:
		return uint32(r.Intn(max))
	}
}

func genData(r *rand.Rand) Op {
	o := Data{Sel: r.Uint32(), Size: size(r, 70000), Pad: -1, End: r.Intn(4) == 0, Seed: uint8(r.Intn(256))}
	if o.Size == 0 && r.Intn(2) == 0 {
		o.Size = 1 // keep empty frames rare
	}
	if r.Intn(4) == 0 {
		o.Pad = int16(r.Intn(256))
	}
	return o
}

func genSendData(r *rand.Rand) Op {
	return SendData{Sel: r.Uint32(), Size: size(r, 100000), End: r.Intn(4) == 0, Seed: uint8(r.Intn(256))}
}

func genWindowUpdate(r *rand.Rand) Op {
	incr := uint32(1 + r.Intn(100000))
	if r.Intn(10) == 0 {
		incr = maxWindow
	}
	return WindowUpdate{Conn: r.Intn(3) == 0, Sel: r.Uint32(), Incr: incr}
}

func genSettings(r *rand.Rand) Op {
	var o Settings
	for range r.Intn(5) {
		o.Entries = append(o.Entries, SettingChoice{Kind: uint8(r.Intn(7)), Val: r.Uint32()})
	}
	return o
}

func genAdvance(r *rand.Rand) Op {
	ds := [...]time.Duration{time.Millisecond, 10 * time.Millisecond, 500 * time.Millisecond, time.Second,
		time.Second, 2 * time.Second, 2 * time.Second, 8 * time.Second, 16 * time.Second, 31 * time.Second, 200 * time.Second}
	return Advance{Dur: ds[r.Intn(len(ds))], Early: r.Intn(3) == 0}
}

// genCommand generates the next command for state s.
func genCommand(s State) gopter.Gen {
	return func(p *gopter.GenParameters) *gopter.GenResult {
		r := p.Rng
		var op Op
		switch {
		case s.Mode == ModeInject && !s.Injected && r.Intn(25) == 0:
			op = Inject{Kind: uint8(r.Intn(len(injectKinds) + 4)), X: r.Uint32()}
		case s.Mode == ModeMutate && !s.Mutated && r.Intn(25) == 0:
			op = Mutate{Pos: r.Uint32(), Xor: uint8(r.Intn(256))}
		case s.N < 3 && r.Intn(4) != 0:
			op = genOpenStream(r) // start with requests to work on
		case s.N >= 15 && r.Intn(60) == 0:
			// The end of a connection.
			op = oneOf[Op](r, Shutdown{}, Shutdown{}, ClientGoAway{}, ClientGoAway{},
				AppClose{}, AppGoAway{Code: uint8(r.Intn(14))}, AppAbort{})
		default:
			op = pickWeighted(r)
		}
		return gopter.NewGenResult(Command{Op: op}, shrinkCommand)
	}
}

func pickWeighted(r *rand.Rand) Op {
	total := 0
	for _, w := range peerOps {
		total += w.w
	}
	for _, w := range appOps {
		total += w.w
	}
	n := r.Intn(total)
	for _, w := range peerOps {
		if n < w.w {
			return w.gen(r)
		}
		n -= w.w
	}
	for _, w := range appOps {
		if n < w.w {
			return w.gen(r)
		}
		n -= w.w
	}
	panic("unreachable")
}

// shrinkCommand proposes simpler versions of a command, so that shrunk
// failures are small as well as short.
func shrinkCommand(v interface{}) gopter.Shrink {
	var simpler []Op
	switch o := v.(Command).Op.(type) {
	case OpenStream:
		if len(o.Splits) > 0 || o.Pad >= 0 || o.Prio || o.Extra > 0 {
			simpler = append(simpler, OpenStream{End: o.End, Method: o.Method, Path: o.Path, ContentLength: o.ContentLength, Pad: -1})
		}
	case Data:
		if o.Size > 1 {
			simpler = append(simpler, Data{Sel: o.Sel, Size: o.Size / 2, Pad: o.Pad, End: o.End, Seed: o.Seed})
		}
		if o.Pad >= 0 {
			simpler = append(simpler, Data{Sel: o.Sel, Size: o.Size, Pad: -1, End: o.End, Seed: o.Seed})
		}
	case SendData:
		if o.Size > 1 {
			simpler = append(simpler, SendData{Sel: o.Sel, Size: o.Size / 2, End: o.End, Seed: o.Seed})
		}
	case Settings:
		for i := range o.Entries {
			e := append(append([]SettingChoice(nil), o.Entries[:i]...), o.Entries[i+1:]...)
			simpler = append(simpler, Settings{Entries: e})
		}
	case Advance:
		if o.Early {
			simpler = append(simpler, Advance{Dur: o.Dur})
		}
	}
	i := 0
	return func() (interface{}, bool) {
		if i == len(simpler) {
			return nil, false
		}
		i++
		return Command{Op: simpler[i-1]}, true
	}
}
