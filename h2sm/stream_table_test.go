package h2sm

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update rewrites golden files instead of comparing with them. It is
// defined here once; every golden test in the package uses it.
var update = flag.Bool("update", false, "rewrite golden files (docs/stream-states.md, testdata/*.golden)")

func isRecv(in streamInput) bool { return in <= inRecvPriority }

func remoteClosed(s streamState) bool { return s == stateHalfClosedRemote || s == stateClosed }

func localClosed(s streamState) bool { return s == stateHalfClosedLocal || s == stateClosed }

// TestStreamTransitionsExhaustive checks every (state, input) cell of the
// table: a valid next state without a code, or a classified violation that
// leaves the state alone; peer violations carry an RFC error code, caller
// violations none.
func TestStreamTransitionsExhaustive(t *testing.T) {
	for s := streamState(0); s < numStreamStates; s++ {
		for in := streamInput(0); in < numStreamInputs; in++ {
			tr := streamTransitions[s][in]
			cell := fmt.Sprintf("streamTransitions[%v][%v] = %+v", s, in, tr)
			if tr.next >= numStreamStates {
				t.Errorf("%s: next state out of range", cell)
				continue
			}
			switch tr.violation {
			case violationNone:
				if tr.code != ErrCodeNo {
					t.Errorf("%s: a valid transition carries error code %v", cell, tr.code)
				}
			case violationStream, violationConn:
				if tr.code == ErrCodeNo || strings.HasPrefix(tr.code.String(), "ErrCode(") {
					t.Errorf("%s: a peer violation needs a non-zero RFC 9113 §7 code", cell)
				}
				if !isRecv(in) {
					t.Errorf("%s: something we send cannot be the peer's violation", cell)
				}
			case violationLocal:
				if tr.code != ErrCodeNo {
					t.Errorf("%s: a caller error carries no wire code", cell)
				}
				if isRecv(in) {
					t.Errorf("%s: a received frame cannot be the caller's error", cell)
				}
			default:
				t.Errorf("%s: unclassified violation %d", cell, tr.violation)
				continue
			}
			if tr.violation != violationNone {
				if tr.next != s {
					t.Errorf("%s: a violation must leave the state unchanged", cell)
				}
				continue
			}

			// Properties of every valid transition.
			if s == stateClosed && tr.next != stateClosed {
				t.Errorf("%s: closed is terminal", cell)
			}
			if tr.next == stateIdle && s != stateIdle {
				t.Errorf("%s: no stream returns to idle", cell)
			}
			if remoteClosed(s) && !remoteClosed(tr.next) || localClosed(s) && !localClosed(tr.next) {
				t.Errorf("%s: a half that ended cannot reopen", cell)
			}
			switch in {
			case inRecvHeadersES, inRecvDataES:
				if !remoteClosed(tr.next) {
					t.Errorf("%s: END_STREAM received must close the remote half", cell)
				}
			case inSendEnd:
				if !localClosed(tr.next) {
					t.Errorf("%s: END_STREAM sent must close the local half", cell)
				}
			case inRecvRST, inSendRST:
				if tr.next != stateClosed && s != stateIdle {
					t.Errorf("%s: RST_STREAM closes the stream", cell)
				}
			case inRecvHeaders:
				if s == stateIdle && tr.next != stateOpen {
					t.Errorf("%s: HEADERS opens an idle stream", cell)
				}
				if s != stateIdle && tr.next != s {
					t.Errorf("%s: a frame without END_STREAM does not change the state", cell)
				}
			default:
				if tr.next != s {
					t.Errorf("%s: a frame without END_STREAM does not change the state", cell)
				}
			}
		}
		// §5.1: "PRIORITY can be sent and received in any stream state."
		if tr := streamTransitions[s][inRecvPriority]; tr.violation != violationNone {
			t.Errorf("streamTransitions[%v][recv PRIORITY] = %+v, want allowed", s, tr)
		}
	}
}

// TestStreamTransitionsRFC pins the important cells to RFC 9113 §5.1 (and
// §8.1 for HEADERS that are not trailers).
func TestStreamTransitionsRFC(t *testing.T) {
	tests := []struct {
		s    streamState
		in   streamInput
		want transition
		rfc  string
	}{
		// idle
		{stateIdle, inRecvHeaders, ok(stateOpen), `"receiving a HEADERS frame as a server, causes the stream to become "open""`},
		{stateIdle, inRecvHeadersES, ok(stateHalfClosedRemote), `"The same HEADERS frame can also cause a stream to immediately become "half-closed""`},
		{stateIdle, inRecvData, conErr(stateIdle, ErrCodeProtocol), `idle: "Receiving any frame other than HEADERS or PRIORITY ... connection error ... PROTOCOL_ERROR"`},
		{stateIdle, inRecvRST, conErr(stateIdle, ErrCodeProtocol), `idle (and §6.4): RST_STREAM on an idle stream is a connection error PROTOCOL_ERROR`},
		{stateIdle, inRecvWindowUpdate, conErr(stateIdle, ErrCodeProtocol), `idle: WINDOW_UPDATE is neither HEADERS nor PRIORITY`},
		{stateIdle, inRecvPriority, ok(stateIdle), `"PRIORITY can be sent and received in any stream state"`},
		{stateIdle, inSendData, local(stateIdle), `a server never opens a stream`},
		{stateIdle, inSendRST, local(stateIdle), `§6.4: "RST_STREAM frames MUST NOT be sent for a stream in the "idle" state"`},
		// open
		{stateOpen, inRecvDataES, ok(stateHalfClosedRemote), `open: "an endpoint receiving an END_STREAM flag causes the stream state to become "half-closed (remote)""`},
		{stateOpen, inSendEnd, ok(stateHalfClosedLocal), `open: "An endpoint sending an END_STREAM flag causes the stream state to become "half-closed (local)""`},
		{stateOpen, inRecvRST, ok(stateClosed), `open: "Either endpoint can send a RST_STREAM frame from this state, causing it to transition immediately to "closed""`},
		{stateOpen, inSendRST, ok(stateClosed), `open: as above`},
		{stateOpen, inRecvHeaders, strErr(stateOpen, ErrCodeProtocol), `§8.1: a HEADERS without END_STREAM after the request headers makes the request malformed`},
		{stateOpen, inRecvHeadersES, ok(stateHalfClosedRemote), `§8.1: trailers end the request`},
		// half-closed (remote)
		{stateHalfClosedRemote, inRecvData, strErr(stateHalfClosedRemote, ErrCodeStreamClosed), `half-closed (remote): "additional frames, other than WINDOW_UPDATE, PRIORITY, or RST_STREAM ... stream error ... STREAM_CLOSED"`},
		{stateHalfClosedRemote, inRecvHeadersES, strErr(stateHalfClosedRemote, ErrCodeStreamClosed), `half-closed (remote): as above`},
		{stateHalfClosedRemote, inRecvWindowUpdate, ok(stateHalfClosedRemote), `half-closed (remote): WINDOW_UPDATE is allowed`},
		{stateHalfClosedRemote, inRecvRST, ok(stateClosed), `half-closed (remote): "when either peer sends a RST_STREAM frame"`},
		{stateHalfClosedRemote, inSendEnd, ok(stateClosed), `half-closed (remote): "by sending a frame with the END_STREAM flag set"`},
		{stateHalfClosedRemote, inSendData, ok(stateHalfClosedRemote), `half-closed (remote): "can be used by the endpoint to send frames of any type"`},
		// half-closed (local)
		{stateHalfClosedLocal, inRecvDataES, ok(stateClosed), `half-closed (local): "transitions from this state to "closed" when a frame is received with the END_STREAM flag set"`},
		{stateHalfClosedLocal, inRecvData, ok(stateHalfClosedLocal), `half-closed (local): "An endpoint can receive any type of frame in this state"`},
		{stateHalfClosedLocal, inSendData, local(stateHalfClosedLocal), `half-closed (local): "cannot be used for sending frames other than WINDOW_UPDATE, PRIORITY, and RST_STREAM"`},
		{stateHalfClosedLocal, inSendRST, ok(stateClosed), `half-closed (local): "when either peer sends a RST_STREAM frame"`},
		// closed
		{stateClosed, inRecvData, strErr(stateClosed, ErrCodeStreamClosed), `closed: "An endpoint that receives any frame other than PRIORITY after receiving a RST_STREAM MUST treat that as a stream error ... STREAM_CLOSED" (RFC 7540 wording; RFC 9113 allows it)`},
		{stateClosed, inRecvWindowUpdate, ok(stateClosed), `closed: "might receive a WINDOW_UPDATE or RST_STREAM frame from its peer in the time before the peer receives and processes the frame that closes the stream"`},
		{stateClosed, inRecvRST, ok(stateClosed), `closed: as above; and §5.4.2 "MUST NOT send a RST_STREAM in response to a RST_STREAM frame"`},
		{stateClosed, inRecvPriority, ok(stateClosed), `"PRIORITY can be sent and received in any stream state"`},
		{stateClosed, inSendHeaders, local(stateClosed), `closed: "An endpoint MUST NOT send frames other than PRIORITY on a closed stream"`},
		{stateClosed, inSendData, local(stateClosed), `closed: as above`},
	}
	for _, tt := range tests {
		if got := streamTransitions[tt.s][tt.in]; got != tt.want {
			t.Errorf("streamTransitions[%v][%v] = %+v, want %+v (RFC 9113 §5.1 %s)", tt.s, tt.in, got, tt.want, tt.rfc)
		}
	}
}

// TestStreamTransition checks that (*stream).transition applies valid
// transitions and leaves the state alone on a violation.
func TestStreamTransition(t *testing.T) {
	for s := streamState(0); s < numStreamStates; s++ {
		for in := streamInput(0); in < numStreamInputs; in++ {
			st := &stream{state: s}
			got := st.transition(in)
			want := streamTransitions[s][in]
			wantState := s
			if want.violation == violationNone {
				wantState = want.next
			}
			if got != want || st.state != wantState {
				t.Errorf("stream{%v}.transition(%v) = %+v, state %v, want %+v, state %v", s, in, got, st.state, want, wantState)
			}
		}
	}
}

func TestStreamStateNames(t *testing.T) {
	seen := map[string]bool{}
	for s := streamState(0); s < numStreamStates; s++ {
		if n := s.String(); n == "" || seen[n] {
			t.Errorf("streamState(%d).String() = %q: empty or repeated", s, n)
		} else {
			seen[n] = true
		}
	}
	for in := streamInput(0); in < numStreamInputs; in++ {
		if n := in.String(); n == "" || seen[n] {
			t.Errorf("streamInput(%d).String() = %q: empty or repeated", in, n)
		} else {
			seen[n] = true
		}
	}
	if len(violationNames) != int(violationLocal)+1 {
		t.Errorf("%d violation names for %d kinds", len(violationNames), violationLocal+1)
	}
}

// --- docs/stream-states.md ---

const streamStatesDoc = "../docs/stream-states.md"

func cellText(tr transition) string {
	switch tr.violation {
	case violationStream:
		return "stream error " + tr.code.String()
	case violationConn:
		return "connection error " + tr.code.String()
	case violationLocal:
		return "caller error"
	}
	return tr.next.String()
}

// renderStreamStates renders streamTransitions as markdown.
func renderStreamStates() string {
	var b strings.Builder
	b.WriteString("<!-- Code generated by TestStreamStatesDoc (h2sm/stream_table_test.go) from\n" +
		"     streamTransitions in h2sm/stream_table.go. DO NOT EDIT.\n" +
		"     Regenerate with: go test ./h2sm -run TestStreamStatesDoc -update -->\n\n")
	b.WriteString("# Stream states\n\n")
	b.WriteString("The stream state machine of RFC 9113 §5.1 as the server core implements it\n" +
		"(`streamTransitions` in `h2sm/stream_table.go`). The server never pushes, so the\n" +
		"\"reserved\" states do not exist.\n\n")
	b.WriteString("Each column is the state before the input; each row an input: a frame received\n" +
		"from the client (\"recv\") or sent by the application's command (\"send\"). A cell is\n" +
		"the state after it, or a violation, in which case the state does not change:\n\n" +
		"- **stream error CODE**: the core sends RST_STREAM with CODE and forgets the stream\n" +
		"  (RFC 9113 §5.4.2);\n" +
		"- **connection error CODE**: the core sends GOAWAY with CODE and closes (§5.4.1);\n" +
		"- **caller error**: the command returns `ErrStreamClosed`; nothing is sent.\n\n")
	b.WriteString("| input |")
	for s := streamState(0); s < numStreamStates; s++ {
		fmt.Fprintf(&b, " %v |", s)
	}
	b.WriteString("\n|---|")
	for s := streamState(0); s < numStreamStates; s++ {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for in := streamInput(0); in < numStreamInputs; in++ {
		fmt.Fprintf(&b, "| %v |", in)
		for s := streamState(0); s < numStreamStates; s++ {
			text := cellText(streamTransitions[s][in])
			if tr := streamTransitions[s][in]; tr.violation != violationNone {
				text = "**" + text + "**"
			}
			fmt.Fprintf(&b, " %s |", text)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nNotes:\n\n" +
		"- \"closed\" is the column for a stream the core still tracks. A stream it has\n" +
		"  forgotten is classified by the connection from its id: frames on a stream the\n" +
		"  core reset recently are ignored (§5.1 \"closed\"), HEADERS on an older stream id is\n" +
		"  a connection error (§5.1.1), and any frame but HEADERS and PRIORITY on an id above\n" +
		"  the highest one opened is a connection error (§5.1 \"idle\").\n" +
		"- A HEADERS frame on an open stream is a trailer section only with END_STREAM; a\n" +
		"  second HEADERS without it makes the request malformed (§8.1).\n\n")
	b.WriteString("## Diagram\n\nValid transitions that change the state:\n\n```mermaid\nstateDiagram-v2\n")
	ids := [numStreamStates]string{"idle", "open", "hcr", "hcl", "closed"}
	for s := streamState(0); s < numStreamStates; s++ {
		fmt.Fprintf(&b, "    state \"%v\" as %s\n", s, ids[s])
	}
	fmt.Fprintf(&b, "    [*] --> %s\n", ids[stateIdle])
	for s := streamState(0); s < numStreamStates; s++ {
		for next := streamState(0); next < numStreamStates; next++ {
			if next == s {
				continue
			}
			var labels []string
			for in := streamInput(0); in < numStreamInputs; in++ {
				if tr := streamTransitions[s][in]; tr.violation == violationNone && tr.next == next {
					labels = append(labels, in.String())
				}
			}
			if len(labels) > 0 {
				fmt.Fprintf(&b, "    %s --> %s: %s\n", ids[s], ids[next], strings.Join(labels, ", "))
			}
		}
	}
	fmt.Fprintf(&b, "    %s --> [*]\n```\n", ids[stateClosed])
	return b.String()
}

// TestStreamStatesDoc keeps docs/stream-states.md in step with the table.
func TestStreamStatesDoc(t *testing.T) {
	got := renderStreamStates()
	if *update {
		if err := os.MkdirAll(filepath.Dir(streamStatesDoc), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(streamStatesDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(streamStatesDoc)
	if err != nil {
		t.Fatalf("%v (run go test ./h2sm -run TestStreamStatesDoc -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s is stale; run go test ./h2sm -run TestStreamStatesDoc -update\n--- got\n%s", streamStatesDoc, got)
	}
}
