//go:build linux

package modemsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"golang.org/x/sys/unix"
)

// exclRelease clears a pty slave's TIOCEXCL when the last program that
// opened it closes it (PTYOptions.ReleaseExclusive). A real tty loses the
// flag with its last close, since its state goes with it; a pty slave
// whose server holds a descriptor never has a last close, so the server
// watches the programs' closes with inotify and clears the flag itself
// when no other program has the tty open.
type exclRelease struct {
	events *os.File // the inotify descriptor, on Go's poller
	done   chan struct{}
	once   sync.Once
}

// watchExclusive starts watching tty, whose slave is held open as slave.
func watchExclusive(tty string, slave *os.File) (*exclRelease, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("modemsim: inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, tty, unix.IN_CLOSE_WRITE|unix.IN_CLOSE_NOWRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("modemsim: inotify watch %s: %w", tty, err)
	}
	r := &exclRelease{events: os.NewFile(uintptr(fd), "inotify:"+tty), done: make(chan struct{})}
	go r.run(tty, slave)
	return r, nil
}

// run clears the flag at every close after which no program but the
// server has the tty open. inotify merges identical events that follow
// each other, so the events are only a cue: the open descriptors are
// counted in /proc.
func (r *exclRelease) run(tty string, slave *os.File) {
	defer close(r.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := r.events.Read(buf)
		if err != nil {
			return // closed
		}
		closed := false
		for p := buf[:n]; len(p) >= unix.SizeofInotifyEvent; {
			mask := binary.NativeEndian.Uint32(p[4:8])
			size := int(binary.NativeEndian.Uint32(p[12:16]))
			p = p[min(len(p), unix.SizeofInotifyEvent+size):]
			closed = closed || mask&(unix.IN_CLOSE_WRITE|unix.IN_CLOSE_NOWRITE|unix.IN_Q_OVERFLOW) != 0
		}
		if closed && openCount(tty) <= 1 { // the server's own descriptor
			_ = rawtty.Control(slave, func(fd int) error { return unix.IoctlSetInt(fd, unix.TIOCNXCL, 0) })
		}
	}
}

// openCount counts the descriptors of every process (that this one may
// look at) open on path.
func openCount(path string) int {
	procs, _ := os.ReadDir("/proc")
	n := 0
	for _, pe := range procs {
		if pe.Name()[0] < '0' || pe.Name()[0] > '9' {
			continue
		}
		dir := "/proc/" + pe.Name() + "/fd/"
		fds, _ := os.ReadDir(dir)
		for _, fe := range fds {
			if target, err := os.Readlink(dir + fe.Name()); err == nil && target == path {
				n++
			}
		}
	}
	return n
}

// stop ends the watch and waits for it.
func (r *exclRelease) stop() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		if err := r.events.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			return
		}
		<-r.done
	})
}
