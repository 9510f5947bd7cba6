package loop

import (
	"container/heap"
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// loopState is what the adapter keeps per gnet event loop: one timer heap
// for all of the loop's connections (no time.Timer per connection) and the
// connections whose output waits for gnet's outbound buffer to drain. Only
// the loop's goroutine touches it, except next and nblocked, which the
// ticker reads.
type loopState struct {
	el      gnet.EventLoop
	timers  timerHeap
	blocked []*conn
	tickFn  gnet.RunnableFunc // ls.tick, allocated once

	next     atomic.Int64 // earliest deadline in Unix nanoseconds; 0 = none
	nblocked atomic.Int32
	queued   atomic.Bool // a tick is queued on the loop
}

func newLoopState(el gnet.EventLoop) *loopState {
	ls := &loopState{el: el}
	ls.tickFn = ls.tick
	return ls
}

// timerHeap is a min-heap of connections by deadline.
type timerHeap []*conn

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *timerHeap) Push(x any) {
	c := x.(*conn)
	c.heapIdx = len(*h)
	*h = append(*h, c)
}
func (h *timerHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIdx = -1
	if len(*h) == 0 {
		*h = nil
	}
	return c
}

// maxUnixNano is the latest time UnixNano represents.
var maxUnixNano = time.Unix(0, math.MaxInt64)

// setTimer arms c's timer at d, or disarms it when d is zero.
func (ls *loopState) setTimer(c *conn, t time.Time) {
	var d int64
	switch {
	case t.IsZero():
	case t.After(maxUnixNano):
		d = math.MaxInt64 // UnixNano would wrap after 2262: never due
	default:
		d = max(t.UnixNano(), 1)
	}
	if d == c.deadline {
		return
	}
	c.deadline = d
	switch {
	case d == 0 && c.heapIdx >= 0:
		heap.Remove(&ls.timers, c.heapIdx)
	case d == 0:
	case c.heapIdx >= 0:
		heap.Fix(&ls.timers, c.heapIdx)
	default:
		heap.Push(&ls.timers, c)
	}
	ls.publishNext()
}

func (ls *loopState) publishNext() {
	if len(ls.timers) == 0 {
		ls.next.Store(0)
	} else {
		ls.next.Store(ls.timers[0].deadline)
	}
}

// setBlocked adds c to, or removes it from, the connections polled for
// output progress.
func (ls *loopState) setBlocked(c *conn, b bool) {
	if c.blocked == b {
		return
	}
	c.blocked = b
	if b {
		ls.blocked = append(ls.blocked, c)
	} else {
		for i, x := range ls.blocked {
			if x == c {
				last := len(ls.blocked) - 1
				ls.blocked[i] = ls.blocked[last]
				ls.blocked[last] = nil
				ls.blocked = ls.blocked[:last]
				break
			}
		}
		if len(ls.blocked) == 0 {
			ls.blocked = nil
		}
	}
	ls.nblocked.Store(int32(len(ls.blocked)))
}

// due reports whether the loop has work for a tick at now.
func (ls *loopState) due(now time.Time) bool {
	if ls.nblocked.Load() > 0 {
		return true
	}
	n := ls.next.Load()
	return n != 0 && n <= now.UnixNano()
}

// tick runs on the loop: it fires expired timers and retries blocked
// output.
func (ls *loopState) tick(context.Context) error {
	ls.queued.Store(false)
	now := time.Now()
	for len(ls.timers) > 0 && ls.timers[0].deadline <= now.UnixNano() {
		c := heap.Pop(&ls.timers).(*conn)
		c.deadline = 0
		c.onTimer(now)
	}
	ls.publishNext()
	for i := len(ls.blocked) - 1; i >= 0; i-- {
		if i < len(ls.blocked) {
			ls.blocked[i].retry()
		}
	}
	return nil
}
