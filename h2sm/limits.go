package h2sm

import "time"

// bucket is a token bucket: it holds up to burst tokens and gains rate
// tokens a second. The zero value is full at its first use.
type bucket struct {
	tokens float64
	last   instant
	used   bool
}

// take spends a token at now, and reports false when none is left.
func (b *bucket) take(now instant, burst int, rate float64) bool {
	if !b.used {
		b.used, b.tokens, b.last = true, float64(burst), now
	}
	if now > b.last {
		b.tokens = min(float64(burst), b.tokens+time.Duration(now-b.last).Seconds()*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// left returns the whole tokens left, as of the last take.
func (b *bucket) left(burst int) int {
	if !b.used {
		return burst
	}
	return int(b.tokens)
}

// limitsState holds the budgets that bound work a peer can cause without
// holding memory (research/attacks.md §2): each ends in GOAWAY
// ENHANCE_YOUR_CALM when spent.
type limitsState struct {
	glitches     bucket // frames that cost work and carry nothing useful
	emptyFrames  bucket // DATA without payload or END_STREAM, empty CONTINUATION
	remoteResets bucket // RST_STREAM from the client (Rapid Reset)
	localResets  bucket // stream errors we detect (MadeYouReset)
}

// chargeGlitch spends a glitch token (PRIORITY, PING, SETTINGS after the
// first, unknown frame types, small WINDOW_UPDATEs for an open window);
// with none left the peer is flooding.
func (c *Conn) chargeGlitch() error {
	if !c.limits.glitches.take(c.now, c.cfg.MaxGlitches, c.cfg.GlitchRate) {
		return connErr(ErrCodeEnhanceYourCalm, "too many frames that do no work (glitches)")
	}
	return nil
}

// chargeEmptyFrame spends an empty-frame token (CVE-2019-9518).
func (c *Conn) chargeEmptyFrame() error {
	if !c.limits.emptyFrames.take(c.now, c.cfg.MaxEmptyFrames, c.cfg.EmptyFrameRate) {
		return connErr(ErrCodeEnhanceYourCalm, "too many empty frames")
	}
	return nil
}

// chargeRemoteReset spends a token for an RST_STREAM from the client
// (CVE-2023-44487).
func (c *Conn) chargeRemoteReset() error {
	if !c.limits.remoteResets.take(c.now, c.cfg.MaxRemoteResets, c.cfg.RemoteResetRate) {
		return connErr(ErrCodeEnhanceYourCalm, "too many RST_STREAM from the client")
	}
	return nil
}

// chargeLocalReset spends a token for a stream error we detected
// (CVE-2025-8671).
func (c *Conn) chargeLocalReset() error {
	if !c.limits.localResets.take(c.now, c.cfg.MaxLocalResets, c.cfg.LocalResetRate) {
		return connErr(ErrCodeEnhanceYourCalm, "too many stream errors")
	}
	return nil
}

// --- stalled streams ---

// setSendPending records whether st holds body it has not framed. The
// stream-stall timer is armed exactly while some stream does.
func (c *Conn) setSendPending(st *stream, pending bool) {
	if st.sendPending == pending {
		return
	}
	st.sendPending = pending
	if pending {
		st.progressAt = c.now
		c.streams.sendPending++
		if c.streams.sendPending == 1 && c.cfg.StreamStallTimeout > 0 {
			c.timers.setAfter(timerStreamStall, c.now, c.cfg.StreamStallTimeout)
		}
		return
	}
	c.streams.sendPending--
	if c.streams.sendPending == 0 {
		c.timers.stop(timerStreamStall)
	}
}

// onStreamStall resets every stream that has had body to send and made no
// progress for StreamStallTimeout (a client that never opens its window,
// CVE-2016-1546), and re-arms the timer for the next one.
func (c *Conn) onStreamStall() {
	var next instant
	var stalled []*stream
	for _, st := range c.streams.byID {
		if !st.sendPending {
			continue
		}
		due := st.progressAt.add(c.cfg.StreamStallTimeout)
		if c.now >= due {
			stalled = append(stalled, st)
		} else if next == 0 || due < next {
			next = due
		}
	}
	sortStreams(stalled)
	for _, st := range stalled {
		se := streamErr(st.id, ErrCodeCancel, "stream send stalled on flow control")
		c.stats.countError(se.Reason)
		c.resetStream(st.id, se.Code)
		if st.delivered {
			c.pushEvent(Event{Kind: EventStreamReset, Stream: st.id, Err: se})
		}
		c.closeStream(st)
	}
	if next != 0 {
		c.timers.set(timerStreamStall, next)
	}
}

// sortStreams orders streams by id, for deterministic output.
func sortStreams(s []*stream) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].id < s[j-1].id; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
