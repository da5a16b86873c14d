package bridge

import (
	"sync"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
)

// Output to the application.
const (
	// maxAppQueue bounds the plaintext queued for an application that does
	// not read; beyond it output is dropped and counted (app_overruns).
	maxAppQueue = 256 << 10
	// appFlushTime bounds how long Run's end waits for an application to
	// take what is still queued.
	appFlushTime = time.Second
)

// appOut queues plaintext for the application and owns the goroutine that
// writes it, so that reading the module never waits on the application:
// an application that stops reading loses its own output, never the
// bridge's keepalives, rekeys or shutdown.
type appOut struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []byte
	stopped bool
	overrun bool // an overrun episode is under way (logged once)
	done    chan struct{}
}

// queueApp queues p for the application; it never blocks. Beyond
// maxAppQueue the bytes are dropped and counted.
func (b *Bridge) queueApp(p []byte) {
	o := &b.out
	o.mu.Lock()
	if len(o.queue)+len(p) > maxAppQueue {
		first := !o.overrun
		o.overrun = true
		o.mu.Unlock()
		b.stats.Add(counters.AppOverruns, uint64(len(p)))
		if first {
			b.log.Warn("the application does not read: its output is dropped until it does", "queued", maxAppQueue)
		}
		return
	}
	o.queue = append(o.queue, p...)
	o.cond.Signal()
	o.mu.Unlock()
}

// appWriter writes queued output to the application until stopAppWriter.
func (b *Bridge) appWriter() {
	o := &b.out
	defer close(o.done)
	var chunk []byte
	for {
		o.mu.Lock()
		for len(o.queue) == 0 && !o.stopped {
			if o.overrun {
				o.overrun = false
				b.log.Info("the application reads again")
			}
			o.cond.Wait()
		}
		if len(o.queue) == 0 {
			o.mu.Unlock()
			return
		}
		chunk, o.queue = o.queue, chunk[:0]
		o.mu.Unlock()
		n, err := b.app.Write(chunk)
		b.stats.Add(counters.AppBytesDown, uint64(n))
		if err != nil {
			b.log.Debug("write to the application", "err", err)
			if o.isStopped() {
				return
			}
		}
	}
}

func (o *appOut) isStopped() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stopped
}

// stopAppWriter gives the application appFlushTime to take what is
// queued, then ends the writer.
func (b *Bridge) stopAppWriter() {
	o := &b.out
	b.app.SetWriteDeadline(time.Now().Add(appFlushTime))
	o.mu.Lock()
	o.stopped = true
	o.cond.Signal()
	o.mu.Unlock()
	<-o.done
}
