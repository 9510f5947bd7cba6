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

// frameHeader starts a frame in the output, borrowing a buffer from the
// pool when the Conn has none: every frame starts here, so an input or a
// command that produces nothing borrows nothing.
func (c *Conn) frameHeader(length int, typ FrameType, flags uint8, id StreamID) {
	if c.out == nil && c.cfg.Buffers != nil {
		c.out = c.cfg.Buffers.Get()[:0]
	}
	c.out = appendFrameHeader(c.out, length, typ, flags, id)
}

// giveBack returns an empty output buffer to the pool.
func (c *Conn) giveBack() {
	if c.cfg.Buffers != nil && c.out != nil && c.outHead == len(c.out) {
		c.cfg.Buffers.Put(c.out[:0])
		c.out, c.outHead = nil, 0
	}
}
