package h2sm

// BufferPool lends byte buffers to Conns (Config.Buffers). The Conn calls
// Get when it starts framing output or encoding a header block with no
// buffer at hand, and Put when the buffer is empty again: after the driver
// took all output (Advance, AppendOutgoing), and after each header block.
// A pool shared by the connections of one goroutine needs no locking; one
// shared across goroutines (a sync.Pool) must be safe for concurrent use.
type BufferPool interface {
	// Get returns a buffer of length 0; its capacity is free.
	Get() []byte
	// Put takes back a buffer the Conn no longer refers to. Bytes from
	// Outgoing must have been written before the Advance that drained them.
	Put(b []byte)
}

// lend gives the Conn an output buffer from the pool when it has none.
func (c *Conn) lend() {
	if c.out == nil && c.cfg.Buffers != nil {
		c.out = c.cfg.Buffers.Get()[:0]
	}
}

// giveBack returns an empty output buffer to the pool.
func (c *Conn) giveBack() {
	if c.cfg.Buffers != nil && c.out != nil && c.outHead == len(c.out) {
		c.cfg.Buffers.Put(c.out[:0])
		c.out, c.outHead = nil, 0
	}
}
