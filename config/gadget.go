package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// GadgetSerialPrefix starts every gadget's serial number. The udev rule
// that names the module's UART (systemd/99-c2cbridge.rules) excludes
// ATTRS{serial}=="c2cbridge-*", so the bridge never takes its own
// application port for the modem, and never hides that port from
// ModemManager; Validate refuses a serial without it.
const GadgetSerialPrefix = "c2cbridge-"

// Defaults of the gadget section: the application side of the bridge as a
// USB device that looks like the module itself (u-blox's vendor id, which
// ModemManager's u-blox plugin matches), so ModemManager and applications
// on the host side find a u-blox modem speaking plain AT.
const (
	DefaultGadgetName     = "c2cbridge"
	DefaultGadgetVendorID = 0x1546 // u-blox
	// DefaultGadgetProductID is a u-blox cellular module's id (LISA-U2 and
	// SARA-U2 in CDC ACM mode), which ModemManager's udev rules leave a
	// modem candidate. Not 0x01a8: that is u-blox's GNSS receiver, which
	// ModemManager's rules ignore (ID_MM_DEVICE_IGNORE).
	DefaultGadgetProductID    = 0x1102
	DefaultGadgetManufacturer = "u-blox"
	DefaultGadgetProduct      = "SARA-R5 via c2cbridge"
	DefaultGadgetSerial       = GadgetSerialPrefix + "0"
	// MaxGadgetString is the longest USB string descriptor, in UTF-16
	// code units: 255 bytes less the 2-byte header, 2 bytes per unit.
	MaxGadgetString = 126
)

// Gadget describes a USB gadget with one CDC ACM serial function, made in
// the kernel's configfs by "c2cbridge gadget up" (and removed by "gadget
// down"): the machine plays a USB device whose tty is /dev/ttyGS<N> on
// its side and /dev/ttyACM<M> on the host it is plugged into (the same
// machine with dummy_hcd, another one through a real USB device
// controller). The section is "gadget:" and describes the bridge's
// application side: the bridge serves the gadget's /dev/ttyGS<N>
// (pty.device) and ModemManager or the applications open the host's
// /dev/ttyACM<M>. The tests also use it, in a file of its own, to put the
// simulated module behind a USB port.
type Gadget struct {
	// Name is the gadget's directory under
	// /sys/kernel/config/usb_gadget/.
	Name string `yaml:"name"`
	// UDC is the USB device controller to bind to, an entry of
	// /sys/class/udc. Empty: the only one there (an error if there are
	// several).
	UDC string `yaml:"udc"`
	// VendorID and ProductID are the USB ids the host sees.
	VendorID  USBID `yaml:"vendor_id"`
	ProductID USBID `yaml:"product_id"`
	// Manufacturer, Product and Serial are the device's USB strings
	// (udev builds /dev/serial/by-id/usb-MANUFACTURER_PRODUCT_SERIAL-if00
	// from them, spaces as "_"). Serial starts with GadgetSerialPrefix.
	Manufacturer string `yaml:"manufacturer"`
	Product      string `yaml:"product"`
	Serial       string `yaml:"serial"`
}

// DefaultGadget returns the gadget section's defaults.
func DefaultGadget() Gadget {
	return Gadget{
		Name:         DefaultGadgetName,
		VendorID:     DefaultGadgetVendorID,
		ProductID:    DefaultGadgetProductID,
		Manufacturer: DefaultGadgetManufacturer,
		Product:      DefaultGadgetProduct,
		Serial:       DefaultGadgetSerial,
	}
}

// gadgetName is what a configfs directory name may be here: one path
// element, no spaces.
var gadgetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Validate checks the section and names the key of the first bad value
// (gadget.KEY).
func (g *Gadget) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("gadget.%s: %s", key, fmt.Sprintf(format, args...))
	}
	if !gadgetName.MatchString(g.Name) || len(g.Name) > 64 {
		return bad("name", "%q is not a directory name (letters, digits, _ . -, at most 64)", g.Name)
	}
	if g.UDC != "" && (strings.ContainsAny(g.UDC, "/\n") || g.UDC == "." || g.UDC == "..") {
		return bad("udc", "%q is not an entry of /sys/class/udc", g.UDC)
	}
	for _, s := range []struct{ key, v string }{
		{"manufacturer", g.Manufacturer}, {"product", g.Product}, {"serial", g.Serial},
	} {
		if s.v == "" {
			return bad(s.key, "must not be empty")
		}
		if n := utf16Len(s.v); n > MaxGadgetString {
			return bad(s.key, "%d UTF-16 units, more than a USB string holds (%d)", n, MaxGadgetString)
		}
		if i := strings.IndexFunc(s.v, unicode.IsControl); i >= 0 {
			return bad(s.key, "holds a control character at byte %d", i)
		}
	}
	if !strings.HasPrefix(g.Serial, GadgetSerialPrefix) {
		return bad("serial", "%q does not start with %q: the udev rule for the module's UART "+
			"(99-c2cbridge.rules) skips serials with that prefix, so without it the bridge's own "+
			"port could be taken for the modem", g.Serial, GadgetSerialPrefix)
	}
	return nil
}

// utf16Len is the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r > 0xffff {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// LoadGadget reads the configuration file at path and returns its gadget
// section (the defaults where it leaves keys out). The whole file is read
// strictly, so an unknown key anywhere is an error, but only the gadget
// section is checked: a file may hold just "gadget:".
func LoadGadget(path string) (Gadget, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Gadget{}, fmt.Errorf("read config: %w", err)
	}
	c := Default()
	if err := decodeStrict(data, &c); err != nil {
		return Gadget{}, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Gadget.Validate(); err != nil {
		return Gadget{}, fmt.Errorf("config %s: %w: %w", path, ErrInvalid, err)
	}
	return c.Gadget, nil
}

// USBID is a 16-bit USB vendor or product id. In YAML it is written in
// hex, as lsusb and udev show it: a hex number (0x1546) or a string with
// or without 0x ("1546", "0x1546"). A plain decimal number is refused:
// vendor_id: 1546 would silently mean 0x060a.
type USBID uint16

// String formats the id as configfs takes it: 0x and four hex digits.
func (id USBID) String() string { return fmt.Sprintf("%#04x", uint16(id)) }

// UnmarshalYAML parses a hex id.
func (id *USBID) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a USB id in hex like 0x1546", n.Line)
	}
	s := n.Value
	lower := strings.ToLower(s)
	switch {
	case n.Tag == "!!int" && !strings.HasPrefix(lower, "0x"):
		return fmt.Errorf("line %d: USB id %s: write it in hex, 0x%s or \"%s\" (a plain number is read as decimal)", n.Line, s, s, s)
	case n.Tag != "!!int" && n.Tag != "!!str":
		return fmt.Errorf("line %d: want a USB id in hex like 0x1546", n.Line)
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(lower, "0x"), 16, 16)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a USB id (four hex digits, like 0x1546)", n.Line, s)
	}
	*id = USBID(v)
	return nil
}

// MarshalYAML writes the id in hex.
func (id USBID) MarshalYAML() (any, error) { return id.String(), nil }
