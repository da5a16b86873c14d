//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Targets of the issue.
const (
	targetTPV2      = 0.80
	targetTPV1      = 0.75
	targetRTT       = 1.25
	targetBulk      = 0.95
	targetStorm     = 0.80
	targetIdleExtra = time.Millisecond
	targetRSS       = 20 << 20
	// rssGrowthSlack is how much VmHWM may move between half-time and
	// the end of the soak and still count as no growth: the Go heap
	// saw-tooths between collections (its smallest goal is 4 MB), so a
	// later peak may land a few hundred KiB higher without any leak.
	rssGrowthSlack = 1 << 20
)

// lineBauds are the emulated lines of figure 3.
var lineBauds = []int{115200, 921600}

// measure runs every selected part and collects the report.
func (e *env) measure(ctx context.Context) (*report, error) {
	rep := &report{opt: e.opt, started: time.Now(), loadBefore: loadAverage()}
	if e.opt.want("codec") && e.opt.codec != "" {
		b, err := readCodecBench(e.opt.codec)
		if err != nil {
			return nil, err
		}
		rep.codec = b
	}
	if e.opt.want("throughput") {
		if err := e.measureThroughput(ctx, rep); err != nil {
			return nil, err
		}
	}
	if e.opt.want("rtt") {
		if err := e.measureRTT(ctx, rep); err != nil {
			return nil, err
		}
	}
	if e.opt.want("line") {
		if err := e.measureLine(ctx, rep); err != nil {
			return nil, err
		}
	}
	if e.opt.want("soak") {
		e.logf("soak: %v with a rekey every %v", e.opt.soak, soakRekey)
		r, err := e.soakRun(ctx)
		if err != nil {
			return nil, err
		}
		e.logf("soak: %d rekeys, %d commands, VmHWM %.1f MiB half-way, %.1f MiB at the end", r.rekeys, r.commands, mib(r.warmHWM), mib(r.endHWM))
		rep.soak = &r
	}
	rep.took = time.Since(rep.started)
	return rep, nil
}

var (
	relaySocat = relayKind{name: "socat"}
	relayV2    = relayKind{name: "bridge-V2", v: c2c.V2}
	relayV1    = relayKind{name: "bridge-V1", v: c2c.V1}
)

func (e *env) measureThroughput(ctx context.Context, rep *report) error {
	pl := newPayload(e.opt.size, uint64(time.Now().UnixNano()))
	kinds := []relayKind{relaySocat, relayV2, relayV1, relayGo}
	rep.tp = map[string][]tpResult{}
	for i := range e.opt.tpRuns {
		// Rotate the order, so that no relay always runs first.
		for j := range kinds {
			k := kinds[(i+j)%len(kinds)]
			r, err := e.throughputRun(ctx, k, pl, nil)
			if err != nil {
				return err
			}
			e.logf("throughput %d/%d %-9s %6.1f MB/s  hash ok %v  relay cpu %.2fs  app+sink cpu %.2fs  machine busy %.0f%%  VmHWM %.1f MiB",
				i+1, e.opt.tpRuns, k.name, r.mbps, r.hashOK, r.cpu.Seconds(), r.self.Seconds(), 100*r.busy, mib(r.hwm))
			rep.tp[k.name] = append(rep.tp[k.name], r)
		}
	}
	if e.opt.perf != "" {
		if err := e.perfRun(ctx, pl); err != nil {
			e.logf("perf: %v", err)
		}
	}
	return nil
}

// perfEvents are counted by perf stat in the profiled runs.
const perfEvents = "syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_pwait," +
	"syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,context-switches,task-clock"

// perfRun profiles one extra throughput run of socat and of the V2
// bridge: perf stat counts system calls and context switches of both;
// perf record samples the bridge. The reports go to the -perf directory.
func (e *env) perfRun(ctx context.Context, pl *payload) error {
	if err := os.MkdirAll(e.opt.perf, 0o755); err != nil {
		return err
	}
	for _, k := range []relayKind{relaySocat, relayV2} {
		var tools []*perfTool
		hook := func(p *proc) func() {
			pid := fmt.Sprint(p.pid())
			tools = append(tools, startPerf(filepath.Join(e.opt.perf, "perf-stat-"+k.name+".txt"),
				"stat", "--per-thread", "-e", perfEvents, "-p", pid))
			if k.v != 0 {
				tools = append(tools, startPerf("", "record", "-F", "2999", "-g", "-p", pid,
					"-o", filepath.Join(e.opt.perf, "perf-"+k.name+".data")))
			}
			time.Sleep(300 * time.Millisecond) // let perf attach
			return func() {
				for _, t := range tools {
					t.stop()
				}
			}
		}
		r, err := e.throughputRun(ctx, k, pl, hook)
		if err != nil {
			return err
		}
		for _, t := range tools {
			if t.err != nil {
				return t.err
			}
		}
		e.logf("perf: profiled %s run: %.1f MB/s", k.name, r.mbps)
	}
	data := filepath.Join(e.opt.perf, "perf-"+relayV2.name+".data")
	for _, rp := range []struct {
		file string
		args []string
	}{
		{"perf-report-flat.txt", []string{"--no-children", "--sort", "symbol", "-g", "none", "--percent-limit", "0.5"}},
		{"perf-report-children.txt", []string{"--children", "--sort", "symbol", "-g", "none", "--percent-limit", "2"}},
	} {
		args := append([]string{"report", "-i", data, "--stdio"}, rp.args...)
		out, err := exec.Command("perf", args...).Output()
		if err != nil {
			return fmt.Errorf("perf report: %w", err)
		}
		if err := os.WriteFile(filepath.Join(e.opt.perf, rp.file), out, 0o644); err != nil {
			return err
		}
	}
	e.logf("perf: reports in %s", e.opt.perf)
	return nil
}

// perfTool is a perf command attached to a process for one run.
type perfTool struct {
	cmd *exec.Cmd
	out *outputLog
	to  string // file for its output, if any
	err error
}

func startPerf(to string, args ...string) *perfTool {
	t := &perfTool{cmd: exec.Command("perf", args...), out: newOutputLog(), to: to}
	t.cmd.Stdout, t.cmd.Stderr = t.out, t.out
	t.err = t.cmd.Start()
	return t
}

// stop ends perf with SIGINT, as Ctrl-C would, and keeps its output.
func (t *perfTool) stop() {
	if t.err != nil {
		return
	}
	t.cmd.Process.Signal(syscall.SIGINT)
	t.cmd.Wait() // perf ends by the signal: its status says nothing
	if t.to != "" {
		t.err = os.WriteFile(t.to, []byte(t.out.tail(100)), 0o644)
	} else if seen, _ := t.out.contains("Captured and wrote"); !seen {
		t.err = fmt.Errorf("perf %s failed:\n%s", t.cmd.Args[1], t.out.tail(5))
	}
}

func (e *env) measureRTT(ctx context.Context, rep *report) error {
	for i := range e.opt.runs {
		s, b, err := e.roundTripRun(ctx)
		if err != nil {
			return err
		}
		rep.rttSocat, rep.rttBridge = append(rep.rttSocat, s), append(rep.rttBridge, b)
		e.logf("rtt %d/%d socat p50 %v p99 %v; bridge p50 %v p99 %v", i+1, e.opt.runs, s.p50, s.p99, b.p50, b.p99)
	}
	return nil
}

func (e *env) measureLine(ctx context.Context, rep *report) error {
	rep.bulk, rep.storm, rep.plainBulk = map[int][]float64{}, map[int][]float64{}, map[int][]float64{}
	for i := range e.opt.runs {
		for _, baud := range lineBauds {
			for _, x := range []struct {
				what       string
				chunk      int
				withBridge bool
				into       map[int][]float64
				limit      float64
			}{
				{"plain bulk, direct", bulkChunk, false, rep.plainBulk, float64(baud) / 10},
				{"bulk", bulkChunk, true, rep.bulk, lineLimit(baud)},
				{"storm", stormChunk, true, rep.storm, lineLimit(baud)},
			} {
				g, err := e.lineRun(ctx, baud, x.chunk, x.withBridge)
				if err != nil {
					return err
				}
				x.into[baud] = append(x.into[baud], g)
				e.logf("line %d/%d %6d %-18s %8.0f B/s = %.3f of the limit", i+1, e.opt.runs, baud, x.what, g, g/x.limit)
			}
		}
		for _, withBridge := range []bool{false, true} {
			d, err := e.idleRun(ctx, lineBauds[0], withBridge)
			if err != nil {
				return err
			}
			wire := idleWire(lineBauds[0])
			if withBridge {
				rep.idle = append(rep.idle, d)
			} else {
				rep.plainIdle = append(rep.plainIdle, d)
				wire = plainIdleWire(lineBauds[0])
			}
			e.logf("line %d/%d idle AT at %d, bridge %v: %v (wire %v)", i+1, e.opt.runs, lineBauds[0], withBridge, d, wire)
		}
	}
	return nil
}

// idleWire is the time the frames of an isolated AT\r and its \r\nOK\r\n
// take on the line.
func idleWire(baud int) time.Duration { return wireTime(baud, 3) + wireTime(baud, 6) }

// plainIdleWire is the same for AT\r and \r\nOK\r\n in plain text.
func plainIdleWire(baud int) time.Duration {
	return time.Duration(len("AT\r")+len("\r\nOK\r\n")) * 10 * time.Second / time.Duration(baud)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
