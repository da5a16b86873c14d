package bridge

import (
	"sync"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
)

// Output to the application.
const (
	// maxAppQueue bounds the plaintext queued for the application.
	maxAppQueue = 256 << 10
	// appStall is how long an application may take nothing while its
	// queue is full before it counts as not reading: until then
	// downstream waits for room (the UART's flow control slows the
	// module), after it the application's output is dropped (app_overruns)
	// until it reads again, and nothing waits on it.
	appStall = 2 * time.Second
	// appChunk is the most one write to the application carries, so the
	// writer reports progress often to a slow reader.
	appChunk = 16 << 10
	// appFlushTime bounds how long Run's end waits for an application to
	// take what is still queued.
	appFlushTime = time.Second
)

// appOut queues plaintext for the application and owns the goroutine that
// writes it, so that an application that stops reading loses its own
// output, never the bridge's keepalives, rekeys or shutdown. A slow
// application that reads loses nothing: downstream waits for room, at
// most appStall once per stall.
type appOut struct {
	mu       sync.Mutex
	ready    *sync.Cond    // the writer waits on it for output or stop
	moved    chan struct{} // the writer took bytes off the queue
	queue    []byte
	progress time.Time // when the writer last kept up (took bytes, or found the queue empty)
	stopped  bool
	overrun  bool // output is being dropped: the application does not read
	done     chan struct{}
}

func (o *appOut) init() {
	o.ready = sync.NewCond(&o.mu)
	o.moved = make(chan struct{}, 1)
	o.done = make(chan struct{})
	o.progress = time.Now()
}

// queueApp queues p for the application. While the queue is full it waits
// for the writer to make room, for appStall at most; an application that
// took nothing for that long does not read, and p is dropped and counted.
func (b *Bridge) queueApp(p []byte) {
	o := &b.out
	o.mu.Lock()
	for !o.overrun && !o.stopped && len(o.queue)+len(p) > maxAppQueue {
		wait := appStall - time.Since(o.progress)
		if wait <= 0 {
			o.overrun = true
			b.log.Warn("the application does not read: its output is dropped until it does", "queued", len(o.queue))
			break
		}
		o.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-o.moved:
		case <-t.C:
		}
		t.Stop()
		o.mu.Lock()
	}
	if o.overrun || o.stopped {
		o.mu.Unlock()
		b.stats.Add(counters.AppOverruns, uint64(len(p)))
		return
	}
	o.queue = append(o.queue, p...)
	o.ready.Signal()
	o.mu.Unlock()
}

// appWriter writes queued output to the application until stopAppWriter.
func (b *Bridge) appWriter() {
	o := &b.out
	defer close(o.done)
	chunk := make([]byte, 0, appChunk)
	for {
		o.mu.Lock()
		for len(o.queue) == 0 && !o.stopped {
			o.progress = time.Now()
			if o.overrun {
				o.overrun = false
				b.log.Info("the application reads again")
			}
			o.ready.Wait()
		}
		if len(o.queue) == 0 {
			o.mu.Unlock()
			return
		}
		n := min(len(o.queue), appChunk)
		chunk = append(chunk[:0], o.queue[:n]...)
		o.queue = o.queue[:copy(o.queue, o.queue[n:])]
		o.mu.Unlock()
		written, err := b.app.Write(chunk)
		b.stats.Add(counters.AppBytesDown, uint64(written))
		o.mu.Lock()
		if written > 0 {
			o.progress = time.Now()
		}
		stopped := o.stopped
		o.mu.Unlock()
		select {
		case o.moved <- struct{}{}:
		default:
		}
		if err != nil {
			b.log.Debug("write to the application", "err", err)
			if stopped {
				return
			}
		}
	}
}

// stopAppWriter gives the application appFlushTime to take what is
// queued, then ends the writer.
func (b *Bridge) stopAppWriter() {
	o := &b.out
	b.app.SetWriteDeadline(time.Now().Add(appFlushTime))
	o.mu.Lock()
	o.stopped = true
	o.ready.Signal()
	o.mu.Unlock()
	<-o.done
}
