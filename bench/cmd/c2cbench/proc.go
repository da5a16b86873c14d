//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// proc is a program the harness started: the bridge, socat or the
// simulated module. Its stdout and stderr are kept for waitOutput and for
// the report when something fails.
type proc struct {
	name   string
	logTo  string // the output is written there once the program exited
	cmd    *exec.Cmd
	out    *outputLog
	exited chan struct{}
	err    error // set before exited is closed
}

// start starts a program with its output captured; logTo, if set, gets
// the output once the program has exited. env is added to the
// environment.
func start(name, logTo string, env []string, argv ...string) (*proc, error) {
	p := &proc{name: name, logTo: logTo, out: newOutputLog(), exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		if p.logTo != "" {
			p.out.mu.Lock()
			os.WriteFile(p.logTo, p.out.buf.Bytes(), 0o600)
			p.out.mu.Unlock()
		}
		close(p.exited)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitOutput waits until the program has printed a line containing s, or
// exited, or ctx ends.
func (p *proc) waitOutput(ctx context.Context, s string) error {
	for {
		seen, changed := p.out.contains(s)
		if seen {
			return nil
		}
		select {
		case <-changed:
		case <-p.exited:
			if seen, _ := p.out.contains(s); seen {
				return nil
			}
			return fmt.Errorf("%s exited (%v) before printing %q:\n%s", p.name, p.err, s, p.out.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s did not print %q: %w:\n%s", p.name, s, ctx.Err(), p.out.tail(20))
		}
	}
}

// stop sends SIGTERM and waits up to grace for the program to exit, then
// kills it. A grace of 0 kills at once. It returns the exit error of a
// program stopped by SIGTERM (nil for exit status 0).
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	if grace > 0 {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			return p.err
		case <-time.After(grace):
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	if grace > 0 {
		return fmt.Errorf("%s did not exit within %v of SIGTERM", p.name, grace)
	}
	return nil
}

// cpu returns the user and system CPU time the process has used so far,
// all threads (utime + stime of /proc/PID/stat).
func (p *proc) cpu() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("cpu: malformed /proc/PID/stat")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("cpu: short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("cpu: %w", err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// memory returns VmRSS and VmHWM (peak RSS) of the process, in bytes.
func (p *proc) memory() (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("memory: %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, errors.New("memory: no VmRSS or VmHWM in /proc/PID/status")
	}
	return rss, hwm, sc.Err()
}

// outputLog keeps everything a program printed and tells waiters when
// more arrives.
type outputLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutputLog() *outputLog { return &outputLog{changed: make(chan struct{})} }

// Write implements io.Writer.
func (l *outputLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// contains reports whether s was printed, and a channel closed at the next
// output.
func (l *outputLog) contains(s string) (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.buf.Bytes(), []byte(s)), l.changed
}

// count returns how many times s was printed.
func (l *outputLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Count(l.buf.Bytes(), []byte(s))
}

// tail returns the last n lines.
func (l *outputLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.buf.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitPath waits until path exists.
func waitPath(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not appear: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// selfCPU returns the user and system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// systemCPU is the first line of /proc/stat: clock ticks of all CPUs.
type systemCPU struct{ busy, total int64 }

func readSystemCPU() systemCPU {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return systemCPU{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var s systemCPU
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		s.total += v
		if i != 3 && i != 4 { // idle, iowait
			s.busy += v
		}
	}
	return s
}

// busySince returns the share of all CPUs that was busy since s0.
func (s systemCPU) busySince(s0 systemCPU) float64 {
	if s.total == s0.total {
		return 0
	}
	return float64(s.busy-s0.busy) / float64(s.total-s0.total)
}
