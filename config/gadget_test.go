package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestGadgetDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := Gadget{Name: "c2cbridge", VendorID: 0x1546, ProductID: 0x1102,
		Manufacturer: "u-blox", Product: "SARA-R5 via c2cbridge", Serial: "c2cbridge-0"}
	if c.Gadget != want {
		t.Errorf("defaults: got %+v, want %+v", c.Gadget, want)
	}
	if got := c.Gadget.VendorID.String(); got != "0x1546" {
		t.Errorf("vendor id formats as %q, want 0x1546 (configfs's form)", got)
	}
	// The udev rule for the module's UART skips this prefix.
	if !strings.HasPrefix(c.Gadget.Serial, "c2cbridge-") || GadgetSerialPrefix != "c2cbridge-" {
		t.Errorf("serial %q, prefix %q: want both to start with c2cbridge-", c.Gadget.Serial, GadgetSerialPrefix)
	}
}

// TestLoadGadget: a file may hold only the gadget section; keys left out
// keep their defaults.
func TestLoadGadget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gadget.yaml")
	if err := os.WriteFile(path, []byte("gadget:\n  udc: dummy_udc.1\n  serial: c2cbridge-app\n  product_id: \"01A9\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGadget(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultGadget()
	want.UDC, want.Serial, want.ProductID = "dummy_udc.1", "c2cbridge-app", 0x01a9
	if g != want {
		t.Errorf("got %+v, want %+v", g, want)
	}
}

func TestGadgetValues(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       Gadget // compared when err is ""
		err        string // a substring of the error
	}{
		{name: "hex number", yaml: "vendor_id: 0x1d6b\nproduct_id: 0x0104",
			want: Gadget{VendorID: 0x1d6b, ProductID: 0x0104}},
		{name: "hex strings", yaml: "vendor_id: \"1d6b\"\nproduct_id: \"0X0104\"",
			want: Gadget{VendorID: 0x1d6b, ProductID: 0x0104}},
		{name: "max", yaml: "vendor_id: 0xffff\nproduct_id: \"0\"", want: Gadget{VendorID: 0xffff}},
		{name: "decimal refused", yaml: "vendor_id: 1546", err: "write it in hex, 0x1546"},
		{name: "too large", yaml: "vendor_id: 0x10000", err: "not a USB id"},
		{name: "not hex", yaml: "product_id: \"01g8\"", err: "not a USB id"},
		{name: "empty id", yaml: "product_id: \"\"", err: "not a USB id"},
		{name: "a list", yaml: "product_id: [1]", err: "want a USB id in hex"},
		{name: "a bool", yaml: "product_id: true", err: "want a USB id in hex"},
		{name: "bad name", yaml: "name: ../x", err: "gadget.name"},
		{name: "empty name", yaml: "name: \"\"", err: "gadget.name"},
		{name: "udc with slash", yaml: "udc: a/b", err: "gadget.udc"},
		{name: "empty product", yaml: "product: \"\"", err: "gadget.product: must not be empty"},
		{name: "serial too long", yaml: "serial: c2cbridge-" + strings.Repeat("x", 117), err: "gadget.serial: 127 UTF-16 units"},
		{name: "serial at the limit", yaml: "serial: c2cbridge-" + strings.Repeat("x", 116),
			want: Gadget{Serial: "c2cbridge-" + strings.Repeat("x", 116)}},
		{name: "serial with the prefix", yaml: "serial: c2cbridge-sim0001", want: Gadget{Serial: "c2cbridge-sim0001"}},
		{name: "serial without the prefix", yaml: "serial: sim0001",
			err: `gadget.serial: "sim0001" does not start with "c2cbridge-": the udev rule for the module's UART`},
		{name: "prefix not at the start", yaml: "serial: x-c2cbridge-0", err: `does not start with "c2cbridge-"`},
		{name: "prefix in another case", yaml: "serial: C2CBRIDGE-0", err: `does not start with "c2cbridge-"`},
		{name: "astral characters count twice", yaml: "manufacturer: " + strings.Repeat("😀", 64), err: "gadget.manufacturer: 128 UTF-16 units"},
		{name: "control character", yaml: "manufacturer: \"u-\\nblox\"", err: "gadget.manufacturer: holds a control character"},
		{name: "unknown key", yaml: "vendor: 0x1546", err: `unknown key "vendor"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			indented := "  " + strings.ReplaceAll(tc.yaml, "\n", "\n  ")
			c, err := Parse([]byte(minimal + "gadget:\n" + indented + "\n"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Keys the row leaves out keep their defaults.
			want := DefaultGadget()
			if tc.want.VendorID != 0 || strings.Contains(tc.yaml, "vendor_id") {
				want.VendorID = tc.want.VendorID
			}
			if tc.want.ProductID != 0 || strings.Contains(tc.yaml, "product_id") {
				want.ProductID = tc.want.ProductID
			}
			if tc.want.Serial != "" {
				want.Serial = tc.want.Serial
			}
			if c.Gadget != want {
				t.Errorf("got %+v, want %+v", c.Gadget, want)
			}
		})
	}
}

// FuzzUSBID: any accepted id formats back to text that parses to the same
// id; nothing panics.
func FuzzUSBID(f *testing.F) {
	for _, s := range []string{"0x1546", `"1546"`, "1546", `"0x"`, "0xffff", "0x10000", `"-1"`, "[1]", "~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var doc struct {
			ID USBID `yaml:"id"`
		}
		if err := yaml.Unmarshal([]byte("id: "+v), &doc); err != nil {
			return
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var again struct {
			ID USBID `yaml:"id"`
		}
		if err := yaml.Unmarshal(out, &again); err != nil {
			t.Fatalf("%q -> %q: %v", v, out, err)
		}
		if again.ID != doc.ID {
			t.Fatalf("%q -> %v -> %q -> %v", v, doc.ID, out, again.ID)
		}
	})
}

// TestGadgetExample: the commented-out gadget section of
// config.yaml.example, uncommented, parses to the defaults it claims.
func TestGadgetExample(t *testing.T) {
	data, err := os.ReadFile("../config.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	var section []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "#gadget:":
			section = append(section, "gadget:")
		case len(section) > 0 && strings.HasPrefix(line, "#  "):
			section = append(section, line[1:])
		case len(section) > 0:
			break lines
		}
	}
	if len(section) < 2 {
		t.Fatal("config.yaml.example has no commented-out \"#gadget:\" section")
	}
	path := filepath.Join(t.TempDir(), "gadget.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(section, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGadget(path)
	if err != nil {
		t.Fatalf("config.yaml.example's gadget section: %v", err)
	}
	if g != DefaultGadget() {
		t.Errorf("config.yaml.example's gadget section is %+v, the defaults are %+v", g, DefaultGadget())
	}
}
