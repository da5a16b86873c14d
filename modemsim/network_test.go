package modemsim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// peer is the network side of a call in tests: it records what it reads.
type peer struct {
	t      testing.TB
	conn   net.Conn
	got    chan []byte
	served chan error
}

// serveNetwork serves m's network over net.Pipe and returns the peer end.
func serveNetwork(t testing.TB, m *Module) *peer {
	t.Helper()
	a, b := net.Pipe()
	p := &peer{t: t, conn: b, got: make(chan []byte, 64), served: make(chan error, 1)}
	go func() { p.served <- m.ServeNetwork(context.Background(), a) }()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := b.Read(buf)
			if n > 0 {
				p.got <- bytes.Clone(buf[:n])
			}
			if err != nil {
				close(p.got)
				return
			}
		}
	}()
	t.Cleanup(func() { b.Close(); a.Close() })
	waitStats(t, m, func(st Stats) bool { return st.Network })
	return p
}

// read waits for n bytes from the module.
func (p *peer) read(n int) []byte {
	p.t.Helper()
	var got []byte
	timeout := time.After(hang)
	for len(got) < n {
		select {
		case b, ok := <-p.got:
			if !ok {
				p.t.Fatalf("peer: line closed after %q", got)
			}
			got = append(got, b...)
		case <-timeout:
			p.t.Fatalf("peer: timed out after %q", got)
		}
	}
	return got
}

func (p *peer) write(s string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(s)); err != nil {
		p.t.Fatalf("peer write: %v", err)
	}
}

// result waits for ServeNetwork to return.
func (p *peer) result() error {
	p.t.Helper()
	select {
	case err := <-p.served:
		return err
	case <-time.After(hang):
		p.t.Fatal("ServeNetwork did not return")
		return nil
	}
}

// TestNetworkCall carries a call to a network peer, in plain text and in a
// session: data both ways, +++ (peer bytes dropped meanwhile), ATO, ATH
// ending the network's side, and NO CARRIER when the peer hangs up.
func TestNetworkCall(t *testing.T) {
	guard := 100 * time.Millisecond
	for _, inSession := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "session"}[inSession]
		t.Run(name, func(t *testing.T) {
			s := testSecrets(t, c2c.V2)
			m, c := start(t, Config{Secrets: s, EscapeGuard: guard, Network: true})
			st := plainS
			cmd := c.cmd
			send := c.send
			if inSession {
				c.mustOpen(s)
				st, cmd, send = ptS, c.scmd, c.sendFramed
			}

			// No network yet: the data of a call goes nowhere.
			if got := cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
				t.Fatalf("ATD: %q", got)
			}
			send("lost")
			waitStats(t, m, func(st Stats) bool { return st.NetworkDropped == 4 })
			if got := c.pending(st); len(got) != 0 {
				t.Fatalf("call data looped back with Config.Network: %q", got)
			}

			p := serveNetwork(t, m)
			send("to the network")
			if got := string(p.read(len("to the network"))); got != "to the network" {
				t.Fatalf("network got %q", got)
			}
			all := make([]byte, 256)
			for i := range all {
				all[i] = byte(i)
			}
			p.write(string(all))
			if got := c.next(st, len(all)); !bytes.Equal(got, all) {
				t.Fatalf("host got %q", got)
			}

			// Escape: the '+' of the escape stay on the module; the
			// network's bytes are dropped while the call is left.
			time.Sleep(2 * guard)
			send("+++")
			if got := c.response(st); got != "\r\nOK\r\n" {
				t.Fatalf("escape: %q", got)
			}
			dropped := m.Stats().NetworkDropped
			p.write("while escaped")
			waitStats(t, m, func(st Stats) bool { return st.NetworkDropped == dropped+uint64(len("while escaped")) })
			if got := cmd("ATO"); got != "\r\nCONNECT\r\n" {
				t.Fatalf("ATO: %q", got)
			}
			p.write("back")
			c.expect(st, "back")
			send("x+y")
			if got := string(p.read(3)); got != "x+y" {
				t.Fatalf("network got %q after ATO", got)
			}

			// ATH ends the call, and with it the network's side.
			time.Sleep(2 * guard)
			send("+++")
			c.response(st)
			if got := cmd("ATH"); got != "\r\nOK\r\n" {
				t.Fatalf("ATH: %q", got)
			}
			if err := p.result(); !errors.Is(err, ErrCallEnded) {
				t.Fatalf("ServeNetwork after ATH: %v, want ErrCallEnded", err)
			}

			// The peer hangs up during the next call: NO CARRIER.
			p = serveNetwork(t, m)
			if got := cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
				t.Fatalf("ATD: %q", got)
			}
			p.conn.Close()
			if got := c.response(st); got != "\r\nNO CARRIER\r\n" {
				t.Fatalf("peer hang-up: %q", got)
			}
			if err := p.result(); !errors.Is(err, io.EOF) {
				t.Fatalf("ServeNetwork after the peer hung up: %v, want EOF", err)
			}
			if got := cmd("AT"); got != "\r\nOK\r\n" {
				t.Fatalf("AT after NO CARRIER: %q", got)
			}
			sts := m.Stats()
			if sts.CallUp || sts.DataMode || sts.CallDrops != 1 || sts.Network || sts.PlainBytesInSession != 0 {
				t.Errorf("stats %+v", sts)
			}
			for _, e := range []string{"network", "network end", "network hangup", "no carrier", "call end"} {
				if !m.HasEvent(e) {
					t.Errorf("no %q event in %v", e, m.Events())
				}
			}
		})
	}
}

// TestNetworkNoCall: bytes from the network while no call is up are
// dropped; a module without Config.Network refuses a network.
func TestNetworkNoCall(t *testing.T) {
	m, c := start(t, Config{Network: true})
	p := serveNetwork(t, m)
	p.write("nobody dialled")
	waitStats(t, m, func(st Stats) bool { return st.NetworkDropped == uint64(len("nobody dialled")) })
	if got := c.cmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("AT: %q", got)
	}
	if got := c.pending(plainS); len(got) != 0 {
		t.Fatalf("host got %q", got)
	}
	// A reboot ends no call here: the network stays.
	m.Reboot()
	c.expect(plainS, "RDY")
	if !m.Stats().Network {
		t.Error("network ended by a reboot without a call")
	}

	loop, _ := start(t, Config{})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := loop.ServeNetwork(context.Background(), a); !errors.Is(err, ErrNoNetwork) {
		t.Fatalf("ServeNetwork without Config.Network: %v", err)
	}
}
