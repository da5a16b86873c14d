package metrics

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/c2cbridge/c2cbridge/bridge"
	"github.com/c2cbridge/c2cbridge/counters"
	"github.com/c2cbridge/c2cbridge/status"
)

var update = flag.Bool("update", false, "rewrite testdata/*.prom from Render's output")

func sample() status.Snapshot {
	since := time.Date(2025, 6, 1, 8, 0, 0, 250e6, time.UTC)
	last := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	next := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	s := status.Snapshot{
		Session:             status.Session{State: "open", Version: "V2", Since: since},
		Rekey:               status.Rekey{Last: &last, Next: &next},
		ApplicationAttached: true,
		ModuleAttached:      true,
		Fingerprint:         "1a2b3c4d",
	}
	for _, id := range counters.All() {
		s.Counters[id] = uint64(id) + 1
	}
	s.Counters[counters.LineBytesDown] = 1 << 40
	return s
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		file   string
		s      status.Snapshot
		bridge string
	}{
		{"open.prom", sample(), "/dev/ttyUSB0"},
		{"lost.prom", status.Snapshot{Session: status.Session{State: "module lost", Version: "V1", Since: time.Unix(1700000000, 0)}, KeyFileUnsaved: true},
			"modem \"1\"\\\nsecond line"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, tc.s, tc.bridge); err != nil {
				t.Fatal(err)
			}
			path := "testdata/" + tc.file
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("got:\n%s\nwant (%s):\n%s", got, path, want)
			}
			if err := validate(b.String()); err != nil {
				t.Errorf("golden output is not valid exposition text: %v", err)
			}
		})
	}
}

// TestRenderSeries checks what the output says, through the validator's
// parse: every counter, one state at 1, the label on every series, the
// fingerprint only on info.
func TestRenderSeries(t *testing.T) {
	s := sample()
	var b bytes.Buffer
	if err := Render(&b, s, `we"ird\name`); err != nil {
		t.Fatal(err)
	}
	samples, err := parse(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	byKey := map[string]float64{}
	for _, sm := range samples {
		if sm.labels[BridgeLabel] != `we"ird\name` {
			t.Errorf("%s: bridge label %q", sm.name, sm.labels[BridgeLabel])
		}
		if _, ok := sm.labels["instance"]; ok {
			t.Errorf("%s has an instance label", sm.name)
		}
		if _, ok := sm.labels["fingerprint"]; ok && sm.name != "c2cbridge_info" {
			t.Errorf("%s has a fingerprint label", sm.name)
		}
		byKey[sm.name+"/"+sm.labels["state"]] = sm.value
	}
	for _, id := range counters.All() {
		if v, ok := byKey["c2cbridge_"+id.Name()+"_total/"]; !ok || v != float64(s.Counters[id]) {
			t.Errorf("counter %s: %v (present %v), want %d", id.Name(), v, ok, s.Counters[id])
		}
	}
	ones := 0
	for _, st := range States {
		v, ok := byKey["c2cbridge_session_state/"+string(st)]
		if !ok {
			t.Errorf("no session_state for %q", st)
		}
		if v == 1 {
			ones++
			if st != bridge.StateOpen {
				t.Errorf("state %q is 1, the session is open", st)
			}
		}
	}
	if ones != 1 {
		t.Errorf("%d states at 1, want 1", ones)
	}
	for key, want := range map[string]float64{
		"c2cbridge_application_attached/":             1,
		"c2cbridge_module_attached/":                  1,
		"c2cbridge_key_file_unsaved/":                 0,
		"c2cbridge_info/":                             1,
		"c2cbridge_session_opened_timestamp_seconds/": float64(s.Session.Since.UnixMilli()) / 1000,
		"c2cbridge_last_rekey_timestamp_seconds/":     float64(s.Rekey.Last.Unix()),
	} {
		if v, ok := byKey[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
}

// TestStatesAreTheBridges checks States against every State constant
// declared in package bridge, so a new state cannot be left out.
func TestStatesAreTheBridges(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "../bridge", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "State" {
						for _, n := range vs.Names {
							declared = append(declared, n.Name)
						}
					}
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("no State constants found in ../bridge")
	}
	if len(declared) != len(States) {
		t.Errorf("bridge declares %d states %v, States lists %d", len(declared), declared, len(States))
	}
	seen := map[bridge.State]bool{}
	for _, st := range States {
		if seen[st] {
			t.Errorf("state %q listed twice", st)
		}
		seen[st] = true
	}
}

func TestEscapeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "plain",
		`a\b`:             `a\\b`,
		`say "hi"`:        `say \"hi\"`,
		"two\nlines":      `two\nlines`,
		"bad \xff utf8":   "bad \uFFFD utf8",
		`\"` + "\n" + `\`: `\\\"\n\\`,
	} {
		if got := escapeLabel(in); got != want {
			t.Errorf("escapeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestValidatorRejects makes sure the validator the other tests rely on
// can fail.
func TestValidatorRejects(t *testing.T) {
	for _, bad := range []string{
		"c2cbridge_x{bridge=\"a\"} 1\n",                                                        // no TYPE
		"# TYPE c2cbridge_x gauge\nc2cbridge_x{bridge=\"a\"} one\n",                            // value
		"# TYPE c2cbridge_x gauge\nc2cbridge_x{bridge=\"a\\q\"} 1\n",                           // escape
		"# TYPE c2cbridge_x gauge\nc2cbridge_x{bridge=\"a\"\"} 1\n",                            // quote
		"# TYPE c2cbridge_x gauge\nc2cbridge_x{bridge=\"a\"} 1\nc2cbridge_x{bridge=\"a\"} 2\n", // duplicate
		"# TYPE c2cbridge_x gauge\n# TYPE c2cbridge_x gauge\nc2cbridge_x 1\n",                  // two TYPEs
		"# TYPE c2cbridge_x gauge\nc2cbridge_x{bridge=\"a\"} 1",                                // no final newline
		"# TYPE c2cbridge_x gauge\nc2cbridge_x{0bridge=\"a\"} 1\n",                             // label name
		"# TYPE c2cbridge_x gauge\nc2cbridge_x 1\n# TYPE c2cbridge_y gauge\nc2cbridge_x 2\n",   // not grouped
	} {
		if err := validate(bad); err == nil {
			t.Errorf("validator accepts %q", bad)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add("/dev/ttyUSB0", "open", "V2", "1a2b3c4d")
	f.Add("a\\\"\n", "module lost", "", "")
	f.Add("\xff\xfe", "\n", "\"", "\\")
	f.Fuzz(func(t *testing.T, name, state, version, fp string) {
		s := sample()
		s.Session.State, s.Session.Version, s.Fingerprint = state, version, fp
		var b bytes.Buffer
		if err := Render(&b, s, name); err != nil {
			t.Fatal(err)
		}
		samples, err := parse(b.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		want := strings.ToValidUTF8(name, "\uFFFD")
		for _, sm := range samples {
			if sm.labels[BridgeLabel] != want {
				t.Fatalf("%s: bridge %q, want %q", sm.name, sm.labels[BridgeLabel], want)
			}
		}
	})
}

// A small validator of the text exposition format 0.0.4, as much of it as
// Render uses: HELP and TYPE comments, samples with labels, no timestamps.

type parsedSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	types      = map[string]bool{"counter": true, "gauge": true, "untyped": true, "summary": true, "histogram": true}
)

func validate(text string) error {
	_, err := parse(text)
	return err
}

func parse(text string) ([]parsedSample, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("not UTF-8")
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("no final line feed")
	}
	typed := map[string]string{}
	helped := map[string]bool{}
	done := map[string]bool{} // metrics whose group has ended
	series := map[string]bool{}
	current := ""
	var out []parsedSample
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || f[0] != "#" || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			m := f[2]
			if !metricName.MatchString(m) {
				return nil, fmt.Errorf("line %d: metric name %q", n, m)
			}
			switch f[1] {
			case "HELP":
				if helped[m] {
					return nil, fmt.Errorf("line %d: second HELP for %s", n, m)
				}
				helped[m] = true
				if len(f) == 4 {
					if err := checkEscapes(f[3], false); err != nil {
						return nil, fmt.Errorf("line %d: HELP: %v", n, err)
					}
				}
			case "TYPE":
				if _, ok := typed[m]; ok {
					return nil, fmt.Errorf("line %d: second TYPE for %s", n, m)
				}
				if len(f) != 4 || !types[f[3]] {
					return nil, fmt.Errorf("line %d: TYPE line %q", n, line)
				}
				typed[m] = f[3]
			}
			continue
		}
		sm, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if _, ok := typed[sm.name]; !ok {
			return nil, fmt.Errorf("line %d: %s has no TYPE before its samples", n, sm.name)
		}
		if sm.name != current {
			if done[sm.name] {
				return nil, fmt.Errorf("line %d: samples of %s are not together", n, sm.name)
			}
			if current != "" {
				done[current] = true
			}
			current = sm.name
		}
		key := sm.name + "{" + fmt.Sprint(sm.labels) + "}"
		if series[key] {
			return nil, fmt.Errorf("line %d: duplicate series %s", n, key)
		}
		series[key] = true
		out = append(out, sm)
	}
	return out, nil
}

func parseSample(line string) (parsedSample, error) {
	sm := parsedSample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return sm, fmt.Errorf("no value in %q", line)
	}
	sm.name, line = line[:end], line[end:]
	if !metricName.MatchString(sm.name) {
		return sm, fmt.Errorf("metric name %q", sm.name)
	}
	if strings.HasPrefix(line, "{") {
		line = line[1:]
		for !strings.HasPrefix(line, "}") {
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return sm, fmt.Errorf("label without =\"")
			}
			name := line[:eq]
			if !labelName.MatchString(name) {
				return sm, fmt.Errorf("label name %q", name)
			}
			if _, dup := sm.labels[name]; dup {
				return sm, fmt.Errorf("label %s twice", name)
			}
			line = line[eq+2:]
			var v strings.Builder
			i := 0
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					if i+1 >= len(line) {
						return sm, fmt.Errorf("label %s: unterminated", name)
					}
					switch line[i+1] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return sm, fmt.Errorf("label %s: bad escape \\%c", name, line[i+1])
					}
					i++
					continue
				}
				v.WriteByte(line[i])
			}
			if i >= len(line) {
				return sm, fmt.Errorf("label %s: unterminated", name)
			}
			sm.labels[name] = v.String()
			line = line[i+1:]
			if strings.HasPrefix(line, ",") {
				line = line[1:]
			} else if !strings.HasPrefix(line, "}") {
				return sm, fmt.Errorf("after label %s: %q", name, line)
			}
		}
		line = line[1:]
	}
	if !strings.HasPrefix(line, " ") {
		return sm, fmt.Errorf("no space before the value")
	}
	val := line[1:]
	if strings.ContainsAny(val, " \t") {
		return sm, fmt.Errorf("value %q (timestamps are not used)", val)
	}
	f, err := strconv.ParseFloat(val, 64)
	if err != nil && val != "+Inf" && val != "-Inf" && val != "NaN" {
		return sm, fmt.Errorf("value %q", val)
	}
	sm.value = f
	return sm, nil
}

// checkEscapes checks the backslash escapes of a HELP text (\\ and \n)
// or, with quotes, of a label value (also \").
func checkEscapes(s string, quotes bool) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if i+1 >= len(s) || !(s[i+1] == '\\' || s[i+1] == 'n' || (quotes && s[i+1] == '"')) {
			return fmt.Errorf("bad escape at %d in %q", i, s)
		}
		i++
	}
	return nil
}
