package h2sm

import (
	"errors"
	"fmt"
)

// ErrCode is an RFC 9113 §7 error code. It does not implement error:
// whether it was sent or received is carried by ConnError and StreamError.
type ErrCode uint32

// The error codes of RFC 9113 §7.
const (
	ErrCodeNo                 ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

var errCodeNames = [...]string{
	ErrCodeNo:                 "NO_ERROR",
	ErrCodeProtocol:           "PROTOCOL_ERROR",
	ErrCodeInternal:           "INTERNAL_ERROR",
	ErrCodeFlowControl:        "FLOW_CONTROL_ERROR",
	ErrCodeSettingsTimeout:    "SETTINGS_TIMEOUT",
	ErrCodeStreamClosed:       "STREAM_CLOSED",
	ErrCodeFrameSize:          "FRAME_SIZE_ERROR",
	ErrCodeRefusedStream:      "REFUSED_STREAM",
	ErrCodeCancel:             "CANCEL",
	ErrCodeCompression:        "COMPRESSION_ERROR",
	ErrCodeConnect:            "CONNECT_ERROR",
	ErrCodeEnhanceYourCalm:    "ENHANCE_YOUR_CALM",
	ErrCodeInadequateSecurity: "INADEQUATE_SECURITY",
	ErrCodeHTTP11Required:     "HTTP_1_1_REQUIRED",
}

// String returns the RFC name of the code ("PROTOCOL_ERROR"), or
// "ErrCode(0x1f)" for a code the RFC does not define.
func (e ErrCode) String() string {
	if int(e) < len(errCodeNames) {
		return errCodeNames[e]
	}
	return fmt.Sprintf("ErrCode(%#x)", uint32(e))
}

// A ConnError is a connection error (RFC 9113 §5.4.1). It is carried by the
// ConnClosed and GoAwayReceived events; Receive never returns it.
type ConnError struct {
	Code   ErrCode
	Reason string // why; always set when detected locally, the debug data when Remote
	Remote bool   // received in the peer's GOAWAY
}

// Error implements error.
func (e *ConnError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	if e.Reason == "" {
		return fmt.Sprintf("h2sm: %s connection error %v", side, e.Code)
	}
	return fmt.Sprintf("h2sm: %s connection error %v: %s", side, e.Code, e.Reason)
}

// Is reports whether target is a *ConnError with the same Code, so that
// errors.Is(err, &ConnError{Code: ErrCodeProtocol}) matches any protocol
// connection error.
func (e *ConnError) Is(target error) bool {
	t, ok := target.(*ConnError)
	return ok && t.Code == e.Code
}

// A StreamError is a stream error (RFC 9113 §5.4.2). It is carried by the
// StreamReset event.
type StreamError struct {
	Stream StreamID
	Code   ErrCode
	Reason string
	Remote bool // received in the peer's RST_STREAM
}

// Error implements error.
func (e *StreamError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	if e.Reason == "" {
		return fmt.Sprintf("h2sm: %s stream error on stream %d: %v", side, e.Stream, e.Code)
	}
	return fmt.Sprintf("h2sm: %s stream error on stream %d: %v: %s", side, e.Stream, e.Code, e.Reason)
}

// Is reports whether target is a *StreamError with the same Code.
func (e *StreamError) Is(target error) bool {
	t, ok := target.(*StreamError)
	return ok && t.Code == e.Code
}

// Errors returned by commands (C) for caller misuse. Check them with errors.Is;
// some are wrapped with detail.
var (
	// ErrConnClosed: the connection is closed, or going away and the
	// command would start something new.
	ErrConnClosed = errors.New("h2sm: connection closed")
	// ErrStreamClosed: the stream existed but is closed for this command
	// (reset, or its sending side already ended).
	ErrStreamClosed = errors.New("h2sm: stream closed")
	// ErrUnknownStream: no request ever arrived on this stream id.
	ErrUnknownStream = errors.New("h2sm: unknown stream")
	// ErrInvalidHeader: a response header field is not allowed (RFC 9113 §8.2, §8.3.2).
	ErrInvalidHeader = errors.New("h2sm: invalid response header")
	// ErrHeadersNotSent: data or trailers before the final response headers.
	ErrHeadersNotSent = errors.New("h2sm: response headers not sent")
	// ErrInvalidConfig: NewConn was given a Config value outside what the RFC allows.
	ErrInvalidConfig = errors.New("h2sm: invalid config")
)

// connErrorf builds a locally detected connection error.
func connErrorf(code ErrCode, format string, args ...any) *ConnError {
	return &ConnError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// connErr builds a locally detected connection error with a constant reason
// (no formatting cost on paths that an attacker can drive at high rate).
func connErr(code ErrCode, reason string) *ConnError {
	return &ConnError{Code: code, Reason: reason}
}

// streamErr builds a locally detected stream error.
func streamErr(id StreamID, code ErrCode, reason string) *StreamError {
	return &StreamError{Stream: id, Code: code, Reason: reason}
}
