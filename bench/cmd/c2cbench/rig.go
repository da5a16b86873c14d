//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/c2cbridge/c2cbridge/bench/internal/ptypair"
	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Timeouts of the harness. They only stop a hung run; they are not what
// is measured.
const (
	startTimeout = 20 * time.Second
	stopGrace    = 10 * time.Second
	ioTimeout    = 10 * time.Second
)

// sessionOpen is what the bridge logs once its session is open.
const sessionOpen = "secure session open"

// env is what every measurement shares: the binary, a work directory, the
// pairings and the options.
type env struct {
	opt     options
	dir     string
	runs    int // run directories made so far
	secrets map[c2c.Version]*c2c.Secrets
}

func newEnv(opt options, dir string) *env {
	e := &env{opt: opt, dir: dir, secrets: map[c2c.Version]*c2c.Secrets{}}
	for _, v := range []c2c.Version{c2c.V1, c2c.V2} {
		e.secrets[v] = c2c.RandomSecrets(v)
	}
	return e
}

// runDir makes a fresh directory for one run.
func (e *env) runDir(name string) (string, error) {
	e.runs++
	d := filepath.Join(e.dir, fmt.Sprintf("%03d-%s", e.runs, name))
	return d, os.MkdirAll(d, 0o700)
}

// writeKeys writes the key file of pairing v into dir (mode 0600).
func (e *env) writeKeys(dir string, v c2c.Version) (string, error) {
	path := filepath.Join(dir, "keys.yaml")
	return path, config.WriteKeyFile(path, &config.KeyFile{Secrets: *e.secrets[v]})
}

// bridgeSpec is what differs between the bridges the harness runs.
type bridgeSpec struct {
	dir    string // run directory: config, key file, links
	device string // modem.device
	keys   string // keys.file
	baud   int    // modem.baud; 115200 when 0
	pace   string // modem.pace; auto when empty
	rekey  time.Duration
}

// ttyLink is where the bridge of a run directory links its virtual tty.
func ttyLink(dir string) string { return filepath.Join(dir, "ttyC2C0") }

// startBridge writes the configuration and runs c2cbridge run, returning
// once the session is open.
func (e *env) startBridge(ctx context.Context, b bridgeSpec) (*proc, error) {
	if b.baud == 0 {
		b.baud = 115200
	}
	if b.pace == "" {
		b.pace = "auto"
	}
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "modem:\n  device: %q\n  baud: %d\n  flow_control: none\n  pace: %s\n", b.device, b.baud, b.pace)
	fmt.Fprintf(&cfg, "pty:\n  link: %q\n  mode: \"0600\"\n", ttyLink(b.dir))
	fmt.Fprintf(&cfg, "keys:\n  file: %q\n", b.keys)
	fmt.Fprintf(&cfg, "session:\n  rekey_interval: %s\n", b.rekey)
	fmt.Fprintf(&cfg, "status:\n  socket: %q\n", filepath.Join(b.dir, "status.sock"))
	fmt.Fprintf(&cfg, "log:\n  level: info\n")
	path := filepath.Join(b.dir, "config.yaml")
	if err := os.WriteFile(path, cfg.Bytes(), 0o600); err != nil {
		return nil, err
	}
	p, err := start("c2cbridge", filepath.Join(b.dir, "c2cbridge.log"), e.opt.bridgeEnv, e.opt.bin, "run", "-c", path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := p.waitOutput(ctx, sessionOpen); err != nil {
		p.stop(0)
		return nil, err
	}
	return p, nil
}

// simSpec describes a simulated module (c2cbridge simulate).
type simSpec struct {
	dir   string
	v     c2c.Version
	baud  int
	rekey string // same or new
}

// startSim runs c2cbridge simulate on a pty linked in dir and returns it
// with its link once it serves.
func (e *env) startSim(ctx context.Context, s simSpec) (*proc, string, error) {
	keys, err := e.writeKeys(s.dir, s.v)
	if err != nil {
		return nil, "", err
	}
	link := filepath.Join(s.dir, "ttyModem0")
	argv := []string{e.opt.bin, "simulate", "--link", link, "--keys", keys}
	if s.v == c2c.V1 {
		argv = append(argv, "--v1")
	}
	if s.baud > 0 {
		argv = append(argv, "--baud", strconv.Itoa(s.baud))
	}
	if s.rekey != "" {
		argv = append(argv, "--rekey", s.rekey)
	}
	p, err := start("simulate", filepath.Join(s.dir, "simulate.log"), nil, argv...)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := p.waitOutput(ctx, "simulated SARA-R5 on"); err != nil {
		p.stop(0)
		return nil, "", err
	}
	return p, link, nil
}

// startSocat runs socat with two addresses and waits for the given links.
func (e *env) startSocat(ctx context.Context, a, b string, links ...string) (*proc, error) {
	p, err := start("socat", "", nil, "socat", a, b)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for _, l := range links {
		if err := waitPath(ctx, l); err != nil {
			p.stop(0)
			return nil, fmt.Errorf("socat: %w:\n%s", err, p.out.tail(10))
		}
	}
	return p, nil
}

// app is the application end of a relay: a raw tty opened through a link.
type app struct {
	f   *os.File         // for deadlines and Close
	rw  *ptypair.RawFile // all reads and writes, as the bridge does them
	buf []byte
	acc []byte
}

func openApp(path string) (*app, error) {
	f, err := ptypair.OpenTTY(path)
	if err != nil {
		return nil, err
	}
	rw, err := ptypair.Raw(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &app{f: f, rw: rw, buf: make([]byte, 64<<10)}, nil
}

func (a *app) Close() error { return a.f.Close() }

// roundTrip writes cmd and reads until want has arrived; it returns the
// time between the two.
func (a *app) roundTrip(cmd, want string) (time.Duration, error) {
	t0 := time.Now()
	if _, err := a.rw.Write([]byte(cmd)); err != nil {
		return 0, err
	}
	if err := a.readUntil(want); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// readUntil reads until want has arrived (within ioTimeout) and drops
// everything read so far.
func (a *app) readUntil(want string) error {
	a.f.SetReadDeadline(time.Now().Add(ioTimeout))
	defer a.f.SetReadDeadline(time.Time{})
	for !bytes.Contains(a.acc, []byte(want)) {
		n, err := a.rw.Read(a.buf)
		a.acc = append(a.acc, a.buf[:n]...)
		if err != nil {
			return fmt.Errorf("waiting for %q (got %q): %w", want, tailBytes(a.acc, 64), err)
		}
	}
	a.acc = a.acc[:0]
	return nil
}

func tailBytes(p []byte, n int) []byte {
	if len(p) > n {
		return p[len(p)-n:]
	}
	return p
}
