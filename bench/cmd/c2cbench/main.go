//go:build linux

// Command c2cbench measures c2cbridge against plaintext references and
// prints one markdown table: throughput and AT round trip against socat,
// goodput on emulated serial lines against what the line can carry, CPU
// and memory, and the codec micro-benchmarks. bench/run builds the
// binary, runs the codec benchmarks and then this program; see
// bench/README.md for what every figure means.
//
//	c2cbench -bin PATH [-quick] [-soak 10m] [-codec FILE] [-out FILE] [-only LIST]
//
// Every figure is the median of -runs runs (3 by default), the bridge and
// its reference measured by the same code, alternately, in the same run.
// The bridge, socat and the simulated module are separate processes on
// real pseudo-terminals.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	bin    string
	out    string
	codec  string
	perf   string
	quick  bool
	keep   bool
	runs   int
	tpRuns int // runs of the throughput figure
	size   int64
	rtts   int
	window time.Duration
	soak   time.Duration
	pace   string
	only   map[string]bool
	log    io.Writer
	// bridgeEnv is added to the environment of every bridge process
	// (GODEBUG=gctrace=1, GOMAXPROCS=1, ...).
	bridgeEnv []string
}

// figures names the parts -only selects.
var figures = []string{"throughput", "rtt", "line", "soak", "codec"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "relay" {
		return goRelayMain(args[1:], stderr)
	}
	fs := flag.NewFlagSet("c2cbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt options
	fs.StringVar(&opt.bin, "bin", "", "c2cbridge `BINARY` to measure (required)")
	fs.StringVar(&opt.out, "out", "", "also write the report to `FILE`")
	fs.StringVar(&opt.codec, "codec", "", "`FILE` with the output of go test -run XXX -bench . -benchmem ./crypto")
	fs.StringVar(&opt.perf, "perf", "", "record a perf profile of the bridge in one extra V2 throughput run into `DIR`")
	fs.BoolVar(&opt.quick, "quick", false, "short line-rate windows and soak (for a quick look)")
	fs.BoolVar(&opt.keep, "keep", false, "keep the work directory (configs, logs)")
	fs.IntVar(&opt.runs, "runs", 3, "runs per figure (the median is reported)")
	fs.IntVar(&opt.tpRuns, "tp-runs", 5, "runs of the throughput figure, the noisiest (the median is reported)")
	size := fs.Int("size", 64, "MiB per throughput run")
	fs.IntVar(&opt.rtts, "rtts", 2000, "AT round trips per run")
	fs.DurationVar(&opt.window, "window", 0, "duration of one line-rate run (default 15s, 4s with -quick)")
	fs.DurationVar(&opt.soak, "soak", 0, "soak length (default 10m, 30s with -quick)")
	fs.StringVar(&opt.pace, "pace", "on", "modem.pace of the bridge in the line-rate runs: auto, on or off (auto means off on a pty)")
	fs.Func("bridge-env", "add `VAR=value` to the environment of every bridge process (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("%q is not VAR=value", v)
		}
		opt.bridgeEnv = append(opt.bridgeEnv, v)
		return nil
	})
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the harness itself (application writer, sinks) to `FILE`")
	only := fs.String("only", "", "comma-separated subset of "+strings.Join(figures, ","))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opt.bin == "" || fs.NArg() > 0 || opt.runs < 1 || opt.tpRuns < 1 || *size < 1 {
		fmt.Fprintln(stderr, "c2cbench: -bin BINARY is required; -runs and -size must be positive; no arguments")
		return 2
	}
	opt.size = int64(*size) << 20
	opt.only = map[string]bool{}
	for _, f := range strings.Split(*only, ",") {
		if f = strings.TrimSpace(f); f != "" {
			opt.only[f] = true
		}
	}
	for f := range opt.only {
		if !strings.Contains(","+strings.Join(figures, ",")+",", ","+f+",") {
			fmt.Fprintf(stderr, "c2cbench: -only: unknown part %q\n", f)
			return 2
		}
	}
	if opt.window == 0 {
		opt.window = 15 * time.Second
		if opt.quick {
			opt.window = 4 * time.Second
		}
	}
	if opt.soak == 0 {
		opt.soak = 10 * time.Minute
		if opt.quick {
			opt.soak = 30 * time.Second
		}
	}
	opt.log = stderr
	bin, err := filepath.Abs(opt.bin)
	if err != nil {
		fmt.Fprintln(stderr, "c2cbench:", err)
		return 1
	}
	opt.bin = bin

	dir, err := os.MkdirTemp("", "c2cbench-")
	if err != nil {
		fmt.Fprintln(stderr, "c2cbench:", err)
		return 1
	}
	if opt.keep {
		fmt.Fprintln(stderr, "c2cbench: work directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "c2cbench: -cpuprofile:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	e := newEnv(opt, dir)
	rep, err := e.measure(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "c2cbench:", err)
		return 1
	}
	text := rep.markdown()
	fmt.Fprint(stdout, text)
	if opt.out != "" {
		if err := os.MkdirAll(filepath.Dir(opt.out), 0o755); err == nil {
			err = os.WriteFile(opt.out, []byte(text), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "c2cbench:", err)
			return 1
		}
	}
	return 0
}

// want reports whether a part of the measurement was selected.
func (o *options) want(part string) bool { return len(o.only) == 0 || o.only[part] }

// logf prints progress to stderr.
func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.opt.log, "c2cbench: "+format+"\n", args...)
}
