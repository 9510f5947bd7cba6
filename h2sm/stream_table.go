package h2sm

// streamState is a stream's state (RFC 9113 §5.1). A server that never
// pushes never enters "reserved (local)" or "reserved (remote)", so they are
// not modelled.
type streamState uint8

const (
	stateIdle streamState = iota
	stateOpen
	stateHalfClosedRemote // the client sent END_STREAM
	stateHalfClosedLocal  // we sent END_STREAM
	stateClosed
	numStreamStates
)

var streamStateNames = [numStreamStates]string{"idle", "open", "half-closed (remote)", "half-closed (local)", "closed"}

func (s streamState) String() string { return streamStateNames[s] }

// streamInput is what happens to a stream: a frame received or sent.
type streamInput uint8

const (
	inRecvHeaders   streamInput = iota // HEADERS without END_STREAM
	inRecvHeadersES                    // HEADERS with END_STREAM
	inRecvData                         // DATA without END_STREAM
	inRecvDataES                       // DATA with END_STREAM
	inRecvRST
	inRecvWindowUpdate
	inRecvPriority
	inSendHeaders // HEADERS without END_STREAM
	inSendData    // DATA without END_STREAM
	inSendEnd     // HEADERS or DATA with END_STREAM
	inSendRST
	numStreamInputs
)

var streamInputNames = [numStreamInputs]string{
	"recv HEADERS", "recv HEADERS+ES", "recv DATA", "recv DATA+ES", "recv RST_STREAM",
	"recv WINDOW_UPDATE", "recv PRIORITY", "send HEADERS", "send DATA", "send END_STREAM", "send RST_STREAM",
}

func (in streamInput) String() string { return streamInputNames[in] }

// violationKind classifies an input a state does not allow.
type violationKind uint8

const (
	violationNone   violationKind = iota
	violationStream               // stream error with the transition's code
	violationConn                 // connection error with the transition's code
	violationLocal                // the application's command is not allowed (ErrStreamClosed)
)

var violationNames = [...]string{"-", "stream error", "connection error", "caller error"}

// transition is one cell of the table: the next state, or a violation and
// the error code it carries. On a violation the state does not change; the
// caller resets or closes.
type transition struct {
	next      streamState
	violation violationKind
	code      ErrCode
}

func ok(s streamState) transition { return transition{next: s} }
func strErr(s streamState, c ErrCode) transition {
	return transition{next: s, violation: violationStream, code: c}
}
func conErr(s streamState, c ErrCode) transition {
	return transition{next: s, violation: violationConn, code: c}
}
func local(s streamState) transition { return transition{next: s, violation: violationLocal} }

// streamTransitions is RFC 9113 §5.1 for a server that never pushes.
//
// Frames on streams that are closed and no longer tracked are classified by
// the connection (they may be in the recently-reset window, §5.1 "closed");
// the closed row here is what applies to a tracked closed stream.
var streamTransitions = [numStreamStates][numStreamInputs]transition{
	stateIdle: {
		// §5.1 idle: "Receiving any frame other than HEADERS or PRIORITY on a
		// stream in this state MUST be treated as a connection error of type
		// PROTOCOL_ERROR."
		inRecvHeaders:      ok(stateOpen),
		inRecvHeadersES:    ok(stateHalfClosedRemote),
		inRecvData:         conErr(stateIdle, ErrCodeProtocol),
		inRecvDataES:       conErr(stateIdle, ErrCodeProtocol),
		inRecvRST:          conErr(stateIdle, ErrCodeProtocol),
		inRecvWindowUpdate: conErr(stateIdle, ErrCodeProtocol),
		inRecvPriority:     ok(stateIdle),
		inSendHeaders:      local(stateIdle),
		inSendData:         local(stateIdle),
		inSendEnd:          local(stateIdle),
		inSendRST:          local(stateIdle),
	},
	stateOpen: {
		// §8.1: a second HEADERS without END_STREAM is not trailers: malformed.
		inRecvHeaders:      strErr(stateOpen, ErrCodeProtocol),
		inRecvHeadersES:    ok(stateHalfClosedRemote),
		inRecvData:         ok(stateOpen),
		inRecvDataES:       ok(stateHalfClosedRemote),
		inRecvRST:          ok(stateClosed),
		inRecvWindowUpdate: ok(stateOpen),
		inRecvPriority:     ok(stateOpen),
		inSendHeaders:      ok(stateOpen),
		inSendData:         ok(stateOpen),
		inSendEnd:          ok(stateHalfClosedLocal),
		inSendRST:          ok(stateClosed),
	},
	stateHalfClosedRemote: {
		// §5.1 half-closed (remote): "If an endpoint receives additional frames,
		// other than WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is
		// in this state, it MUST respond with a stream error of type STREAM_CLOSED."
		inRecvHeaders:      strErr(stateHalfClosedRemote, ErrCodeStreamClosed),
		inRecvHeadersES:    strErr(stateHalfClosedRemote, ErrCodeStreamClosed),
		inRecvData:         strErr(stateHalfClosedRemote, ErrCodeStreamClosed),
		inRecvDataES:       strErr(stateHalfClosedRemote, ErrCodeStreamClosed),
		inRecvRST:          ok(stateClosed),
		inRecvWindowUpdate: ok(stateHalfClosedRemote),
		inRecvPriority:     ok(stateHalfClosedRemote),
		inSendHeaders:      ok(stateHalfClosedRemote),
		inSendData:         ok(stateHalfClosedRemote),
		inSendEnd:          ok(stateClosed),
		inSendRST:          ok(stateClosed),
	},
	stateHalfClosedLocal: {
		// §5.1 half-closed (local): the peer may go on sending; we may not.
		inRecvHeaders:      strErr(stateHalfClosedLocal, ErrCodeProtocol),
		inRecvHeadersES:    ok(stateClosed),
		inRecvData:         ok(stateHalfClosedLocal),
		inRecvDataES:       ok(stateClosed),
		inRecvRST:          ok(stateClosed),
		inRecvWindowUpdate: ok(stateHalfClosedLocal),
		inRecvPriority:     ok(stateHalfClosedLocal),
		inSendHeaders:      local(stateHalfClosedLocal),
		inSendData:         local(stateHalfClosedLocal),
		inSendEnd:          local(stateHalfClosedLocal),
		inSendRST:          ok(stateClosed),
	},
	stateClosed: {
		// §5.1 closed: "An endpoint that receives any frame other than PRIORITY
		// after receiving a RST_STREAM MUST treat that as a stream error of type
		// STREAM_CLOSED." WINDOW_UPDATE and RST_STREAM may still arrive for a
		// short period after we ended the stream, and are ignored.
		inRecvHeaders:      strErr(stateClosed, ErrCodeStreamClosed),
		inRecvHeadersES:    strErr(stateClosed, ErrCodeStreamClosed),
		inRecvData:         strErr(stateClosed, ErrCodeStreamClosed),
		inRecvDataES:       strErr(stateClosed, ErrCodeStreamClosed),
		inRecvRST:          ok(stateClosed),
		inRecvWindowUpdate: ok(stateClosed),
		inRecvPriority:     ok(stateClosed),
		inSendHeaders:      local(stateClosed),
		inSendData:         local(stateClosed),
		inSendEnd:          local(stateClosed),
		inSendRST:          ok(stateClosed),
	},
}
