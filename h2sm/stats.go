package h2sm

// Stats are a connection's counters (since NewConn) and gauges (now).
type Stats struct {
	FramesIn        [numFrameTypes]uint64 // received, indexed by FrameType
	FramesInUnknown uint64                // received frames of unknown type
	FramesOut       [numFrameTypes]uint64 // queued for sending, indexed by FrameType
	BytesIn         uint64                // consumed by Receive, preface included
	BytesOut        uint64                // taken by the driver

	StreamsOpened      uint64 // requests delivered
	StreamsRefused     uint64 // refused over MaxConcurrentStreams
	StreamsResetRemote uint64 // RST_STREAM received on an open stream
	StreamsResetLocal  uint64 // RST_STREAM sent
	StreamErrors       uint64 // stream errors detected here
	ConnErrors         uint64 // connection errors detected here

	// Errors counts errors and closes by reason (a stable string naming the
	// rule, as in ConnError.Reason). At most maxErrorReasons distinct reasons
	// are kept; the rest count under "other".
	Errors map[string]uint64

	ActiveStreams       int // streams open or half-closed
	QueuedEvents        int // events not yet returned by NextEvent
	QueuedEventBytes    int // request body held in queued events
	QueuedOutput        int // framed bytes not yet taken by the driver
	QueuedControlFrames int // control frames among them
	BufferedSendBytes   int // response body accepted by WriteData, not yet framed
	HeaderBlockBytes    int // encoded bytes of the header block being received
}

const maxErrorReasons = 64

// counters are the Stats a Conn keeps; the gauges are computed by Stats,
// so an idle connection does not carry them.
type counters struct {
	FramesIn           [numFrameTypes]uint64
	FramesInUnknown    uint64
	FramesOut          [numFrameTypes]uint64
	BytesIn, BytesOut  uint64
	StreamsOpened      uint64
	StreamsRefused     uint64
	StreamsResetRemote uint64
	StreamsResetLocal  uint64
	StreamErrors       uint64
	ConnErrors         uint64
	Errors             map[string]uint64
}

func (s *counters) countError(reason string) {
	if s.Errors == nil {
		s.Errors = make(map[string]uint64)
	}
	if _, ok := s.Errors[reason]; !ok && len(s.Errors) >= maxErrorReasons {
		reason = "other"
	}
	s.Errors[reason]++
}

func (s *counters) countFrameIn(t FrameType) {
	if t < numFrameTypes {
		s.FramesIn[t]++
	} else {
		s.FramesInUnknown++
	}
}

// Stats returns the connection's counters and gauges. The Errors map is a copy.
func (c *Conn) Stats() Stats {
	k := &c.stats
	s := Stats{
		FramesIn: k.FramesIn, FramesInUnknown: k.FramesInUnknown, FramesOut: k.FramesOut,
		BytesIn: k.BytesIn, BytesOut: k.BytesOut,
		StreamsOpened: k.StreamsOpened, StreamsRefused: k.StreamsRefused,
		StreamsResetRemote: k.StreamsResetRemote, StreamsResetLocal: k.StreamsResetLocal,
		StreamErrors: k.StreamErrors, ConnErrors: k.ConnErrors,
	}
	if c.stats.Errors != nil {
		s.Errors = make(map[string]uint64, len(c.stats.Errors))
		for k, v := range c.stats.Errors {
			s.Errors[k] = v
		}
	}
	s.ActiveStreams = c.streams.active
	s.QueuedEvents = c.queuedEvents()
	s.QueuedEventBytes = len(c.dataArena)
	s.QueuedOutput = c.pendingOut()
	s.QueuedControlFrames = c.ctrlQueued
	for _, st := range c.streams.byID {
		s.BufferedSendBytes += len(st.sendBuf) - st.sendHead
	}
	if c.inBlock() {
		s.HeaderBlockBytes = c.hb.encoded
	}
	return s
}
