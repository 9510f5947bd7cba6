package loop

import "sync"

// workerPool runs http.Handlers on at most max goroutines. Workers start
// on demand and exit when the queue is empty, so an idle server has none.
type workerPool struct {
	max int

	mu    sync.Mutex
	n     int      // running workers
	queue []func() // work waiting for a worker
	wg    sync.WaitGroup
}

// Go runs f on a worker, queueing it when all max workers are busy. It
// never blocks.
func (p *workerPool) Go(f func()) {
	p.mu.Lock()
	if p.n < p.max {
		p.n++
		p.wg.Add(1)
		p.mu.Unlock()
		go p.work(f)
		return
	}
	p.queue = append(p.queue, f)
	p.mu.Unlock()
}

func (p *workerPool) work(f func()) {
	defer p.wg.Done()
	for f != nil {
		f()
		p.mu.Lock()
		if len(p.queue) > 0 {
			f = p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			if len(p.queue) == 0 {
				p.queue = nil
			}
		} else {
			f = nil
			p.n--
		}
		p.mu.Unlock()
	}
}

// idle reports whether no work is running or queued.
func (p *workerPool) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n == 0 && len(p.queue) == 0
}

// wait blocks until every worker has exited.
func (p *workerPool) wait() { p.wg.Wait() }
