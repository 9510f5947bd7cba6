package h2sm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
)

func TestErrCodeString(t *testing.T) {
	tests := []struct {
		code ErrCode
		want string
	}{
		{ErrCodeNo, "NO_ERROR"},
		{ErrCodeProtocol, "PROTOCOL_ERROR"},
		{ErrCodeInternal, "INTERNAL_ERROR"},
		{ErrCodeFlowControl, "FLOW_CONTROL_ERROR"},
		{ErrCodeSettingsTimeout, "SETTINGS_TIMEOUT"},
		{ErrCodeStreamClosed, "STREAM_CLOSED"},
		{ErrCodeFrameSize, "FRAME_SIZE_ERROR"},
		{ErrCodeRefusedStream, "REFUSED_STREAM"},
		{ErrCodeCancel, "CANCEL"},
		{ErrCodeCompression, "COMPRESSION_ERROR"},
		{ErrCodeConnect, "CONNECT_ERROR"},
		{ErrCodeEnhanceYourCalm, "ENHANCE_YOUR_CALM"},
		{ErrCodeInadequateSecurity, "INADEQUATE_SECURITY"},
		{ErrCodeHTTP11Required, "HTTP_1_1_REQUIRED"},
		{0xe, "ErrCode(0xe)"},
		{0x1f, "ErrCode(0x1f)"},
		{0xffffffff, "ErrCode(0xffffffff)"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("ErrCode(%d).String() = %q, want %q", uint32(tt.code), got, tt.want)
		}
	}
}

func TestConnErrorError(t *testing.T) {
	tests := []struct {
		err  *ConnError
		want string
	}{
		{&ConnError{Code: ErrCodeProtocol, Reason: "DATA on stream 0 (§6.1)"}, "h2sm: local connection error PROTOCOL_ERROR: DATA on stream 0 (§6.1)"},
		{&ConnError{Code: ErrCodeEnhanceYourCalm, Reason: "calm down", Remote: true}, "h2sm: remote connection error ENHANCE_YOUR_CALM: calm down"},
		{&ConnError{Code: ErrCodeNo, Remote: true}, "h2sm: remote connection error NO_ERROR"},
		{&ConnError{Code: 0x1f}, "h2sm: local connection error ErrCode(0x1f)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("(%+v).Error() = %q, want %q", *tt.err, got, tt.want)
		}
	}
}

func TestStreamErrorError(t *testing.T) {
	tests := []struct {
		err  *StreamError
		want string
	}{
		{&StreamError{Stream: 3, Code: ErrCodeProtocol, Reason: "bad"}, "h2sm: local stream error on stream 3: PROTOCOL_ERROR: bad"},
		{&StreamError{Stream: 5, Code: ErrCodeCancel, Remote: true}, "h2sm: remote stream error on stream 5: CANCEL"},
		{&StreamError{Stream: 1<<31 - 1, Code: 0x42}, "h2sm: local stream error on stream 2147483647: ErrCode(0x42)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("(%+v).Error() = %q, want %q", *tt.err, got, tt.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	proto := &ConnError{Code: ErrCodeProtocol, Reason: "x"}
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"ConnError same code", proto, &ConnError{Code: ErrCodeProtocol}, true},
		{"ConnError same code, other side and reason", proto, &ConnError{Code: ErrCodeProtocol, Reason: "y", Remote: true}, true},
		{"ConnError other code", proto, &ConnError{Code: ErrCodeFlowControl}, false},
		{"ConnError wrapped", fmt.Errorf("netconn: serve: %w", proto), &ConnError{Code: ErrCodeProtocol}, true},
		{"ConnError vs StreamError", proto, &StreamError{Code: ErrCodeProtocol}, false},
		{"ConnError vs sentinel", proto, ErrConnClosed, false},
		{"ConnError vs nil", proto, nil, false},
		{"StreamError same code", &StreamError{Stream: 1, Code: ErrCodeCancel}, &StreamError{Code: ErrCodeCancel}, true},
		{"StreamError same code, other stream", &StreamError{Stream: 1, Code: ErrCodeCancel}, &StreamError{Stream: 3, Code: ErrCodeCancel}, true},
		{"StreamError other code", &StreamError{Stream: 1, Code: ErrCodeCancel}, &StreamError{Code: ErrCodeRefusedStream}, false},
		{"StreamError vs ConnError", &StreamError{Code: ErrCodeCancel}, &ConnError{Code: ErrCodeCancel}, false},
		{"StreamError wrapped", fmt.Errorf("x: %w", &StreamError{Code: ErrCodeRefusedStream}), &StreamError{Code: ErrCodeRefusedStream}, true},
		{"sentinel wrapped", fmt.Errorf("%w: detail", ErrInvalidHeader), ErrInvalidHeader, true},
		{"sentinels differ", ErrStreamClosed, ErrConnClosed, false},
	}
	for _, tt := range tests {
		if got := errors.Is(tt.err, tt.target); got != tt.want {
			t.Errorf("%s: errors.Is(%v, %v) = %v, want %v", tt.name, tt.err, tt.target, got, tt.want)
		}
	}
	// errors.As finds the typed error through wrapping.
	var ce *ConnError
	if !errors.As(fmt.Errorf("w: %w", proto), &ce) || ce != proto {
		t.Errorf("errors.As(wrapped ConnError) = %v", ce)
	}
}

// TestErrorStrings: STYLE.md §4, error strings start with "h2sm: ", are
// lowercase and have no final punctuation.
func TestErrorStrings(t *testing.T) {
	errs := []error{ErrConnClosed, ErrStreamClosed, ErrUnknownStream, ErrInvalidHeader, ErrHeadersNotSent, ErrInvalidConfig,
		&ConnError{Code: ErrCodeProtocol, Reason: "r"}, &StreamError{Code: ErrCodeCancel},
		&frameParseError{ErrCodeFrameSize, "PING length != 8"},
		connErrorf(ErrCodeInternal, "%d things", 3), connErr(ErrCodeNo, "bye"), streamErr(1, ErrCodeCancel, "gone")}
	seen := map[string]bool{}
	for _, err := range errs {
		s := err.Error()
		rest, ok := strings.CutPrefix(s, "h2sm: ")
		if !ok || rest == "" {
			t.Errorf("%q does not start with \"h2sm: \"", s)
			continue
		}
		if r := []rune(rest)[0]; unicode.IsUpper(r) && !strings.HasPrefix(rest, strings.ToUpper(strings.Fields(rest)[0])) {
			t.Errorf("%q starts with a capital", s)
		}
		if strings.ContainsAny(s[len(s)-1:], ".!?:") {
			t.Errorf("%q ends with punctuation", s)
		}
		if seen[s] {
			t.Errorf("%q is not distinct", s)
		}
		seen[s] = true
	}
}

func TestErrorBuilders(t *testing.T) {
	if got, want := *connErrorf(ErrCodeFlowControl, "window %d", 7), (ConnError{Code: ErrCodeFlowControl, Reason: "window 7"}); got != want {
		t.Errorf("connErrorf() = %+v, want %+v", got, want)
	}
	if got, want := *connErr(ErrCodeProtocol, "r"), (ConnError{Code: ErrCodeProtocol, Reason: "r"}); got != want {
		t.Errorf("connErr() = %+v, want %+v", got, want)
	}
	if got, want := *streamErr(9, ErrCodeRefusedStream, "r"), (StreamError{Stream: 9, Code: ErrCodeRefusedStream, Reason: "r"}); got != want {
		t.Errorf("streamErr() = %+v, want %+v", got, want)
	}
	if got, want := (&frameParseError{ErrCodeFrameSize, "PING length != 8"}).Error(), "h2sm: FRAME_SIZE_ERROR: PING length != 8"; got != want {
		t.Errorf("frameParseError.Error() = %q, want %q", got, want)
	}
}
