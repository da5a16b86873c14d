package crypto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// DefaultStallMargin is what an Opener adds to the time the rest of an
// incomplete frame would take on the line before it abandons the frame.
// USB-serial adapters deliver bytes in bursts some milliseconds apart.
const DefaultStallMargin = 100 * time.Millisecond

// EventKind tells what an Event reports.
type EventKind int

// The kinds of Event.
const (
	// Plaintext: Data is the plaintext of an authentic frame; IV its IV.
	Plaintext EventKind = iota + 1
	// Rejected: a frame candidate failed a check. Err wraps one of ErrLength,
	// ErrFCS, ErrNoFlag, ErrMAC, ErrPadding or ErrStalled; Size is the
	// length of the candidate that was dropped (1 for a bad LEN).
	Rejected
	// Stray: Data holds bytes found outside any frame, such as plain text
	// from a module that rebooted. They are never plaintext of the session.
	Stray
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case Plaintext:
		return "plaintext"
	case Rejected:
		return "rejected"
	case Stray:
		return "stray"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// An Event is one result of feeding an Opener. Data is only valid during the
// callback that receives it: copy it to keep it.
type Event struct {
	Kind EventKind
	Data []byte
	IV   [IVSize]byte
	Err  error
	Size int
}

// FrameError is the Err of a Rejected event.
type FrameError struct {
	Reason error // one of ErrLength, ErrFCS, ErrNoFlag, ErrMAC, ErrPadding, ErrStalled
	Len    int   // the LEN field of the candidate
}

// Error implements error.
func (e *FrameError) Error() string {
	return fmt.Sprintf("frame (LEN %d) dropped: %v", e.Len, e.Reason)
}

// Unwrap returns the reason, for errors.Is.
func (e *FrameError) Unwrap() error { return e.Reason }

// An Opener decodes a byte stream from the other side into the plaintext of
// its authentic frames, following docs/protocol.md, "Receiving frames": LEN
// bounds per version, FCS and closing flag, authentication before any byte
// is released, a full padding check, rescanning from the byte after a failed
// frame's opening flag, and abandoning a frame that has stalled. Its buffer
// never grows beyond twice the largest frame. It is not safe for concurrent
// use.
type Opener struct {
	c        *codec
	minLen   int
	maxLen   int
	maxPlain int
	buf      []byte // bytes not yet decided; cap is fixed
	out      []byte // decrypted body scratch
	shadow   int    // buf[:shadow] lies inside a frame already rejected
	last     time.Time
	byteTime time.Duration
	margin   time.Duration
	ev       Event
}

// NewOpener returns an Opener for s that accepts frames of up to
// maxPlaintext bytes of plaintext (DefaultMaxPlaintext when 0) and rejects
// larger LEN values as corruption.
func NewOpener(s *Secrets, maxPlaintext int) (*Opener, error) {
	if maxPlaintext == 0 {
		maxPlaintext = DefaultMaxPlaintext
	}
	v := s.Version()
	if maxPlaintext < 1 || BodyLen(v, maxPlaintext) > maxLEN {
		return nil, fmt.Errorf("new opener: maximum plaintext %d out of range", maxPlaintext)
	}
	c, err := newCodec(s)
	if err != nil {
		return nil, fmt.Errorf("new opener: %w", err)
	}
	o := &Opener{c: c, maxPlain: maxPlaintext, minLen: MinBodyV2, maxLen: BodyLen(v, maxPlaintext), margin: DefaultStallMargin}
	if v == V1 {
		o.minLen = MinBodyV1
	}
	maxFrame := o.maxLen + FrameOverhead
	o.buf = make([]byte, 0, 2*maxFrame)
	o.out = make([]byte, o.maxLen)
	return o, nil
}

// SetLineRate tells the Opener how fast bytes arrive on the line, so it can
// tell a stalled frame from a slow one: baud is the line's bit rate (10 bits
// a byte, as with 8N1), 0 when unknown (a pty); margin is added on top
// (DefaultStallMargin when 0).
func (o *Opener) SetLineRate(baud int, margin time.Duration) {
	o.byteTime = 0
	if baud > 0 {
		o.byteTime = 10 * time.Second / time.Duration(baud)
	}
	if margin <= 0 {
		margin = DefaultStallMargin
	}
	o.margin = margin
}

// Feed takes bytes as they came from the line at time now and calls fn for
// every event they complete, in stream order. fn must not call the Opener.
// Feed itself never abandons a frame: bytes that arrive late may only have
// waited in a buffer while the reader was busy. Call Poll when the line has
// been idle.
func (o *Opener) Feed(p []byte, now time.Time, fn func(*Event)) {
	if len(o.buf) == 0 && len(p) > 0 {
		// Nothing pending: decide p in place and keep only its tail.
		o.last = now
		i := o.scanIn(p, fn)
		p = p[i:]
		if len(p) <= cap(o.buf) {
			o.buf = append(o.buf, p...)
			return
		}
	}
	for len(p) > 0 {
		n := min(len(p), cap(o.buf)-len(o.buf))
		o.buf = append(o.buf, p[:n]...)
		p = p[n:]
		o.last = now
		o.scan(fn)
	}
}

// Poll abandons an incomplete frame that has stalled at time now (no byte
// for longer than the rest of the frame takes on the line, plus the margin)
// and rescans the bytes after its flag. Call it when a read of the line has
// timed out, StallTimeout after the last byte.
func (o *Opener) Poll(now time.Time, fn func(*Event)) {
	if len(o.buf) == 0 || now.Sub(o.last) <= o.StallTimeout() {
		return
	}
	lenField := 0
	if len(o.buf) >= HeaderSize {
		lenField = int(binary.LittleEndian.Uint16(o.buf[1:]))
	}
	o.reject(fn, &FrameError{Reason: ErrStalled, Len: lenField}, len(o.buf))
	// Every byte held lies inside the abandoned frame: none of it is a new
	// fault or stray. A frame that starts among them gets a fresh timeout.
	o.buf = o.buf[:copy(o.buf, o.buf[1:])]
	o.shadow = len(o.buf)
	o.last = now
	o.scan(fn)
}

// StallTimeout returns how long the Opener waits, from the last byte, before
// it abandons the incomplete frame it holds; 0 when it holds none.
func (o *Opener) StallTimeout() time.Duration {
	if len(o.buf) == 0 {
		return 0
	}
	rest := o.maxLen + FrameOverhead - len(o.buf)
	if len(o.buf) >= HeaderSize {
		if l := int(binary.LittleEndian.Uint16(o.buf[1:])); l <= o.maxLen {
			rest = l + FrameOverhead - len(o.buf)
		}
	}
	return time.Duration(max(rest, 0))*o.byteTime + o.margin
}

// Pending reports how many bytes of an incomplete frame the Opener holds.
func (o *Opener) Pending() int { return len(o.buf) }

// Reset drops everything buffered, for a new session on the same secrets.
func (o *Opener) Reset() {
	o.buf = o.buf[:0]
	o.shadow = 0
}

// Zero wipes the Opener's buffers and its copy of te_secret (best effort;
// see Secrets.Zero). The Opener must not be used afterwards.
func (o *Opener) Zero() {
	clear(o.buf[:cap(o.buf)])
	clear(o.out)
	o.c.zero()
}

// validLen reports whether a LEN is in bounds for the version.
func (o *Opener) validLen(l int) bool {
	return l >= o.minLen && l <= o.maxLen && (l-o.minLen)%BlockSize == 0
}

// scan decides every byte of buf it can and keeps only the incomplete frame
// candidate at the end, if any.
func (o *Opener) scan(fn func(*Event)) {
	i := o.scanIn(o.buf, fn)
	o.buf = o.buf[:copy(o.buf, o.buf[i:])]
}

// scanIn decides the bytes of buf it can and returns how many; the rest is
// the start of an incomplete frame. o.shadow is an offset into buf on entry
// and into buf[i:] on return.
func (o *Opener) scanIn(buf []byte, fn func(*Event)) int {
	i := 0
	for i < len(buf) {
		j := bytes.IndexByte(buf[i:], Flag)
		if j < 0 {
			o.stray(fn, buf, i, len(buf))
			i = len(buf)
			break
		}
		if j > 0 {
			o.stray(fn, buf, i, i+j)
			i += j
		}
		if len(buf)-i < HeaderSize {
			break
		}
		l := int(binary.LittleEndian.Uint16(buf[i+1:]))
		if !o.validLen(l) {
			// Inside a frame already rejected, or a lone flag before another
			// flag (the previous frame's closing one): no new fault.
			if i >= o.shadow && buf[i+1] != Flag {
				o.reject(fn, &FrameError{Reason: ErrLength, Len: l}, 1)
			}
			i++
			continue
		}
		total := l + FrameOverhead
		if len(buf)-i < total {
			break
		}
		frame := buf[i : i+total]
		var reason error
		switch {
		case FCS(frame[1:HeaderSize+l]) != binary.LittleEndian.Uint16(frame[HeaderSize+l:]):
			reason = ErrFCS
		case frame[total-1] != Flag:
			reason = ErrNoFlag
		default:
			pt, iv, err := o.c.openBody(o.out, frame[HeaderSize:HeaderSize+l])
			if err == nil {
				o.ev = Event{Kind: Plaintext, Data: pt, IV: *iv}
				fn(&o.ev)
				clear(pt)
				o.ev = Event{}
				i += total
				o.shadow = 0
				continue
			}
			reason = err
		}
		o.reject(fn, &FrameError{Reason: reason, Len: l}, total)
		o.shadow = max(o.shadow, i+total)
		i++
	}
	o.shadow = max(o.shadow-i, 0)
	return i
}

// stray reports buf[from:to] as bytes outside a frame, except the part that
// lies inside a frame already rejected.
func (o *Opener) stray(fn func(*Event), buf []byte, from, to int) {
	from = max(from, min(o.shadow, to))
	if from >= to {
		return
	}
	o.ev = Event{Kind: Stray, Data: buf[from:to], Size: to - from}
	fn(&o.ev)
	o.ev = Event{}
}

func (o *Opener) reject(fn func(*Event), err *FrameError, size int) {
	o.ev = Event{Kind: Rejected, Err: err, Size: size}
	fn(&o.ev)
	o.ev = Event{}
}
