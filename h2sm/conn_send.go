package h2sm

import (
	"fmt"
	"slices"
	"time"

	"golang.org/x/net/http2/hpack"
)

// writeChunk is how much output a pull frames before handing it over: large
// enough that a driver makes few write calls, small enough that control
// frames are not stuck behind much DATA.
const writeChunk = 64 << 10

// hbuf is the HPACK encoder's output: an append-only byte slice.
type hbuf []byte

func (b *hbuf) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// --- (C) commands ---

// WriteHeaders sends a HEADERS frame (and CONTINUATIONs when the block is
// larger than the peer's SETTINGS_MAX_FRAME_SIZE) on stream id. The first
// call on a stream sends the response: fields start with :status; a 1xx
// status is informational (not 101, and end must be false) and may be
// followed by more. After the final response, a call sends trailers: no
// pseudo-header and end must be true; trailers wait behind body bytes not yet
// sent. end sets END_STREAM. fields are not retained.
//
// It returns ErrConnClosed, ErrUnknownStream, ErrStreamClosed, or an error
// wrapping ErrInvalidHeader.
func (c *Conn) WriteHeaders(now time.Time, id StreamID, fields []HeaderField, end bool) error {
	c.begin(now)
	defer c.end()
	st, err := c.commandStream(id)
	if err != nil {
		return err
	}
	trailers := st.sentFinal
	status, reason := validResponseFields(fields, trailers)
	switch {
	case reason != "":
		return fmt.Errorf("%w: %s", ErrInvalidHeader, reason)
	case trailers && !end:
		return fmt.Errorf("%w: trailers must end the stream", ErrInvalidHeader)
	case status == "101":
		// §8.6: HTTP/2 has no 101 (Switching Protocols).
		return fmt.Errorf("%w: 101 is not allowed in HTTP/2 (§8.6)", ErrInvalidHeader)
	case status != "" && status[0] == '1' && end:
		// §8.1: an informational response cannot end the stream.
		return fmt.Errorf("%w: a 1xx response cannot end the stream (§8.1)", ErrInvalidHeader)
	}
	in := inSendHeaders
	if end {
		in = inSendEnd
	}
	if streamTransitions[st.state][in].violation != violationNone || st.sendEnd || st.trailers != nil {
		return ErrStreamClosed
	}
	if trailers && len(st.sendBuf) > st.sendHead {
		st.trailers = append(st.trailers[:0], fields...)
		c.schedule(st)
		return nil
	}
	if status != "" && status[0] != '1' {
		st.sentFinal = true
	}
	c.writeHeaderBlock(id, fields, end)
	st.transition(in)
	if st.state == stateClosed {
		c.closeStream(st)
	}
	return nil
}

// WriteData queues response body on stream id and returns how many bytes of
// p it accepted: all of them unless the stream's send buffer
// (Config.StreamSendBuffer) is full, in which case an EventStreamWritable
// follows once there is room again. end sets END_STREAM after the last byte,
// and takes effect only if all of p was accepted. The bytes are framed as
// the peer's flow-control windows allow, when the driver pulls output. p is
// not retained.
//
// It returns ErrConnClosed, ErrUnknownStream, ErrStreamClosed, or
// ErrHeadersNotSent before the final response headers.
func (c *Conn) WriteData(now time.Time, id StreamID, p []byte, end bool) (int, error) {
	c.begin(now)
	defer c.end()
	st, err := c.commandStream(id)
	if err != nil {
		return 0, err
	}
	if !st.sentFinal {
		return 0, ErrHeadersNotSent
	}
	if streamTransitions[st.state][inSendData].violation != violationNone || st.sendEnd || st.trailers != nil {
		return 0, ErrStreamClosed
	}
	if st.sendHead > 0 && st.sendHead == len(st.sendBuf) {
		st.sendBuf, st.sendHead = st.sendBuf[:0], 0
	}
	buffered := len(st.sendBuf) - st.sendHead
	n := min(len(p), c.cfg.StreamSendBuffer-buffered)
	if n > 0 {
		c.setSendPending(st, true)
		if st.sendBuf == nil && c.cfg.Buffers != nil {
			st.sendBuf = c.cfg.Buffers.Get()
		}
	}
	if n > 0 && st.sendHead > 0 && len(st.sendBuf)+n > cap(st.sendBuf) {
		// Slide the unsent bytes down rather than grow the buffer.
		st.sendBuf = st.sendBuf[:copy(st.sendBuf, st.sendBuf[st.sendHead:])]
		st.sendHead = 0
	}
	st.sendBuf = append(st.sendBuf, p[:n]...)
	if n == len(p) {
		st.sendEnd = end
	} else {
		st.wantWrite = true
	}
	c.schedule(st)
	return n, nil
}

// ResetStream sends RST_STREAM with code on stream id and forgets the
// stream; body not yet sent is dropped. No event follows for it. It returns
// ErrConnClosed, ErrUnknownStream or ErrStreamClosed.
func (c *Conn) ResetStream(now time.Time, id StreamID, code ErrCode) error {
	c.begin(now)
	defer c.end()
	st, err := c.commandStream(id)
	if err != nil {
		return err
	}
	c.resetStream(id, code)
	c.closeStream(st)
	return nil
}

// commandStream finds the stream a command names.
func (c *Conn) commandStream(id StreamID) (*stream, error) {
	if c.phase == PhaseClosed {
		return nil, ErrConnClosed
	}
	if st := c.streams.get(id); st != nil {
		return st, nil
	}
	if id%2 == 1 && id <= c.streams.maxClientID {
		return nil, ErrStreamClosed
	}
	return nil, ErrUnknownStream
}

// --- (D) outputs ---

// AppendOutgoing appends the bytes to send to dst and returns the extended
// slice; the Conn keeps no reference to them. Call it when the transport can
// take more: the Conn frames response body only as output is pulled, which
// is how it applies backpressure.
func (c *Conn) AppendOutgoing(dst []byte) []byte {
	c.fillData()
	p := c.out[c.outHead:]
	dst = append(dst, p...)
	c.outHead = len(c.out)
	c.taken(len(p))
	return dst
}

// TakeOutgoing returns the bytes to send and gives the caller the buffer
// that holds them: the Conn keeps no reference to it and frames later
// output in another (one from Config.Buffers, where the caller may Put
// this one back once written). It is AppendOutgoing without the copy, for
// drivers that write from another goroutine than the one feeding the Conn.
func (c *Conn) TakeOutgoing() []byte {
	c.fillData()
	p := c.out[c.outHead:]
	if len(p) == 0 {
		c.giveBack()
		return nil
	}
	c.out, c.outHead = nil, 0
	c.taken(len(p))
	return p
}

// Outgoing returns the bytes to send without copying them; after writing
// some of them, call Advance with the count. The slice is valid until the
// next method call on the Conn.
func (c *Conn) Outgoing() []byte {
	c.fillData()
	c.giveBack()
	return c.out[c.outHead:]
}

// Advance records that the first n bytes of Outgoing were written. n larger
// than what is pending is clamped.
func (c *Conn) Advance(n int) {
	n = max(0, min(n, len(c.out)-c.outHead))
	c.outHead += n
	c.taken(n)
}

// taken accounts for n bytes the driver took.
func (c *Conn) taken(n int) {
	c.stats.BytesOut += uint64(n)
	if c.outHead == len(c.out) {
		c.out, c.outHead, c.ctrlQueued = c.out[:0], 0, 0
		if !c.hasFramable() {
			c.timers.stop(timerWriteStall)
		}
		c.giveBack()
	}
}

// pendingOut is the number of framed bytes the driver has not taken.
func (c *Conn) pendingOut() int { return len(c.out) - c.outHead }

// updateWriteStall arms the write-stall timer while output is pending, with
// the byte count at arming time, and disarms it when nothing is pending.
func (c *Conn) updateWriteStall() {
	pending := c.pendingOut() > 0 || c.hasFramable()
	switch {
	case !pending || c.phase == PhaseClosed:
		c.timers.stop(timerWriteStall)
	case !c.timers.armed(timerWriteStall):
		c.timers.setAfter(timerWriteStall, c.now, c.cfg.WriteStallTimeout)
		c.goAway.stallMark = c.stats.BytesOut
	}
}

// onWriteStall runs when the write-stall timer expires: progress since it
// was armed re-arms it; none closes the connection.
func (c *Conn) onWriteStall() {
	if c.stats.BytesOut != c.goAway.stallMark {
		c.goAway.stallMark = c.stats.BytesOut
		c.timers.setAfter(timerWriteStall, c.now, c.cfg.WriteStallTimeout)
		return
	}
	c.stats.countError("write stall")
	c.closeNow(connErr(ErrCodeNo, "write stall: output not taken in time"))
}

// hasFramable reports whether body could be framed now.
func (c *Conn) hasFramable() bool {
	return c.streams.sendHead < len(c.streams.sendQueue) && c.outflow.avail > 0
}

// --- scheduling ---

// schedule puts st in the round-robin send queue if it has something it may
// frame.
func (c *Conn) schedule(st *stream) {
	if st.inSendQueue || !st.pendingSend() || st.state == stateClosed {
		return
	}
	if len(st.sendBuf) > st.sendHead && st.outflow.avail <= 0 {
		return // waits for WINDOW_UPDATE
	}
	st.inSendQueue = true
	c.streams.sendQueue = append(c.streams.sendQueue, st)
}

// scheduleAll re-examines every stream, in stream id order (deterministic
// output), after their windows changed together.
func (c *Conn) scheduleAll() {
	ids := make([]StreamID, 0, len(c.streams.byID))
	for id := range c.streams.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.schedule(c.streams.byID[id])
	}
}

// fillData frames response body from the send queue, one frame per stream
// in turn (fair round-robin), until writeChunk bytes are pending or nothing
// more may be sent.
func (c *Conn) fillData() {
	s := &c.streams
	limit := min(writeChunk, c.cfg.OutputHighWater)
	for c.pendingOut() < limit && s.sendHead < len(s.sendQueue) {
		st := s.sendQueue[s.sendHead]
		if st.state != stateClosed && len(st.sendBuf) > st.sendHead && c.outflow.avail <= 0 {
			// The connection window is closed: body waits, but END_STREAM
			// alone and trailers need no window and must not wait behind it.
			c.frameWindowless()
			break
		}
		s.sendQueue[s.sendHead] = nil
		s.sendHead++
		c.frameDequeued(st)
	}
	if s.sendHead == len(s.sendQueue) {
		s.sendQueue, s.sendHead = s.sendQueue[:0], 0
	} else if s.sendHead > 64 && 2*s.sendHead > len(s.sendQueue) {
		n := copy(s.sendQueue, s.sendQueue[s.sendHead:])
		clear(s.sendQueue[n:])
		s.sendQueue, s.sendHead = s.sendQueue[:n], 0
	}
	c.maybeFinishDrain()
}

// frameWindowless frames, for every queued stream with no body left, its
// END_STREAM or trailers, and keeps the streams that wait for window in
// their order.
func (c *Conn) frameWindowless() {
	s := &c.streams
	kept := s.sendQueue[:s.sendHead]
	var done []*stream
	for _, st := range s.sendQueue[s.sendHead:] {
		if st.state != stateClosed && len(st.sendBuf) > st.sendHead {
			kept = append(kept, st)
			continue
		}
		done = append(done, st)
	}
	clear(s.sendQueue[len(kept):])
	s.sendQueue = kept
	for _, st := range done {
		c.frameDequeued(st)
	}
}

// frameDequeued frames what st may send now that it left the send queue:
// a closed stream is recycled; one still sending goes back in the queue.
func (c *Conn) frameDequeued(st *stream) {
	st.inSendQueue = false
	if st.state == stateClosed {
		c.streams.recycle(st, int(c.cfg.MaxConcurrentStreams))
		return
	}
	c.frameData(st)
	if st.state == stateClosed {
		c.closeStream(st)
		return
	}
	c.schedule(st)
}

// frameData frames one DATA frame (and the trailers after the last one) for st.
func (c *Conn) frameData(st *stream) {
	if buffered := len(st.sendBuf) - st.sendHead; buffered > 0 {
		if st.outflow.avail <= 0 {
			return
		}
		n := int(min(int64(buffered), st.outflow.avail, c.outflow.avail, int64(c.settings.peerMaxFrameSize)))
		last := n == buffered
		flags := uint8(0)
		if last && st.sendEnd && st.trailers == nil {
			flags = flagEndStream
		}
		c.frameHeader(n, FrameData, flags, st.id)
		c.out = append(c.out, st.sendBuf[st.sendHead:st.sendHead+n]...)
		c.stats.FramesOut[FrameData]++
		st.sendHead += n
		st.progressAt = c.now
		st.outflow.avail -= int64(n)
		c.outflow.avail -= int64(n)
		if last {
			st.sendBuf, st.sendHead = st.sendBuf[:0], 0
			c.setSendPending(st, false)
		}
		if flags != 0 {
			st.sendEnd = false
			st.transition(inSendEnd)
		}
	} else if st.sendEnd && st.trailers == nil {
		c.frameHeader(0, FrameData, flagEndStream, st.id)
		c.stats.FramesOut[FrameData]++
		st.sendEnd = false
		st.transition(inSendEnd)
	}
	if st.trailers != nil && len(st.sendBuf) == st.sendHead {
		c.writeHeaderBlock(st.id, st.trailers, true)
		st.trailers, st.sendEnd = nil, false
		st.transition(inSendEnd)
	}
	if st.wantWrite && st.state != stateClosed && 2*(len(st.sendBuf)-st.sendHead) <= c.cfg.StreamSendBuffer {
		st.wantWrite = false
		c.pushEvent(Event{Kind: EventStreamWritable, Stream: st.id})
	}
}

// closeStream forgets a stream that reached the closed state or was reset.
func (c *Conn) closeStream(st *stream) {
	if c.streams.get(st.id) != st {
		return
	}
	c.setSendPending(st, false)
	c.streams.remove(st, int(c.cfg.MaxConcurrentStreams))
	if c.streams.active == 0 {
		c.streams.trim(c.cfg.Buffers)
		if c.phase == PhaseOpen {
			c.timers.setAfter(timerIdle, c.now, c.cfg.IdleTimeout)
		}
	}
}

// --- frame writers ---

// controlFrame counts a control frame the peer can provoke; too many queued
// while the driver takes no output is a flood (CVE-2019-9512, -9514, -9515).
//
// The frame that would pass the bound is not queued and not counted, so
// Stats().QueuedControlFrames never exceeds MaxQueuedControlFrames
// (research/attacks.md §3.1: "queued control frames ≤ L, then a Close").
func (c *Conn) controlFrame() bool {
	if c.ctrlQueued >= c.cfg.MaxQueuedControlFrames {
		c.connError(connErr(ErrCodeEnhanceYourCalm, "too many queued control frames"))
		return false
	}
	c.ctrlQueued++
	return true
}

func (c *Conn) writeWindowUpdate(id StreamID, incr uint32) {
	if c.phase == PhaseClosed || !c.controlFrame() {
		return
	}
	c.frameHeader(4, FrameWindowUpdate, 0, id)
	c.out = appendUint32(c.out, incr)
	c.stats.FramesOut[FrameWindowUpdate]++
}

func (c *Conn) writeRSTStream(id StreamID, code ErrCode) {
	if c.phase == PhaseClosed || !c.controlFrame() {
		return
	}
	c.frameHeader(4, FrameRSTStream, 0, id)
	c.out = appendUint32(c.out, uint32(code))
	c.stats.FramesOut[FrameRSTStream]++
}

func (c *Conn) writePing(ack bool, data []byte) {
	flags := uint8(0)
	if ack {
		flags = flagAck
		if !c.controlFrame() {
			return
		}
	}
	c.frameHeader(8, FramePing, flags, 0)
	c.out = append(c.out, data[:8]...)
	c.stats.FramesOut[FramePing]++
}

// writeHeaderBlock encodes fields and frames them as HEADERS plus
// CONTINUATIONs no larger than the peer's SETTINGS_MAX_FRAME_SIZE.
// Encoding happens here, at the moment the frames are queued, so the
// encoder's dynamic table follows the order the peer decodes in (§4.3).
func (c *Conn) writeHeaderBlock(id StreamID, fields []HeaderField, end bool) {
	if c.encBuf == nil && c.cfg.Buffers != nil {
		c.encBuf = c.cfg.Buffers.Get()
	}
	c.encBuf = c.encBuf[:0]
	if s := &c.settings; s.tableChanged {
		v := min(s.tableMin, c.cfg.MaxEncoderTableSize)
		if v != c.encoder().MaxDynamicTableSize() {
			c.enc.SetMaxDynamicTableSize(v)
		}
		// The final size, if larger, is signalled at the next block.
		final := min(s.peerHeaderTable, c.cfg.MaxEncoderTableSize)
		s.tableMin, s.tableChanged = s.peerHeaderTable, final != v
	}
	for _, f := range fields {
		_ = c.encoder().WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive})
	}
	block := []byte(c.encBuf)
	typ, flags := FrameHeaders, uint8(0)
	if end {
		flags = flagEndStream
	}
	for {
		n := min(len(block), int(c.settings.peerMaxFrameSize))
		f := flags
		if n == len(block) {
			f |= flagEndHeaders
		}
		c.frameHeader(n, typ, f, id)
		c.out = append(c.out, block[:n]...)
		c.stats.FramesOut[typ]++
		block = block[n:]
		if len(block) == 0 {
			break
		}
		typ, flags = FrameContinuation, 0
	}
	if c.cfg.Buffers != nil {
		c.cfg.Buffers.Put(c.encBuf[:0])
		c.encBuf = nil
	}
}

// writeStatusOnly answers a request the application never sees with a bare
// status (431 for an oversized header list), and asks the client to stop
// sending with RST_STREAM NO_ERROR if it had not finished (§8.1).
func (c *Conn) writeStatusOnly(id StreamID, status string, endStream bool) {
	c.writeHeaderBlock(id, []HeaderField{{Name: ":status", Value: status}}, true)
	if !endStream {
		c.resetStream(id, ErrCodeNo)
	}
}
