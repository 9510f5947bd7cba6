package bridge

import (
	"runtime"
	"sync"
)

// WorkerPool runs handlers on goroutines that are reused: a worker that
// finishes yields once and takes work queued meanwhile before it exits, so
// that under load a handler runs on a goroutine whose stack has already
// grown, and an idle server has no worker. Max bounds the workers (0: no
// bound); beyond it, work waits in order. The zero WorkerPool is ready.
type WorkerPool struct {
	Max int

	mu        sync.Mutex
	n         int      // running workers
	lingering int      // workers that finished and look for more work
	queue     []func() // work waiting for a worker
	wg        sync.WaitGroup
}

// Go runs f on a worker. It never blocks.
func (p *WorkerPool) Go(f func()) {
	p.mu.Lock()
	// A lingering worker takes queued work after its yield; give it no more
	// than one item each, so that a slow handler does not hold up others.
	if len(p.queue) < p.lingering || (p.Max > 0 && p.n >= p.Max) {
		p.queue = append(p.queue, f)
		p.mu.Unlock()
		return
	}
	p.n++
	p.wg.Add(1)
	p.mu.Unlock()
	go p.work(f)
}

func (p *WorkerPool) work(f func()) {
	defer p.wg.Done()
	for {
		f()
		f = p.next()
		if f == nil {
			return
		}
	}
}

// next returns queued work, after one yield if there is none yet, or nil
// when the worker should exit.
func (p *WorkerPool) next() func() {
	p.mu.Lock()
	if len(p.queue) == 0 {
		p.lingering++
		p.mu.Unlock()
		runtime.Gosched()
		p.mu.Lock()
		p.lingering--
	}
	if len(p.queue) == 0 {
		p.n--
		p.mu.Unlock()
		return nil
	}
	f := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if len(p.queue) == 0 {
		p.queue = nil
	}
	p.mu.Unlock()
	return f
}

// Idle reports whether no work is running or queued.
func (p *WorkerPool) Idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n == 0 && len(p.queue) == 0
}

// Wait blocks until every worker has exited.
func (p *WorkerPool) Wait() { p.wg.Wait() }
