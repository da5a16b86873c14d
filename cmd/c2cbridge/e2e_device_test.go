//go:build linux

package main

// End-to-end tests of the bridge serving an existing tty (pty.device)
// instead of a pty of its own. A pty's slave stands in for a USB gadget's
// /dev/ttyGS0, and the test plays the USB host (its /dev/ttyACM0) on the
// master:
//
//	application ↔ pty master ("host") ↔ pty slave (pty.device) ↔ bridge ↔ pty ↔ modemsim
//
// Closing the master hangs the slave up, as the gadget's tty hangs up when
// the USB link goes away; pty.device is a symlink the test points at the
// next pty's slave, as the gadget's tty comes back.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"github.com/c2cbridge/c2cbridge/modemsim"
	"github.com/c2cbridge/c2cbridge/ptyside"
)

// usbPort is one "USB link": a pty whose slave is the gadget's tty and
// whose master is the host's end, where the application is.
type usbPort struct {
	host   *os.File // the master, on Go's poller
	gadget string   // the slave's path
}

// plugUSB makes a pty and points link at its slave. The master is closed
// when t ends, unless unplug closed it.
func plugUSB(t *testing.T, link string) *usbPort {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	p := &usbPort{gadget: s.Name()}
	s.Close()
	if p.host, err = rawtty.Nonblocking(m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.host.Close() })
	repoint(t, link, p.gadget)
	return p
}

// unplug points link at nothing and closes the host's end: the gadget's tty
// hangs up and is gone.
func (p *usbPort) unplug(t *testing.T, link string) {
	t.Helper()
	repoint(t, link, filepath.Join(filepath.Dir(link), "unplugged"))
	if err := p.host.Close(); err != nil {
		t.Fatal(err)
	}
}

// app returns the application on the host's end.
func (p *usbPort) app(t *testing.T) *app {
	return &app{t: t, f: p.host, name: "the host end of " + p.gadget, guard: hangGuard}
}

// repoint makes link a symlink to target, replacing what is there in one
// step.
func repoint(t *testing.T, link, target string) {
	t.Helper()
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// deviceConfig returns the rig's configuration with pty.device at device
// instead of a pty; it is valid as the operator's file would be.
func deviceConfig(t *testing.T, r *rig, device string) config.Config {
	t.Helper()
	cfg := r.config()
	cfg.PTY = config.PTY{Device: device, Mode: config.DefaultPTYMode}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestE2EDevice runs AT through the gadget's tty; a hang-up in a call (the
// USB link went away) ends the call, as an application's departure does,
// and once the tty is back AT works again in the same session, without a
// restart of the bridge.
func TestE2EDevice(t *testing.T) {
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, v)
			device := filepath.Join(r.dir, "ttyGS0")
			usb := plugUSB(t, device)
			tty := r.startBridgeWith(t, deviceConfig(t, r, device))
			if _, ok := tty.(*ptyside.TTY); !ok || tty.Path() != device || !tty.Attached() {
				t.Fatalf("plaintext side %T at %q, attached %v; want a *ptyside.TTY at %q, attached", tty, tty.Path(), tty.Attached(), device)
			}
			a := usb.app(t)
			a.expectCommand("AT", answerOK)
			a.expectCommand("AT+CGMI", answerCGMI)
			a.expectCommand("ATD*99#", "\r\nCONNECT\r\n")

			usb.unplug(t, device)
			waitUntil(t, "the bridge to see the hang-up", func() bool { return !tty.Attached() })
			r.waitModem(t, "the bridge to end the call when the USB link went away", func(st modemsim.Stats) bool {
				return st.Connects == 1 && !st.DataMode && !st.CallUp
			})

			usb = plugUSB(t, device)
			waitUntil(t, "the bridge to reopen the device", tty.Attached)
			a = usb.app(t)
			a.expectCommand("AT", answerOK)
			a.expectCommand("AT+CGMI", answerCGMI)
			checkCleanSession(t, r.stats())
		})
	}
}

// TestE2EDeviceRefusesSecurityCommand: the application on the far end of
// the device is as untrusted as one on the pty (it is the same stream
// code); one attack shows the rules apply.
func TestE2EDeviceRefusesSecurityCommand(t *testing.T) {
	r := newRig(t, c2c.V2)
	device := filepath.Join(r.dir, "ttyGS0")
	usb := plugUSB(t, device)
	r.startBridgeWith(t, deviceConfig(t, r, device))
	keys, err := os.ReadFile(r.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	before := r.stats()
	h := &hostile{t: t, r: r, a: usb.app(t)}
	h.refused("AT+USECC2C=3\r")
	checkAfterHostile(h, before, keys)
}

// TestE2EDeviceNotATTY: a pty.device that is no tty stops the bridge at
// start-up with an error that names the key and says why.
func TestE2EDeviceNotATTY(t *testing.T) {
	r := newRig(t, c2c.V2)
	device := filepath.Join(r.dir, "notatty")
	if err := os.WriteFile(device, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := deviceConfig(t, r, device)
	err := runBridge(context.Background(), &cfg, newTestLogger(t, "bridge"), nil)
	if err == nil || !strings.Contains(err.Error(), "pty.device: ") || !strings.Contains(err.Error(), "not a tty") ||
		!strings.Contains(err.Error(), device) {
		t.Fatalf("runBridge = %v; want an error naming pty.device and %s, saying it is not a tty", err, device)
	}
}
