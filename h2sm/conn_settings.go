package h2sm

import (
	"encoding/binary"
	"time"
)

// settingsState holds both sides' SETTINGS.
type settingsState struct {
	acked             bool   // the peer ACKed our SETTINGS
	peerInitialWindow uint32 // SETTINGS_INITIAL_WINDOW_SIZE: our stream send windows
	peerMaxFrameSize  uint32 // SETTINGS_MAX_FRAME_SIZE: our largest frame
	peerMaxHeaderList uint32 // SETTINGS_MAX_HEADER_LIST_SIZE, advisory; 0 = unlimited
	peerHeaderTable   uint32 // SETTINGS_HEADER_TABLE_SIZE, applied to the encoder lazily
	tableMin          uint32 // the smallest SETTINGS_HEADER_TABLE_SIZE since the last header block
	tableChanged      bool   // the encoder's table size must be revisited at the next header block
}

func (s *settingsState) init() {
	s.peerInitialWindow = initialWindowSize
	s.peerMaxFrameSize = minMaxFrameSize
}

// settingsSendInitial queues our SETTINGS (values that differ from the RFC
// defaults, and always MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE, which
// have none) and the WINDOW_UPDATE that opens the connection window.
func (c *Conn) settingsSendInitial(now time.Time) {
	var buf [7 * 6]byte
	p := buf[:0]
	add := func(id SettingID, v uint32) {
		p = binary.BigEndian.AppendUint16(p, uint16(id))
		p = binary.BigEndian.AppendUint32(p, v)
	}
	add(SettingMaxConcurrentStreams, c.cfg.MaxConcurrentStreams)
	if c.cfg.InitialWindowSize != initialWindowSize {
		add(SettingInitialWindowSize, c.cfg.InitialWindowSize)
	}
	if c.cfg.MaxFrameSize != minMaxFrameSize {
		add(SettingMaxFrameSize, c.cfg.MaxFrameSize)
	}
	add(SettingMaxHeaderListSize, c.cfg.MaxHeaderListSize)
	if c.cfg.HeaderTableSize != DefaultHeaderTableSize {
		add(SettingHeaderTableSize, c.cfg.HeaderTableSize)
	}
	if c.cfg.EnableConnectProtocol {
		add(SettingEnableConnectProtocol, 1)
	}
	c.frameHeader(len(p), FrameSettings, 0, 0)
	c.out = append(c.out, p...)
	c.stats.FramesOut[FrameSettings]++
	if c.cfg.ConnWindowSize > initialWindowSize {
		c.frameHeader(4, FrameWindowUpdate, 0, 0)
		c.out = appendUint32(c.out, c.cfg.ConnWindowSize-initialWindowSize)
		c.stats.FramesOut[FrameWindowUpdate]++
	}
	c.timers.setAfter(timerSettingsAck, c.now, c.cfg.SettingsAckTimeout)
}

// onSettings handles a SETTINGS frame (RFC 9113 §6.5).
func (c *Conn) onSettings(h frameHeader, p []byte) error {
	// §6.5: "If an endpoint receives a SETTINGS frame whose Stream Identifier
	// field is anything other than 0x00, the endpoint MUST respond with a
	// connection error ... of type PROTOCOL_ERROR."
	if h.stream != 0 {
		return connErr(ErrCodeProtocol, "SETTINGS on a stream (§6.5)")
	}
	if h.has(flagAck) {
		// §6.5: "Receipt of a SETTINGS frame with the ACK flag set and a length
		// field value other than 0 MUST be treated as a connection error ... of
		// type FRAME_SIZE_ERROR."
		if len(p) != 0 {
			return connErr(ErrCodeFrameSize, "SETTINGS ACK with a payload (§6.5)")
		}
		if !c.settings.acked {
			c.settings.acked = true
			c.timers.stop(timerSettingsAck)
			if c.dec != nil {
				c.dec.SetAllowedMaxDynamicTableSize(c.cfg.HeaderTableSize)
			}
		}
		return nil
	}
	// §6.5: "A SETTINGS frame with a length other than a multiple of 6 octets
	// MUST be treated as a connection error ... of type FRAME_SIZE_ERROR."
	if len(p)%6 != 0 {
		return connErr(ErrCodeFrameSize, "SETTINGS length not a multiple of 6 (§6.5)")
	}
	if c.phase > PhaseSettings {
		if err := c.chargeGlitch(); err != nil {
			return err
		}
	}
	if len(p)/6 > c.cfg.MaxSettingsEntries {
		return connErr(ErrCodeEnhanceYourCalm, "too many settings in one frame")
	}
	// Validate every value before applying any (§6.5.3: the values are
	// applied "in the order in which they appear", and a bad one fails the
	// whole connection anyway).
	for i := 0; i < len(p); i += 6 {
		id, v := SettingID(binary.BigEndian.Uint16(p[i:])), binary.BigEndian.Uint32(p[i+2:])
		switch id {
		case SettingEnablePush:
			// §6.5.2: "Any value other than 0 or 1 MUST be treated as a
			// connection error ... of type PROTOCOL_ERROR."
			if v > 1 {
				return connErr(ErrCodeProtocol, "SETTINGS_ENABLE_PUSH not 0 or 1 (§6.5.2)")
			}
		case SettingInitialWindowSize:
			// §6.5.2: "Values above the maximum flow-control window size of
			// 2^31-1 MUST be treated as a connection error ... of type
			// FLOW_CONTROL_ERROR."
			if v > maxWindow {
				return connErr(ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 (§6.5.2)")
			}
		case SettingMaxFrameSize:
			// §6.5.2: "Values outside this range MUST be treated as a connection
			// error ... of type PROTOCOL_ERROR."
			if v < minMaxFrameSize || v > maxMaxFrameSize {
				return connErr(ErrCodeProtocol, "SETTINGS_MAX_FRAME_SIZE out of range (§6.5.2)")
			}
		case SettingEnableConnectProtocol:
			// RFC 8441 §3: only 0 and 1 are defined.
			if v > 1 {
				return connErr(ErrCodeProtocol, "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1")
			}
		}
	}
	rescheduled := false
	for i := 0; i < len(p); i += 6 {
		id, v := SettingID(binary.BigEndian.Uint16(p[i:])), binary.BigEndian.Uint32(p[i+2:])
		switch id {
		case SettingHeaderTableSize:
			// Our encoder never uses more than MaxEncoderTableSize, whatever
			// the peer allows. RFC 7541 §4.2: when the size changes more than
			// once between two blocks, the smallest must be signalled first.
			// We signal one size update per block: the smallest size seen
			// since the last block, and the final size at a later block.
			// Decoders that expect the minimum first (nghttp2) and decoders
			// that reject a second update in a block while their table is not
			// empty (x/net/http2, used by Go clients) both accept that.
			if !c.settings.tableChanged || v < c.settings.tableMin {
				c.settings.tableMin = v
			}
			c.settings.peerHeaderTable, c.settings.tableChanged = v, true
		case SettingInitialWindowSize:
			// §6.9.2: "a receiver MUST adjust the size of all stream
			// flow-control windows that it maintains by the difference between
			// the new value and the old value", and a window pushed above
			// 2^31-1 is "a connection error ... of type FLOW_CONTROL_ERROR".
			delta := int64(v) - int64(c.settings.peerInitialWindow)
			c.settings.peerInitialWindow = v
			for _, st := range c.streams.byID {
				if !st.outflow.add(delta) {
					return connErr(ErrCodeFlowControl, "stream window above 2^31-1 after SETTINGS (§6.9.2)")
				}
			}
			// Any increase may reopen a window, even one a later
			// INITIAL_WINDOW_SIZE in the same frame partly takes back.
			rescheduled = rescheduled || delta > 0
		case SettingMaxFrameSize:
			c.settings.peerMaxFrameSize = v
		case SettingMaxHeaderListSize:
			c.settings.peerMaxHeaderList = v
		}
		// §6.5.2: "An endpoint that receives a SETTINGS frame with any unknown
		// or unsupported identifier MUST ignore that setting." MAX_CONCURRENT_STREAMS
		// from a client limits server pushes, which we never send.
	}
	if rescheduled {
		c.scheduleAll()
	}
	// §6.5.3: "Upon receiving a SETTINGS frame with the ACK flag not set, the
	// recipient MUST immediately apply the updated settings ... [and]
	// MUST immediately emit a SETTINGS frame with the ACK flag set."
	if !c.controlFrame() {
		return nil
	}
	c.frameHeader(0, FrameSettings, flagAck, 0)
	c.stats.FramesOut[FrameSettings]++
	if c.phase == PhaseSettings {
		c.phase = PhaseOpen
		c.timers.stop(timerHandshake)
		if c.streams.active == 0 {
			c.timers.setAfter(timerIdle, c.now, c.cfg.IdleTimeout)
		}
	}
	return nil
}
