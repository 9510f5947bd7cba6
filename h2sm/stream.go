package h2sm

// stream is the state of one stream the Conn tracks: from the request's
// HEADERS until both sides are done with it. Closed streams are not kept
// (streamsState derives "closed" from the stream id).
type stream struct {
	id    StreamID
	state streamState

	// Receive side.
	inflow        inflow // stream receive window
	contentLength int64  // declared content-length, -1 if none (RFC 9113 §8.1.1)
	recvBody      int64  // DATA payload bytes received
	delivered     bool   // EventRequest was queued: the application knows the stream

	// Send side.
	outflow     outflow // stream send window; may go negative (§6.9.2)
	sendBuf     []byte  // response body accepted by WriteData; sendBuf[sendHead:] is not yet framed
	sendHead    int
	sendEnd     bool // END_STREAM goes on the last byte of sendBuf
	trailers    []HeaderField
	sentFinal   bool    // final (non-1xx) response headers sent
	wantWrite   bool    // WriteData accepted less than offered: emit EventStreamWritable
	progressAt  instant // when the send side last made progress (stall timer)
	sendPending bool    // sendBuf holds unframed body (counted in streamsState.sendPending)
	inSendQueue bool
}

// transition applies input in to the stream's state. It returns the
// violation, if any; the state changes only when there is none.
func (st *stream) transition(in streamInput) transition {
	t := streamTransitions[st.state][in]
	if t.violation == violationNone {
		st.state = t.next
	}
	return t
}

// pendingSend reports whether the stream has something to frame.
func (st *stream) pendingSend() bool {
	return len(st.sendBuf) > st.sendHead || st.sendEnd || st.trailers != nil
}

// idWindow is how many of the latest stream ids the connection remembers
// facts about (whether a stream was opened, whether we reset it): O(1)
// memory, two bits per odd id, instead of an entry per stream ever opened.
const idWindow = 1024

// idMarks remembers, for each client stream id in the window below the
// highest one, which of two facts hold: the stream was opened (it existed,
// so a late frame on it is STREAM_CLOSED rather than an unexpected id), and
// we reset it (frames the client sent before it saw our RST_STREAM must be
// ignored: RFC 9113 §5.1, "An endpoint MUST minimally process and then
// discard any frames it receives in this state").
type idMarks struct {
	opened, reset, peerReset [idWindow / 2 / 64]uint64
}

func markSlot(id StreamID) (word int, bit uint64) {
	i := (id >> 1) % (idWindow / 2)
	return int(i / 64), 1 << (i % 64)
}

// advance clears the slots of the ids in (from, to], which now belong to
// newer streams.
func (m *idMarks) advance(from, to StreamID) {
	if to-from >= idWindow {
		*m = idMarks{}
		return
	}
	for id := from + 1; id <= to; id++ {
		if id%2 == 1 {
			w, b := markSlot(id)
			m.opened[w] &^= b
			m.reset[w] &^= b
			m.peerReset[w] &^= b
		}
	}
}

// streamsState tracks the open streams.
type streamsState struct {
	byID        map[StreamID]*stream
	active      int       // len(byID)
	maxClientID StreamID  // highest stream id the client has opened (§5.1.1)
	marks       *idMarks  // facts about the latest idWindow stream ids; nil before the first
	free        []*stream // closed stream structs kept for reuse
	sendPending int       // streams whose sendBuf holds unframed body
	sendQueue   []*stream // streams with data to frame and window to frame it, round-robin
	sendHead    int
}

// init prepares an empty table; the map and the id marks are made when the
// first stream opens, so a connection that never carried a request holds
// neither.
func (s *streamsState) init() {}

func (s *streamsState) get(id StreamID) *stream { return s.byID[id] }

// add creates the stream id in state open.
func (s *streamsState) add(id StreamID) *stream {
	var st *stream
	if n := len(s.free); n > 0 {
		st = s.free[n-1]
		s.free = s.free[:n-1]
		*st = stream{sendBuf: st.sendBuf[:0]}
	} else {
		st = &stream{}
	}
	st.id = id
	st.contentLength = -1
	if s.byID == nil {
		s.byID = make(map[StreamID]*stream)
	}
	s.byID[id] = st
	s.active++
	return st
}

// remove forgets a closed stream and keeps its struct for reuse.
func (s *streamsState) remove(st *stream, maxFree int) {
	delete(s.byID, st.id)
	s.active--
	st.state = stateClosed
	if st.inSendQueue {
		return // dequeued (and recycled) by the scheduler
	}
	s.recycle(st, maxFree)
}

func (s *streamsState) recycle(st *stream, maxFree int) {
	if len(s.free) >= maxFree {
		return
	}
	st.trailers = nil
	s.free = append(s.free, st)
}

// trim drops the large send buffers of recycled streams, so that a
// connection with no open stream holds little memory; with a pool, every
// one goes back to it.
func (s *streamsState) trim(pool BufferPool) {
	for _, st := range s.free {
		switch {
		case pool != nil && st.sendBuf != nil:
			pool.Put(st.sendBuf[:0])
			st.sendBuf = nil
		case cap(st.sendBuf) > smallSendBuf:
			st.sendBuf = nil
		}
	}
}

// smallSendBuf is the largest send buffer an idle connection keeps.
const smallSendBuf = 4096

// open records a new highest client stream id.
func (s *streamsState) open(id StreamID) {
	if s.marks == nil {
		s.marks = new(idMarks)
	}
	s.marks.advance(s.maxClientID, id)
	s.maxClientID = id
	w, b := markSlot(id)
	s.marks.opened[w] |= b
}

// inWindow reports whether id is among the latest idWindow ids.
func (s *streamsState) inWindow(id StreamID) bool {
	return s.marks != nil && id <= s.maxClientID && s.maxClientID-id < idWindow
}

// markReset records that we reset stream id.
func (s *streamsState) markReset(id StreamID) {
	if s.inWindow(id) {
		w, b := markSlot(id)
		s.marks.reset[w] |= b
	}
}

// wasReset reports whether we reset stream id recently.
func (s *streamsState) wasReset(id StreamID) bool {
	w, b := markSlot(id)
	return s.inWindow(id) && s.marks.reset[w]&b != 0
}

// markPeerReset records that the client reset stream id.
func (s *streamsState) markPeerReset(id StreamID) {
	if s.inWindow(id) {
		w, b := markSlot(id)
		s.marks.peerReset[w] |= b
	}
}

// wasPeerReset reports whether the client reset stream id recently.
func (s *streamsState) wasPeerReset(id StreamID) bool {
	w, b := markSlot(id)
	return s.inWindow(id) && s.marks.peerReset[w]&b != 0
}

// wasOpened reports whether stream id was opened recently (and is closed
// now, if it is not tracked).
func (s *streamsState) wasOpened(id StreamID) bool {
	w, b := markSlot(id)
	return s.inWindow(id) && s.marks.opened[w]&b != 0
}
