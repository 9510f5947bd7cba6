package bridge

import "sync"

// maxPooled is the largest buffer kept for reuse; larger ones are left to
// the garbage collector, so a burst does not pin memory.
const maxPooled = 256 << 10

// Buffers is an h2sm.BufferPool shared by every connection of a server, on
// any goroutine: a connection holds an output buffer only while it has
// output, and idle connections hold none.
var Buffers = &bufferPool{}

type bufferPool struct {
	bufs    sync.Pool // *[]byte holding a buffer
	holders sync.Pool // empty *[]byte, so that Put does not allocate
}

// Get returns an empty buffer, reused when one is free.
func (p *bufferPool) Get() []byte {
	if h, ok := p.bufs.Get().(*[]byte); ok {
		b := *h
		*h = nil
		p.holders.Put(h)
		return b[:0]
	}
	return make([]byte, 0, 4<<10)
}

// Put keeps b for reuse unless it is large.
func (p *bufferPool) Put(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooled {
		return
	}
	h, ok := p.holders.Get().(*[]byte)
	if !ok {
		h = new([]byte)
	}
	*h = b[:0]
	p.bufs.Put(h)
}
