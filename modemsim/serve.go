package modemsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Serve serves one line, rw, until ctx is done (it returns the context's
// cause), Close is called (ErrClosed) or rw fails (the wrapped error, io.EOF
// included). The module's state persists across Serve calls; only one runs
// at a time. Output produced while no Serve runs is lost, as on a line
// nobody listens to.
//
// Serve reads with one goroutine and writes with another, and returns only
// when both have ended. To wake them when ctx ends, it sets a deadline in
// the past if rw has SetDeadline (and clears it again before returning), or
// else closes rw if it is an io.Closer; an rw with neither keeps Serve (and
// Close) waiting until its Read and Write return.
func (m *Module) Serve(ctx context.Context, rw io.ReadWriter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &conn{
		wake:   make(chan struct{}, 1),
		space:  make(chan struct{}, 1),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return ErrClosed
	case m.conn != nil:
		m.mu.Unlock()
		return ErrServing
	}
	m.conn = c
	m.outq = m.outq[:0]
	m.event("serve")
	m.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.readLoop(ctx, c, rw); err != nil {
			cancel(err)
		}
	})
	wg.Go(func() {
		if err := m.writeLoop(ctx, c, rw); err != nil {
			cancel(err)
		}
	})
	<-ctx.Done()
	restore := interrupt(rw)
	wg.Wait()
	restore()

	m.mu.Lock()
	m.conn = nil
	m.stats.BytesLost += uint64(len(m.outq))
	m.outq = m.outq[:0]
	m.event("serve end")
	m.mu.Unlock()
	close(c.done)
	return context.Cause(ctx)
}

// interrupt wakes a Read or Write blocked on rw and returns a function that
// makes rw usable again where that is possible.
func interrupt(rw io.ReadWriter) (restore func()) {
	if d, ok := rw.(interface{ SetDeadline(time.Time) error }); ok {
		if d.SetDeadline(time.Now()) == nil {
			return func() { _ = d.SetDeadline(time.Time{}) }
		}
	}
	if cl, ok := rw.(io.Closer); ok {
		_ = cl.Close()
	}
	return func() {}
}

// readLoop reads the line and feeds the module until ctx ends or the read
// fails.
func (m *Module) readLoop(ctx context.Context, c *conn, r io.Reader) error {
	buf := make([]byte, readSize)
	var pace pacer
	defer pace.stop()
	for {
		m.mu.Lock()
		baud := m.baud
		m.mu.Unlock()
		n := len(buf)
		if baud > 0 {
			n = chunkSize(baud)
		}
		k, err := r.Read(buf[:n])
		if ctx.Err() != nil {
			return nil
		}
		if k > 0 {
			if perr := pace.wait(ctx, k, baud); perr != nil {
				return nil
			}
			m.mu.Lock()
			if m.conn == c {
				m.receive(buf[:k], time.Now())
			}
			m.mu.Unlock()
			if werr := m.waitSpace(ctx, c); werr != nil {
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("modemsim: read: %w", err)
		}
	}
}

// waitSpace waits while the output queue (or the network's, in a call) is
// above the high-water mark, so that a host or network that does not read
// slows down the one that writes, as flow control would.
func (m *Module) waitSpace(ctx context.Context, c *conn) error {
	for {
		m.mu.Lock()
		full := len(m.outq) > highWater || len(m.netq) > highWater
		m.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-c.space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// writeLoop writes the output queue to the line until ctx ends or a write
// fails. It takes the whole queue at once (swapping buffers), applies the
// output faults, paces the bytes at the emulated line rate and writes
// them in pieces of at most writeSize, so BytesOut follows the line.
func (m *Module) writeLoop(ctx context.Context, c *conn, w io.Writer) error {
	var buf []byte
	var pace pacer
	defer pace.stop()
	for {
		m.mu.Lock()
		for len(m.outq) == 0 {
			m.mu.Unlock()
			select {
			case <-c.wake:
			case <-ctx.Done():
				return nil
			}
			m.mu.Lock()
		}
		buf, m.outq = m.outq, buf[:0]
		buf = m.faults.output(buf, &m.stats)
		baud := m.baud
		m.mu.Unlock()
		select {
		case c.space <- struct{}{}:
		default:
		}

		for p := buf; len(p) > 0; {
			n := min(len(p), writeSize)
			if baud > 0 {
				n = min(n, chunkSize(baud))
				if err := pace.wait(ctx, n, baud); err != nil {
					return nil
				}
			}
			k, err := w.Write(p[:n])
			m.mu.Lock()
			m.stats.BytesOut += uint64(k)
			m.mu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("modemsim: write: %w", err)
			}
			p = p[k:]
		}
	}
}

// queue puts wire bytes on the output queue. m.mu held.
func (m *Module) queue(p []byte) {
	if m.conn == nil {
		m.stats.BytesLost += uint64(len(p))
		return
	}
	m.outq = append(m.outq, p...)
	m.wakeWriter()
}

// wakeWriter tells the writer there is output. m.mu held.
func (m *Module) wakeWriter() {
	if m.conn == nil {
		return
	}
	select {
	case m.conn.wake <- struct{}{}:
	default:
	}
}

// emit adds module output (answers, echo, data) to the current step. m.mu
// held.
func (m *Module) emit(p ...string) {
	for _, s := range p {
		m.stage = append(m.stage, s...)
	}
}

// emitLine emits one result code or information text, "\r\n<text>\r\n"
// as the module is set by default (see response). m.mu held.
func (m *Module) emitLine(text string) { m.emit(m.response(text)) }

// resultCodes are the numbers of the basic result codes (V.250 5.7.1).
var resultCodes = map[string]int{
	"OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4,
	"NO DIALTONE": 6, "BUSY": 7, "NO ANSWER": 8,
}

// response formats a result code or an information text (whose lines are
// separated by CR LF) as V.250 5.7 says, with S3 and S4: with V1
// <S3><S4>text<S3><S4>; with V0 a basic result code is its number and S3,
// anything else text<S3><S4>. m.mu held.
func (m *Module) response(text string) string {
	eol := string([]byte{m.s3, m.s4})
	if eol != "\r\n" {
		text = strings.ReplaceAll(text, "\r\n", eol)
	}
	if m.verbose {
		return eol + text + eol
	}
	if n, ok := resultCodes[text]; ok {
		return strconv.Itoa(n) + string(m.s3)
	}
	return text + eol
}

// flush sends the output of the current step: sealed, a frame per
// MaxFrame bytes, in a session; as it is otherwise. Every step that changes
// the session flushes first, so no byte is sent in the wrong form. m.mu
// held.
func (m *Module) flush() {
	if len(m.stage) == 0 {
		return
	}
	defer func() { m.stage = m.stage[:0] }()
	if m.conn == nil {
		m.stats.BytesLost += uint64(len(m.stage))
		return
	}
	if m.sess == nil {
		m.queue(m.stage)
		return
	}
	for p := m.stage; len(p) > 0; {
		n := min(len(p), m.maxFrame)
		start := len(m.outq)
		out, err := m.sess.sealer.SealFrame(m.outq, p[:n])
		if err != nil {
			m.log.Error("modemsim: cannot seal output; dropped", "err", err)
			m.stats.BytesLost += uint64(len(p))
			return
		}
		m.outq = out
		m.lastFrame = append(m.lastFrame[:0], out[start:]...)
		if m.recArmed && bytes.Contains(p[:n], m.recMatch) {
			m.recorded = append(m.recorded[:0], out[start:]...)
			m.recArmed = false
			m.event("record")
		}
		m.stats.FramesOut++
		p = p[n:]
	}
	m.wakeWriter()
}

// ownFrame emits text in a frame of its own in a session. m.mu held.
func (m *Module) ownFrame(text ...string) {
	m.flush()
	m.emit(text...)
	m.flush()
}

// chunkSize is how many bytes the line moves in about 10 ms at baud.
func chunkSize(baud int) int { return max(1, baud/1000) }

// pacer emulates the time bytes take on a line of a given rate. It keeps
// the time the line becomes free again, so oversleeping once is made up by
// the next waits and the rate is exact over time; an idle line gains no
// credit.
type pacer struct {
	next  time.Time
	timer *time.Timer
}

// pacerIdle is how far behind the schedule a pacer may fall, from timers
// firing late, before it takes the line as idle and stops crediting.
const pacerIdle = 10 * time.Millisecond

// wait blocks until n bytes have crossed a line of baud bits a second
// after the ones before them; it returns at once when baud is 0.
func (p *pacer) wait(ctx context.Context, n, baud int) error {
	if baud <= 0 {
		p.next = time.Time{}
		return nil
	}
	now := time.Now()
	// A timer that fired late is credited (the line kept sending while we
	// overslept); only a line idle for longer than that starts afresh.
	if now.Sub(p.next) > pacerIdle {
		p.next = now
	}
	p.next = p.next.Add(time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud)))
	return p.sleepUntil(ctx, p.next)
}

// Precision of the pacer's waits. A Go timer may fire a millisecond late
// on Linux (it is served by the network poller, whose timeout has
// millisecond resolution), which would add a millisecond to every emulated
// round trip; nanosleep(2) is late by about a tenth of that. So a wait
// takes a Go timer (which ctx can cut short) until coarseMargin before its
// end, nanosleep until spinMargin before it, and spins the rest.
const (
	coarseMargin = 2 * time.Millisecond
	spinMargin   = 200 * time.Microsecond
)

// sleepUntil waits until t (at once if t has passed) or until ctx ends.
func (p *pacer) sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t) - coarseMargin; d > 0 {
		if p.timer == nil {
			p.timer = time.NewTimer(d)
		} else {
			p.timer.Reset(d)
		}
		select {
		case <-p.timer.C:
		case <-ctx.Done():
			p.timer.Stop()
			return ctx.Err()
		}
	}
	for {
		d := time.Until(t)
		switch {
		case d <= 0:
			return nil
		case d > spinMargin:
			ts := syscall.NsecToTimespec(int64(d - spinMargin))
			_ = syscall.Nanosleep(&ts, nil) // EINTR: the loop sleeps again
		default:
			if err := ctx.Err(); err != nil {
				return err
			}
			runtime.Gosched()
		}
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
