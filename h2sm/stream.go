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
	sentFinal   bool // final (non-1xx) response headers sent
	wantWrite   bool // WriteData accepted less than offered: emit EventStreamWritable
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

// recentResets remembers the last streams this side reset, so that frames
// the peer sent before it saw our RST_STREAM are ignored, as RFC 9113 §5.1
// requires ("An endpoint MUST ignore frames that it receives on closed
// streams after it has sent a RST_STREAM frame"), for a bounded number of
// streams rather than a time.
type recentResets struct {
	ids  [32]StreamID
	next int
}

func (r *recentResets) add(id StreamID) {
	r.ids[r.next] = id
	r.next = (r.next + 1) % len(r.ids)
}

func (r *recentResets) has(id StreamID) bool {
	for _, v := range r.ids {
		if v == id {
			return true
		}
	}
	return false
}

// streamsState tracks the open streams.
type streamsState struct {
	byID        map[StreamID]*stream
	active      int      // len(byID)
	maxClientID StreamID // highest stream id the client has opened (§5.1.1)
	reset       recentResets
	free        []*stream // closed stream structs kept for reuse
	sendQueue   []*stream // streams with data to frame and window to frame it, round-robin
	sendHead    int
}

func (s *streamsState) init() {
	s.byID = make(map[StreamID]*stream)
}

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
// connection with no open stream holds little memory.
func (s *streamsState) trim() {
	for _, st := range s.free {
		if cap(st.sendBuf) > smallSendBuf {
			st.sendBuf = nil
		}
	}
}

// smallSendBuf is the largest send buffer an idle connection keeps.
const smallSendBuf = 4096

// closedID reports whether id names a stream the client opened that is no
// longer tracked.
func (s *streamsState) closedID(id StreamID) bool {
	return id <= s.maxClientID && s.byID[id] == nil
}
