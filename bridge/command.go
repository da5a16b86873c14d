package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/usec"
)

// commandSpec describes one command of the bridge's own.
type commandSpec struct {
	// line is the command without CR. A security command's line holds
	// te_secret: command wipes it once written, and it is never logged.
	line     []byte
	name     string // what logs and errors call it (no secrets)
	framed   bool   // send it inside a frame (in a session)
	timeout  time.Duration
	expect   string // prefix of information lines that belong to the answer
	toFramed bool   // on OK, the module starts framing (session open)
	toPlain  bool   // on OK, the module speaks plain text again (close, rekey)
	raw      bool   // send line without a CR (the +++ escape)
	connect  bool   // CONNECT answers it (ATO)
}

// secret reports whether the line carries te_secret.
func (s *commandSpec) secret() bool {
	return usec.IsCommand(string(s.line[:min(len(s.line), len(usec.CommandPrefix))]))
}

// command is a bridge command in flight: downstream feeds it lines until a
// final result code.
type command struct {
	spec      commandSpec
	echo      string // the line as sent, to skip its echo; "" for a security command
	connected bool   // a CONNECT answered a connect command (mu)
	coll      at.Collector
	once      sync.Once
	done      chan struct{}
}

func (c *command) finish() { c.once.Do(func() { close(c.done) }) }

// simple returns the spec of a plain-text command line without secrets.
func simple(line, name string, timeout time.Duration) commandSpec {
	return commandSpec{line: []byte(line), name: name, timeout: timeout}
}

// command sends a command of the bridge's own and waits for its answer,
// beating the heartbeat meanwhile. The caller makes sure the application
// is not mid-command: it holds application input or no session is up.
func (b *Bridge) command(ctx context.Context, spec commandSpec) (at.Response, error) {
	secret := spec.secret()
	if spec.name == "" {
		spec.name = string(spec.line)
	}
	c := &command{spec: spec, done: make(chan struct{})}
	if !secret {
		c.echo = string(spec.line)
		c.coll.Command = c.echo
		b.traceLine("bridge>module", c.echo)
	} else {
		b.traceLine("bridge>module", spec.name)
	}
	b.mu.Lock()
	b.ctl = c
	l := b.link
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.ctl == c {
			b.ctl = nil
		}
		b.mu.Unlock()
	}()

	out := spec.line
	if !spec.raw {
		out = append(out, '\r')
	}
	b.wmu.Lock()
	var err error
	if spec.framed {
		err = b.sealAndWrite(out)
	} else {
		err = b.writeModem(out)
	}
	b.wmu.Unlock()
	if secret {
		usec.Wipe(out)
		usec.Wipe(spec.line)
	}
	if err != nil {
		return at.Response{}, fmt.Errorf("%s: %w", spec.name, err)
	}

	t := time.NewTimer(spec.timeout)
	defer t.Stop()
	for waiting := true; waiting; {
		select {
		case <-c.done:
			waiting = false
		case <-t.C:
			return at.Response{}, fmt.Errorf("%s: %w within %v", spec.name, at.ErrTimeout, spec.timeout)
		case <-ctx.Done():
			return at.Response{}, fmt.Errorf("%s: %w", spec.name, ctx.Err())
		case <-l.done:
			return at.Response{}, fmt.Errorf("%s: %w", spec.name, ErrModemLost)
		case <-b.beatC():
			b.heartbeat()
		}
	}
	b.mu.Lock()
	resp := c.coll.Response()
	err = c.coll.Err()
	if c.connected {
		resp.Final, err = at.Connect, nil
	}
	b.mu.Unlock()
	var re *at.ResultError
	if errors.As(err, &re) {
		re.Command = spec.name
	}
	return resp, err
}

// commandLine hands one line of the module's answer to the command in
// flight. It reports whether the line belongs to the command (the rest go
// to the application as unsolicited result codes when in a session) and
// whether the command is complete; downstream switches the mode at once
// when the answer says so. Called by downstream with mu not held.
func (b *Bridge) commandLine(c *command, line string) (mine, done bool) {
	b.mu.Lock()
	active := b.ctl == c
	b.mu.Unlock()
	if !active {
		return false, true // finished: later lines belong to the application
	}
	echo := c.echo != "" && strings.EqualFold(strings.TrimSpace(line), c.echo) ||
		c.echo == "" && usec.IsCommand(line)
	mine = echo || at.IsFinal(line) ||
		(c.spec.expect != "" && strings.HasPrefix(line, c.spec.expect)) ||
		(c.spec.connect && at.IsConnect(line))
	if !mine {
		return false, false
	}
	if echo && c.echo == "" {
		return true, false // the echo of a security command: it holds te_secret
	}
	b.traceLine("module>bridge", line)
	b.mu.Lock()
	if c.spec.connect && at.IsConnect(line) {
		c.connected = true
		b.stream.startCall(time.Now())
		if b.ctl == c {
			b.ctl = nil
		}
		b.mu.Unlock()
		c.finish()
		return true, true
	}
	done = c.coll.Add(line)
	if done && b.ctl == c {
		// Lines after the final result are not this command's.
		b.ctl = nil
	}
	if done && line == at.OK {
		switch {
		case c.spec.toFramed:
			// The window of seen IVs stays: it lives as long as the
			// secrets (docs/protocol.md, "Replay window").
			b.mode = modeFramed
			b.keys.opener.Reset()
		case c.spec.toPlain:
			b.mode = modePlain
		}
	}
	b.mu.Unlock()
	if done {
		c.finish()
	}
	return true, done
}
