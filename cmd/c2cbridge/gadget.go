package main

// c2cbridge gadget up|down: a USB gadget with one CDC ACM serial port,
// made in the kernel's configfs: the bridge's application side
// (c2cbridge-gadget.service runs it before c2cbridge.service).

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/c2cbridge/c2cbridge/config"
)

const gadgetUsage = `Usage:
  c2cbridge gadget up --config FILE     create the USB gadget of FILE's gadget: section and bind it (-c FILE)
  c2cbridge gadget down --config FILE   unbind and remove it

The gadget is the bridge's application side: a USB device with one CDC
ACM serial function that looks like the module (u-blox's vendor id by
default). On this machine its tty is /dev/ttyGS<N> (printed by "up"),
which the bridge serves (pty.device in the configuration); the host it is
plugged into sees a /dev/ttyACM<M>, which ModemManager or the
applications open. With dummy_hcd the host is this machine; a real USB
device controller exposes the port to another computer. The serial must
start with ` + config.GadgetSerialPrefix + ` (the udev rule for the module's UART skips
those, so the bridge never takes its own port for the modem).

Both commands are idempotent and need root (c2cbridge-gadget.service runs
them; the bridge itself needs no privilege). Needed kernel modules:
libcomposite, usb_f_acm (loaded on demand), a UDC driver (dummy_hcd for a
loopback one).
`

// The layout the gadget command writes under configfs's usb_gadget/NAME.
const (
	gadgetConfig   = "configs/c.1" // the one configuration
	gadgetFunction = "acm.usb0"    // the one function: CDC ACM
	gadgetLang     = "0x409"       // strings in US English
	gadgetConfigID = "CDC ACM"     // the configuration's string
	gadgetPortFile = "port_num"    // the function's /dev/ttyGS<N> number
	gadgetUDCFile  = "UDC"         // bind by writing a UDC's name
	gadgetsDir     = "usb_gadget"  // libcomposite's directory in configfs
	configfsType   = "configfs"    // the file system type in mountinfo
	gadgetDirMode  = fs.FileMode(0o755)
)

// Errors that say which part of the kernel is missing.
var (
	errNoConfigfs     = errors.New("configfs is not mounted (mount -t configfs none /sys/kernel/config)")
	errNoLibcomposite = errors.New("kernel module libcomposite is not loaded (modprobe libcomposite)")
	errNoACM          = errors.New("kernel module usb_f_acm is missing: the kernel cannot make an ACM function (modprobe usb_f_acm)")
	errNoUDC          = errors.New("no USB device controller in /sys/class/udc (modprobe dummy_hcd for a loopback one)")
)

// gadgetSys is where the kernel's files are: the real ones by default,
// a temporary tree in tests.
type gadgetSys struct {
	// configfs is configfs's mount point (/sys/kernel/config).
	configfs string
	// udcClass lists the USB device controllers (/sys/class/udc).
	udcClass string
	// mountinfo is the mount table (/proc/self/mountinfo).
	mountinfo string
	// mkdir makes a directory; configfs answers some with errors only a
	// kernel gives (tests inject them).
	mkdir func(path string) error
	// rmdir removes a configfs directory, which takes its attribute files
	// with it.
	rmdir func(path string) error
}

// systemGadgetSys returns the real kernel's paths.
func systemGadgetSys() gadgetSys {
	return gadgetSys{
		configfs:  "/sys/kernel/config",
		udcClass:  "/sys/class/udc",
		mountinfo: "/proc/self/mountinfo",
		mkdir:     func(path string) error { return os.Mkdir(path, gadgetDirMode) },
		rmdir:     syscall.Rmdir,
	}
}

// cmdGadget runs c2cbridge gadget up|down.
func cmdGadget(args []string, stdout, stderr io.Writer) int {
	return runGadget(systemGadgetSys(), args, stdout, stderr)
}

// runGadget is cmdGadget on the kernel files sys names.
func runGadget(sys gadgetSys, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, gadgetUsage)
		return 2
	}
	sub := args[0]
	switch sub {
	case "up", "down":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, gadgetUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "c2cbridge gadget: unknown subcommand %q\n\n%s", sub, gadgetUsage)
		return 2
	}
	flags := flag.NewFlagSet("gadget "+sub, flag.ContinueOnError)
	flags.SetOutput(stderr)
	var path string
	flags.StringVar(&path, "config", "/etc/c2cbridge/config.yaml", "configuration `FILE` (its gadget: section)")
	flags.StringVar(&path, "c", "/etc/c2cbridge/config.yaml", "configuration `FILE` (short for --config)")
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "c2cbridge gadget %s: unexpected argument %q\n", sub, flags.Arg(0))
		return 2
	}
	g, err := config.LoadGadget(path)
	if err != nil {
		return fail(stderr, err)
	}
	var msg string
	if sub == "up" {
		msg, err = sys.up(g)
	} else {
		msg, err = sys.down(g)
	}
	if err != nil {
		return fail(stderr, fmt.Errorf("gadget %s: %w", sub, err))
	}
	fmt.Fprintln(stdout, "c2cbridge gadget:", msg)
	return 0
}

// gadgetDir is the gadget's directory in configfs.
func (s gadgetSys) gadgetDir(g config.Gadget) string {
	return filepath.Join(s.configfs, gadgetsDir, g.Name)
}

// checkKernel tells a missing configfs from a missing libcomposite.
func (s gadgetSys) checkKernel() error {
	mounted, err := isMountedAs(s.mountinfo, s.configfs, configfsType)
	if err != nil {
		return err
	}
	if !mounted {
		return errNoConfigfs
	}
	if fi, err := os.Stat(filepath.Join(s.configfs, gadgetsDir)); err != nil || !fi.IsDir() {
		return errNoLibcomposite
	}
	return nil
}

// up creates the gadget and binds it, or says it is up already. It
// returns the line to print.
func (s gadgetSys) up(g config.Gadget) (string, error) {
	if err := s.checkKernel(); err != nil {
		return "", err
	}
	dir := s.gadgetDir(g)
	bound, err := readAttr(filepath.Join(dir, gadgetUDCFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if bound != "" {
		if g.UDC != "" && bound != g.UDC {
			return "", fmt.Errorf("gadget %s is bound to %s, not to the configured udc %s: run gadget down first", g.Name, bound, g.UDC)
		}
		return fmt.Sprintf("gadget %s is already up on %s%s", g.Name, bound, s.ttyNote(dir)), nil
	}
	udc, err := s.pickUDC(g.UDC)
	if err != nil {
		return "", err
	}
	if err := s.build(g, dir); err != nil {
		return "", err
	}
	if err := writeAttr(filepath.Join(dir, gadgetUDCFile), udc); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return "", fmt.Errorf("USB device controller %s is in use by another gadget: %w", udc, err)
		}
		return "", fmt.Errorf("bind to %s: %w", udc, err)
	}
	return fmt.Sprintf("gadget %s is up on %s (%s:%s)%s", g.Name, udc,
		strings.TrimPrefix(g.VendorID.String(), "0x"), strings.TrimPrefix(g.ProductID.String(), "0x"), s.ttyNote(dir)), nil
}

// build writes the gadget's tree: ids, strings, the ACM function and the
// configuration that holds it. Every step may find its work done (a
// directory configfs made itself, or a previous "up" that stopped
// half-way).
func (s gadgetSys) build(g config.Gadget, dir string) error {
	mkdir := func(rel string) error {
		err := s.mkdir(filepath.Join(dir, rel))
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("make %s: %w", filepath.Join(dir, rel), err)
		}
		return nil
	}
	for _, rel := range []string{".", "strings", filepath.Join("strings", gadgetLang), "configs", gadgetConfig,
		filepath.Join(gadgetConfig, "strings"), filepath.Join(gadgetConfig, "strings", gadgetLang), "functions"} {
		if err := mkdir(rel); err != nil {
			return err
		}
	}
	fn := filepath.Join("functions", gadgetFunction)
	if err := s.mkdir(filepath.Join(dir, fn)); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
			return fmt.Errorf("%w (make %s: %v)", errNoACM, filepath.Join(dir, fn), err)
		}
		return fmt.Errorf("make %s: %w", filepath.Join(dir, fn), err)
	}
	for _, a := range []struct{ rel, value string }{
		{"idVendor", g.VendorID.String()},
		{"idProduct", g.ProductID.String()},
		{filepath.Join("strings", gadgetLang, "manufacturer"), g.Manufacturer},
		{filepath.Join("strings", gadgetLang, "product"), g.Product},
		{filepath.Join("strings", gadgetLang, "serialnumber"), g.Serial},
		{filepath.Join(gadgetConfig, "strings", gadgetLang, "configuration"), gadgetConfigID},
	} {
		if err := writeAttr(filepath.Join(dir, a.rel), a.value); err != nil {
			return err
		}
	}
	// configfs allows a configuration only links to functions of its own
	// gadget: an existing link with this name is the one to fn.
	link := filepath.Join(dir, gadgetConfig, gadgetFunction)
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	if err := os.Symlink(filepath.Join(dir, fn), link); err != nil {
		return fmt.Errorf("add %s to %s: %w", gadgetFunction, gadgetConfig, err)
	}
	return nil
}

// ttyNote names the gadget-side tty of the ACM function, when the kernel
// says which it is.
func (s gadgetSys) ttyNote(dir string) string {
	n, err := readAttr(filepath.Join(dir, "functions", gadgetFunction, gadgetPortFile))
	if err != nil || n == "" {
		return ""
	}
	return ", tty /dev/ttyGS" + n
}

// pickUDC returns the controller to bind to: want if it exists, else the
// only one there is.
func (s gadgetSys) pickUDC(want string) (string, error) {
	entries, err := os.ReadDir(s.udcClass)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("list USB device controllers: %w", err)
	}
	var udcs []string
	for _, e := range entries {
		udcs = append(udcs, e.Name())
	}
	switch {
	case len(udcs) == 0:
		return "", errNoUDC
	case want != "" && !slices.Contains(udcs, want):
		return "", fmt.Errorf("gadget.udc %s is not in %s (there: %s)", want, s.udcClass, strings.Join(udcs, ", "))
	case want != "":
		return want, nil
	case len(udcs) > 1:
		return "", fmt.Errorf("several USB device controllers (%s): set gadget.udc to one", strings.Join(udcs, ", "))
	}
	return udcs[0], nil
}

// down unbinds the gadget and removes its tree, children first, or says
// there is none.
func (s gadgetSys) down(g config.Gadget) (string, error) {
	if err := s.checkKernel(); err != nil {
		return "", err
	}
	dir := s.gadgetDir(g)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("gadget %s is not up", g.Name), nil
	}
	bound, err := readAttr(filepath.Join(dir, gadgetUDCFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if bound != "" {
		if err := writeAttr(filepath.Join(dir, gadgetUDCFile), ""); err != nil {
			return "", fmt.Errorf("unbind from %s: %w", bound, err)
		}
	}
	// Functions leave their configurations first (symbolic links), then
	// the directories go, each after its children.
	configs, err := subdirs(filepath.Join(dir, "configs"))
	if err != nil {
		return "", err
	}
	for _, c := range configs {
		entries, err := os.ReadDir(c)
		if err != nil {
			return "", fmt.Errorf("list %s: %w", c, err)
		}
		for _, e := range entries {
			if e.Type()&fs.ModeSymlink != 0 {
				if err := os.Remove(filepath.Join(c, e.Name())); err != nil {
					return "", fmt.Errorf("remove %s: %w", filepath.Join(c, e.Name()), err)
				}
			}
		}
		if err := s.removeChildren(filepath.Join(c, "strings")); err != nil {
			return "", err
		}
		if err := s.remove(c); err != nil {
			return "", err
		}
	}
	for _, parent := range []string{"functions", "strings", "os_desc"} {
		if err := s.removeChildren(filepath.Join(dir, parent)); err != nil {
			return "", err
		}
	}
	if err := s.remove(dir); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("gadget %s is down", g.Name)
	if bound != "" {
		msg += " (unbound from " + bound + ")"
	}
	return msg, nil
}

// removeChildren removes the directories in parent (configfs made parent
// itself; it goes with the gadget).
func (s gadgetSys) removeChildren(parent string) error {
	dirs, err := subdirs(parent)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := s.remove(d); err != nil {
			return err
		}
	}
	return nil
}

// remove removes one configfs directory.
func (s gadgetSys) remove(dir string) error {
	if err := s.rmdir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// subdirs lists the directories in dir (none if dir does not exist).
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	return dirs, nil
}

// readAttr reads a configfs attribute without its newline.
func readAttr(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeAttr writes a configfs attribute.
func writeAttr(path, value string) error {
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// isMountedAs reports whether mountinfo (proc_pid_mountinfo(5)) lists a
// mount of fstype at dir.
func isMountedAs(mountinfo, dir, fstype string) (bool, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return false, fmt.Errorf("read the mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		point, typ, ok := parseMountinfoLine(sc.Text())
		if ok && typ == fstype && filepath.Clean(point) == filepath.Clean(dir) {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read the mount table: %w", err)
	}
	return false, nil
}

// parseMountinfoLine returns a mountinfo line's mount point (unescaped)
// and file system type: "ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] -
// TYPE SOURCE SUPEROPTIONS".
func parseMountinfoLine(line string) (point, fstype string, ok bool) {
	fields := strings.Fields(line)
	sep := slices.Index(fields, "-")
	if sep < 6 || sep+1 >= len(fields) {
		return "", "", false
	}
	return unescapeMountinfo(fields[4]), fields[sep+1], true
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
