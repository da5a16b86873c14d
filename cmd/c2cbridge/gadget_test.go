package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/c2cbridge/c2cbridge/config"
)

// fakeKernel is a temporary tree that answers like configfs with
// libcomposite where it matters to the gadget command: making a gadget
// makes its default groups and attributes, making an ACM function makes
// its port_num (or fails as without usb_f_acm), and removing a directory
// takes its attribute files but fails while it holds directories or links.
type fakeKernel struct {
	root  string
	noACM bool // mkdir functions/acm.* fails as without usb_f_acm
	// groups holds the default groups configfs made in a directory: they
	// go when it goes.
	groups map[string][]string
}

func newFakeKernel(t *testing.T, udcs ...string) *fakeKernel {
	t.Helper()
	k := &fakeKernel{root: t.TempDir(), groups: make(map[string][]string)}
	for _, d := range []string{"config/usb_gadget", "udc"} {
		if err := os.MkdirAll(filepath.Join(k.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range udcs {
		if err := os.Mkdir(filepath.Join(k.root, "udc", u), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	k.writeMountinfo(t, "configfs")
	return k
}

// writeMountinfo lists the fake configfs directory as a mount of fstype.
func (k *fakeKernel) writeMountinfo(t *testing.T, fstype string) {
	t.Helper()
	point := strings.ReplaceAll(filepath.Join(k.root, "config"), " ", `\040`)
	info := "22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n" +
		fmt.Sprintf("35 22 0:30 / %s rw,relatime shared:13 - %s %s rw\n", point, fstype, fstype)
	if err := os.WriteFile(filepath.Join(k.root, "mountinfo"), []byte(info), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (k *fakeKernel) sys() gadgetSys {
	return gadgetSys{
		configfs:  filepath.Join(k.root, "config"),
		udcClass:  filepath.Join(k.root, "udc"),
		mountinfo: filepath.Join(k.root, "mountinfo"),
		mkdir:     k.mkdir,
		rmdir:     k.rmdir,
	}
}

func (k *fakeKernel) gadgets() string { return filepath.Join(k.root, "config", "usb_gadget") }

func (k *fakeKernel) mkdir(path string) error {
	parent := filepath.Dir(path)
	if k.noACM && filepath.Base(parent) == "functions" && strings.HasPrefix(filepath.Base(path), "acm.") {
		return &fs.PathError{Op: "mkdir", Path: path, Err: syscall.ENOENT}
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		return err
	}
	var files map[string]string
	switch {
	case parent == k.gadgets():
		k.groups[path] = []string{"configs", "functions", "strings", "os_desc"}
		files = map[string]string{"UDC": "\n", "idVendor": "0x0000\n", "idProduct": "0x0000\n", "bcdUSB": "0x0200\n"}
	case filepath.Base(parent) == "configs":
		k.groups[path] = []string{"strings"}
		files = map[string]string{"MaxPower": "2\n", "bmAttributes": "0x80\n"}
	case filepath.Base(parent) == "functions":
		files = map[string]string{gadgetPortFile: "0\n"}
	}
	for _, d := range k.groups[path] {
		if err := os.Mkdir(filepath.Join(path, d), 0o755); err != nil {
			return err
		}
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(path, name), []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rmdir removes path with its files and default groups. A directory or
// link anything else put there is ENOTEMPTY; a default group itself is
// EPERM; a directory a link points to is EBUSY.
func (k *fakeKernel) rmdir(path string) error {
	var busy func(dir string) bool
	busy = func(dir string) bool {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				return true
			case e.IsDir() && slices.Contains(k.groups[dir], e.Name()):
				if busy(filepath.Join(dir, e.Name())) {
					return true
				}
			case e.IsDir():
				return true
			}
		}
		return false
	}
	if _, err := os.Lstat(path); err != nil {
		return err
	}
	if slices.Contains(k.groups[filepath.Dir(path)], filepath.Base(path)) {
		return &fs.PathError{Op: "rmdir", Path: path, Err: syscall.EPERM}
	}
	if busy(path) {
		return &fs.PathError{Op: "rmdir", Path: path, Err: syscall.ENOTEMPTY}
	}
	linked := false
	_ = filepath.WalkDir(k.gadgets(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(p), target)
			}
			if filepath.Clean(target) == path {
				linked = true
			}
		}
		return nil
	})
	if linked { // a function still in a configuration
		return &fs.PathError{Op: "rmdir", Path: path, Err: syscall.EBUSY}
	}
	delete(k.groups, path)
	return os.RemoveAll(path)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGadgetUpDown: up writes the tree the kernel wants and binds it,
// again is a no-op, down removes it all, again is a no-op.
func TestGadgetUpDown(t *testing.T) {
	k := newFakeKernel(t, "dummy_udc.0")
	sys := k.sys()
	g := config.DefaultGadget()
	g.Serial = "c2cbridge-test"

	msg, err := sys.up(g)
	if err != nil {
		t.Fatal(err)
	}
	if want := "gadget c2cbridge is up on dummy_udc.0 (1546:1102), tty /dev/ttyGS0"; msg != want {
		t.Errorf("up said %q, want %q", msg, want)
	}
	dir := filepath.Join(k.gadgets(), "c2cbridge")
	for rel, want := range map[string]string{
		"idVendor":                                "0x1546\n",
		"idProduct":                               "0x1102\n",
		"strings/0x409/manufacturer":              "u-blox\n",
		"strings/0x409/product":                   "SARA-R5 via c2cbridge\n",
		"strings/0x409/serialnumber":              "c2cbridge-test\n",
		"configs/c.1/strings/0x409/configuration": "CDC ACM\n",
		"UDC": "dummy_udc.0\n",
	} {
		if got := readFile(t, filepath.Join(dir, rel)); got != want {
			t.Errorf("%s: %q, want %q", rel, got, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "configs/c.1/acm.usb0")); err != nil || target != filepath.Join(dir, "functions/acm.usb0") {
		t.Errorf("configs/c.1/acm.usb0 -> %q (%v), want the function", target, err)
	}

	if msg, err := sys.up(g); err != nil || msg != "gadget c2cbridge is already up on dummy_udc.0, tty /dev/ttyGS0" {
		t.Errorf("up again: %q, %v", msg, err)
	}

	msg, err = sys.down(g)
	if err != nil {
		t.Fatal(err)
	}
	if want := "gadget c2cbridge is down (unbound from dummy_udc.0)"; msg != want {
		t.Errorf("down said %q, want %q", msg, want)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the gadget's directory is still there (%v)", err)
	}
	if msg, err := sys.down(g); err != nil || msg != "gadget c2cbridge is not up" {
		t.Errorf("down again: %q, %v", msg, err)
	}
}

// TestGadgetUpCompletes: a gadget left half-made and unbound (an up that
// failed, or a down that was interrupted) is completed and bound.
func TestGadgetUpCompletes(t *testing.T) {
	k := newFakeKernel(t, "dummy_udc.0")
	sys := k.sys()
	g := config.DefaultGadget()
	dir := filepath.Join(k.gadgets(), g.Name)
	if err := k.mkdir(dir); err != nil {
		t.Fatal(err)
	}
	if err := k.mkdir(filepath.Join(dir, "functions", "acm.usb0")); err != nil {
		t.Fatal(err)
	}
	if err := k.mkdir(filepath.Join(dir, "configs", "c.1")); err != nil {
		t.Fatal(err)
	}
	// configfs reads its links back relative.
	if err := os.Symlink("../../functions/acm.usb0", filepath.Join(dir, "configs", "c.1", "acm.usb0")); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.up(g); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "UDC")); got != "dummy_udc.0\n" {
		t.Errorf("UDC %q, want dummy_udc.0", got)
	}
	if _, err := os.Readlink(filepath.Join(dir, "configs/c.1/acm.usb0")); err != nil {
		t.Errorf("the function is not in the configuration: %v", err)
	}
	if _, err := sys.down(g); err != nil {
		t.Errorf("down: %v", err)
	}
}

func TestGadgetErrors(t *testing.T) {
	tests := []struct {
		name  string
		udcs  []string
		udc   string                        // gadget.udc
		setup func(*testing.T, *fakeKernel) // breaks the kernel
		is    error                         // errors.Is, or nil
		msg   string                        // a substring of the error
	}{
		{name: "configfs not mounted", udcs: []string{"u0"},
			setup: func(t *testing.T, k *fakeKernel) { k.writeMountinfo(t, "tmpfs") },
			is:    errNoConfigfs, msg: "configfs is not mounted"},
		{name: "libcomposite not loaded", udcs: []string{"u0"},
			setup: func(t *testing.T, k *fakeKernel) {
				if err := os.Remove(k.gadgets()); err != nil {
					t.Fatal(err)
				}
			},
			is: errNoLibcomposite, msg: "modprobe libcomposite"},
		{name: "no usb_f_acm", udcs: []string{"u0"},
			setup: func(t *testing.T, k *fakeKernel) { k.noACM = true },
			is:    errNoACM, msg: "usb_f_acm"},
		{name: "no UDC", is: errNoUDC, msg: "modprobe dummy_hcd"},
		{name: "no UDC class directory", is: errNoUDC,
			setup: func(t *testing.T, k *fakeKernel) {
				if err := os.Remove(filepath.Join(k.root, "udc")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "several UDCs", udcs: []string{"dummy_udc.0", "dummy_udc.1"},
			msg: "several USB device controllers (dummy_udc.0, dummy_udc.1): set gadget.udc"},
		{name: "configured UDC missing", udcs: []string{"dummy_udc.0"}, udc: "musb-hdrc.0",
			msg: "gadget.udc musb-hdrc.0 is not in"},
		{name: "bound elsewhere", udcs: []string{"dummy_udc.0", "dummy_udc.1"}, udc: "dummy_udc.1",
			setup: func(t *testing.T, k *fakeKernel) {
				g := config.DefaultGadget()
				g.UDC = "dummy_udc.0"
				if _, err := k.sys().up(g); err != nil {
					t.Fatal(err)
				}
			},
			msg: "bound to dummy_udc.0, not to the configured udc dummy_udc.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel(t, tc.udcs...)
			if tc.setup != nil {
				tc.setup(t, k)
			}
			g := config.DefaultGadget()
			g.UDC = tc.udc
			_, err := k.sys().up(g)
			if err == nil {
				t.Fatal("up succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// TestGadgetDownLeavesOthers: down removes its own gadget only.
func TestGadgetDownLeavesOthers(t *testing.T) {
	k := newFakeKernel(t, "dummy_udc.0", "dummy_udc.1")
	sys := k.sys()
	app := config.DefaultGadget()
	app.Name, app.UDC, app.Serial = "app", "dummy_udc.1", "c2cbridge-app"
	mod := config.DefaultGadget()
	mod.UDC = "dummy_udc.0"
	for _, g := range []config.Gadget{app, mod} {
		if _, err := sys.up(g); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sys.down(mod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(k.gadgets(), "app", "UDC")); got != "dummy_udc.1\n" {
		t.Errorf("the other gadget's UDC is %q", got)
	}
}

// TestGadgetCommand runs the command line: flags, the config file, exit
// statuses.
func TestGadgetCommand(t *testing.T) {
	k := newFakeKernel(t, "dummy_udc.0")
	cfg := filepath.Join(t.TempDir(), "gadget.yaml")
	if err := os.WriteFile(cfg, []byte("gadget:\n  name: sim\n  product_id: 0x01a9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("gadget:\n  vendor_id: 1546\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noPrefix := filepath.Join(t.TempDir(), "sim.yaml")
	if err := os.WriteFile(noPrefix, []byte("gadget:\n  serial: sim0001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		rc     int
		stdout string // a substring
		stderr string // a substring
	}{
		{args: nil, rc: 2, stderr: "Usage:"},
		{args: []string{"sideways"}, rc: 2, stderr: `unknown subcommand "sideways"`},
		{args: []string{"help"}, rc: 0, stdout: "gadget up --config FILE"},
		{args: []string{"help"}, rc: 0, stdout: "serial must\nstart with c2cbridge- (the udev rule"},
		{args: []string{"up", "--config", cfg, "extra"}, rc: 2, stderr: `unexpected argument "extra"`},
		{args: []string{"up", "--config", bad}, rc: 1, stderr: "write it in hex"},
		{args: []string{"up", "--config", noPrefix}, rc: 1, stderr: `gadget.serial: "sim0001" does not start with "c2cbridge-"`},
		{args: []string{"up", "-c", cfg}, rc: 0, stdout: "c2cbridge gadget: gadget sim is up on dummy_udc.0 (1546:01a9), tty /dev/ttyGS0"},
		{args: []string{"up", "--config", cfg}, rc: 0, stdout: "gadget sim is already up on dummy_udc.0"},
		{args: []string{"down", "--config", cfg}, rc: 0, stdout: "gadget sim is down"},
		{args: []string{"down", "--config", cfg}, rc: 0, stdout: "gadget sim is not up"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		rc := runGadget(k.sys(), tc.args, &stdout, &stderr)
		if rc != tc.rc || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("gadget %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, rc, stdout.String(), stderr.String(), tc.rc, tc.stdout, tc.stderr)
		}
	}
	// Registered in the command table.
	var stdout, stderr bytes.Buffer
	if rc := runMain([]string{"gadget", "help"}, &stdout, &stderr); rc != 0 || !strings.Contains(stdout.String(), "gadget down") {
		t.Errorf("c2cbridge gadget help: exit %d, %q", rc, stdout.String())
	}
}

func TestParseMountinfoLine(t *testing.T) {
	tests := []struct {
		line, point, fstype string
		ok                  bool
	}{
		{"36 25 0:31 / /sys/kernel/config rw,nosuid,nodev,noexec,relatime shared:14 - configfs configfs rw", "/sys/kernel/config", "configfs", true},
		{"36 25 0:31 / /sys/kernel/config rw - configfs configfs rw", "/sys/kernel/config", "configfs", true},
		{`40 1 0:40 / /mnt/a\040b\134c rw shared:1 master:2 - tmpfs none rw`, `/mnt/a b\c`, "tmpfs", true},
		{`40 1 0:40 / /mnt/x\04 rw - tmpfs none rw`, `/mnt/x\04`, "tmpfs", true},
		{"36 25 0:31 / /sys/kernel/config rw configfs configfs rw", "", "", false},
		{"36 25 0:31 / - configfs", "", "", false},
		{"- configfs", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		point, fstype, ok := parseMountinfoLine(tc.line)
		if point != tc.point || fstype != tc.fstype || ok != tc.ok {
			t.Errorf("%q: %q %q %v, want %q %q %v", tc.line, point, fstype, ok, tc.point, tc.fstype, tc.ok)
		}
	}
}

func FuzzParseMountinfoLine(f *testing.F) {
	f.Add("36 25 0:31 / /sys/kernel/config rw,nosuid shared:14 - configfs configfs rw")
	f.Add(`40 1 0:40 / /mnt/a\040b\134c rw - tmpfs none rw`)
	f.Add(`1 2 3 4 \0 6 - t`)
	f.Fuzz(func(t *testing.T, line string) {
		point, fstype, ok := parseMountinfoLine(line)
		if !ok && (point != "" || fstype != "") {
			t.Fatalf("%q: not ok but %q %q", line, point, fstype)
		}
		if ok && (fstype == "" || strings.ContainsAny(fstype, " \t\n")) {
			t.Fatalf("%q: fstype %q", line, fstype)
		}
	})
}
