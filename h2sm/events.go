package h2sm

import "strconv"

// StreamID is an HTTP/2 stream identifier (RFC 9113 §5.1.1). Streams opened
// by a client are odd.
type StreamID uint32

// HeaderField is one decoded or to-be-encoded header field. Sensitive asks
// the encoder never to index the field (RFC 7541 §7.1.3).
type HeaderField struct {
	Name, Value string
	Sensitive   bool
}

// EventKind says which of Event's fields are set.
type EventKind uint8

// The kinds of event. Adding a kind is a compatible change; adapters must
// handle unknown kinds in a default branch.
const (
	// EventRequest: a complete request header block on a new stream. Stream,
	// Method, Scheme, Authority, Path, Protocol, Fields, ContentLength and
	// EndStream are set.
	EventRequest EventKind = iota + 1
	// EventData: request body bytes. Stream, Data and EndStream are set. In
	// manual flow-control mode return the credit with Consumed(Stream, len(Data)).
	EventData
	// EventTrailers: the request's trailer block (always with EndStream).
	// Stream and Fields are set.
	EventTrailers
	// EventStreamReset: a stream the application knows ended abnormally, by the
	// peer's RST_STREAM (Err.Remote) or by a stream error this side detected.
	// Stream and Err (a *StreamError) are set. No further event names the stream.
	EventStreamReset
	// EventStreamWritable: a stream whose WriteData accepted less than it was
	// offered has room again. Stream is set.
	EventStreamWritable
	// EventGoAwayReceived: the peer sent GOAWAY. Err (a *ConnError with Remote
	// set) and Stream (the peer's last stream id) are set. Open streams go on.
	EventGoAwayReceived
	// EventConnClosed: the connection is closed; always the last event. Err is
	// nil for a graceful close, a *ConnError for a protocol or timer close, or
	// the error given to Abort.
	EventConnClosed
)

var eventKindNames = [...]string{
	EventRequest:        "Request",
	EventData:           "Data",
	EventTrailers:       "Trailers",
	EventStreamReset:    "StreamReset",
	EventStreamWritable: "StreamWritable",
	EventGoAwayReceived: "GoAwayReceived",
	EventConnClosed:     "ConnClosed",
}

// String returns the kind's name, as in "Request".
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing the application must know about, returned by NextEvent.
// Kind says which fields are set; the others are zero. Event is a plain
// struct rather than an interface so that delivering one allocates nothing
// (docs/decisions.md). Slices and strings inside an Event are valid until the
// next method call on the Conn; copy what must outlive it.
type Event struct {
	Kind   EventKind
	Stream StreamID

	// EndStream: the peer will send nothing more on the stream (EventRequest,
	// EventData, EventTrailers).
	EndStream bool

	// Request pseudo-header fields (EventRequest). Authority falls back to the
	// Host field when :authority is absent. Protocol is the RFC 8441
	// :protocol, set only when EnableConnectProtocol is on.
	Method, Scheme, Authority, Path, Protocol string

	// Fields are the regular (non-pseudo) header fields in received order
	// (EventRequest, EventTrailers).
	Fields []HeaderField

	// ContentLength is the request's content-length, or -1 if absent (EventRequest).
	ContentLength int64

	// Data is request body (EventData).
	Data []byte

	// Err is the reason (EventStreamReset, EventGoAwayReceived, EventConnClosed).
	Err error
}
