package proptest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/commands"
)

// Property names one checked invariant. Every violation a Driver records
// carries the property it breaks.
type Property uint8

// The properties.
const (
	PropOutputParses Property = iota
	PropDataWithinWindows
	PropWindowsBounded
	PropStreamLifecycle
	PropResponseFraming
	PropResponseBody
	PropSendLiveness
	PropEventsConsistent
	PropRequestEvents
	PropConnClosedLast
	PropTimerProgress
	PropMemoryBounded
	PropCreditReturned
	PropControlAnswered
	PropGoAwayRules
	PropConformingPeers
	PropCommandErrors
	PropDeterminism
	PropInvalidFrame
	PropMutatedByte
	// PropProgress (no panic, no hang) is watched by every property.
	PropProgress
	numProps
)

var propNames = [numProps]string{
	"OutputParses", "DataWithinWindows", "WindowsBounded", "StreamLifecycle",
	"ResponseFraming", "ResponseBody", "SendLiveness", "EventsConsistent", "RequestEvents",
	"ConnClosedLast", "TimerProgress", "MemoryBounded", "CreditReturned",
	"ControlAnswered", "GoAwayRules", "ConformingPeers", "CommandErrors", "Determinism",
	"InvalidFrame", "MutatedByte", "Progress",
}

// String renders the property name for traces and failure reports.
func (p Property) String() string {
	if p < numProps {
		return propNames[p]
	}
	return fmt.Sprintf("Property(%d)", uint8(p))
}

// robust are the properties that hold whatever the client sends; the
// invalid-input properties check them too.
var robust = [...]Property{
	PropOutputParses, PropDataWithinWindows, PropWindowsBounded, PropStreamLifecycle,
	PropResponseFraming, PropResponseBody, PropEventsConsistent, PropConnClosedLast,
	PropTimerProgress, PropMemoryBounded, PropControlAnswered, PropGoAwayRules,
}

// propSet is a set of properties.
type propSet uint32

func (s propSet) has(p Property) bool { return s&(1<<p) != 0 }

func setOf(ps ...Property) propSet {
	var s propSet
	for _, p := range ps {
		s |= 1 << p
	}
	return s
}

// Spec says how one property is run: which client plays (Mode), which
// violations fail it (Watch), whether two Conns run side by side
// (Determinism), and the filter between the Conn and the checker, if any.
type Spec struct {
	Prop   Property
	Mode   Mode
	Watch  propSet
	Twin   bool
	Filter func() FrameFilter
}

// Specs returns the property suite, one Spec per property.
func Specs() []Spec {
	var specs []Spec
	for p := Property(0); p < PropDeterminism; p++ {
		specs = append(specs, Spec{Prop: p, Mode: ModeValid, Watch: setOf(p, PropProgress)})
	}
	specs = append(specs,
		Spec{Prop: PropDeterminism, Mode: ModeValid, Watch: setOf(PropDeterminism, PropProgress), Twin: true},
		Spec{Prop: PropInvalidFrame, Mode: ModeInject, Watch: setOf(append(robust[:], PropInvalidFrame, PropProgress)...)},
		Spec{Prop: PropMutatedByte, Mode: ModeMutate, Watch: setOf(append(robust[:], PropMutatedByte, PropProgress)...)},
	)
	return specs
}

// State is the gopter state of a run: what the generator needs to know.
// The connection itself is modelled by the Driver, from the bytes that
// cross the wire; commands resolve their random parameters against that
// model when they run.
type State struct {
	Setup    Setup
	Mode     Mode
	Injected bool // an Inject command was generated
	Mutated  bool // a Mutate command was generated
	N        int  // commands so far
}

// String renders the state for traces and failure reports.
func (s State) String() string { return fmt.Sprintf("%v %v", s.Mode, s.Setup) }

// Command is a gopter command wrapping an Op.
type Command struct{ Op Op }

// Run runs the op on every Driver of the system.
func (c Command) Run(sut commands.SystemUnderTest) commands.Result {
	return sut.(*system).do(c.Op)
}

// NextState records the one-off commands.
func (c Command) NextState(s commands.State) commands.State {
	st := s.(State)
	st.N++
	switch c.Op.(type) {
	case Inject:
		st.Injected = true
	case Mutate:
		st.Mutated = true
	}
	return st
}

// PreCondition allows at most one Inject and one Mutate, in their modes.
func (c Command) PreCondition(s commands.State) bool {
	st := s.(State)
	switch c.Op.(type) {
	case Inject:
		return st.Mode == ModeInject && !st.Injected
	case Mutate:
		return st.Mode == ModeMutate && !st.Mutated
	}
	return true
}

// PostCondition fails on a violation of a watched property; the label
// carries the violations and the readable trace of the run so far.
func (c Command) PostCondition(_ commands.State, result commands.Result) *gopter.PropResult {
	return result.(*stepResult).propResult()
}

// String renders the command for traces and failure reports.
func (c Command) String() string { return c.Op.String() }

// system is what the commands run on: one Driver, or two side by side for
// Determinism.
type system struct {
	drivers  []*Driver
	watch    propSet
	reported int
}

func newSystem(spec Spec, st State) *system {
	s := &system{watch: spec.Watch}
	n := 1
	if spec.Twin {
		n = 2
	}
	for range n {
		var f FrameFilter
		if spec.Filter != nil {
			f = spec.Filter()
		}
		s.drivers = append(s.drivers, NewDriver(st.Setup, st.Mode, f))
	}
	return s
}

// stepResult is the outcome of one command.
type stepResult struct {
	viol []Violation
	d    *Driver
}

func (s *system) do(o Op) *stepResult {
	for _, d := range s.drivers {
		d.Do(o)
	}
	d := s.drivers[0]
	if len(s.drivers) == 2 {
		s.compareTwins()
	}
	res := &stepResult{d: d}
	for _, v := range d.violations[s.reported:] {
		if s.watch.has(v.Prop) {
			res.viol = append(res.viol, v)
		}
	}
	s.reported = len(d.violations)
	return res
}

// compareTwins checks that two Conns given the same commands produced the
// same bytes and events.
func (s *system) compareTwins() {
	a, b := s.drivers[0], s.drivers[1]
	if !bytes.Equal(a.stepOut, b.stepOut) {
		a.fail(PropDeterminism, "the same commands gave different output: %d bytes vs %d, first difference at byte %d",
			len(a.stepOut), len(b.stepOut), firstDiff(a.stepOut, b.stepOut))
	}
	if ea, eb := strings.Join(a.stepEvents, "\n"), strings.Join(b.stepEvents, "\n"); ea != eb {
		a.fail(PropDeterminism, "the same commands gave different events:\n%s\n--- vs ---\n%s", ea, eb)
	}
	ta, oka := a.conn.Deadline()
	tb, okb := b.conn.Deadline()
	if oka != okb || !ta.Equal(tb) {
		a.fail(PropDeterminism, "the same commands gave different deadlines: %v/%v vs %v/%v", ta, oka, tb, okb)
	}
}

func (r *stepResult) propResult() *gopter.PropResult {
	if len(r.viol) == 0 {
		return &gopter.PropResult{Status: gopter.PropTrue}
	}
	labels := make([]string, 0, len(r.viol)+1)
	for _, v := range r.viol {
		labels = append(labels, v.String())
	}
	labels = append(labels, "trace (## command, -> client frame, <- server frame, ev event, app application call, !! violation):\n"+r.d.Trace())
	return &gopter.PropResult{Status: gopter.PropFalse, Labels: labels}
}

// GopterProp returns the gopter property for spec: a stateful test whose
// commands are generated by GenOp.
func (spec Spec) GopterProp() gopter.Prop {
	return commands.Prop(&commands.ProtoCommands{
		NewSystemUnderTestFunc: func(init commands.State) commands.SystemUnderTest {
			return newSystem(spec, init.(State))
		},
		InitialStateGen: genState(spec.Mode),
		GenCommandFunc: func(s commands.State) gopter.Gen {
			return genCommand(s.(State))
		},
	})
}
