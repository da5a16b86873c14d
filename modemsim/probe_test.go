package modemsim

import (
	"regexp"
	"strings"
	"testing"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// probeRow is one command of the answer table test: the information text
// it answers (lines separated by CR LF, "" for none) and its final result.
type probeRow struct {
	cmd    string
	info   string
	final  string // "OK" when empty
	v1Only bool   // the command changes the result format: not run in V0
}

// probeRows run in order on one module: later rows read what earlier ones
// set.
var probeRows = []probeRow{
	// ModemManager's probe and capability check.
	{cmd: "AT"},
	{cmd: "ATE0"},
	{cmd: "ATV1", v1Only: true},
	{cmd: "AT+CMEE=1"},
	{cmd: "AT+CMEE?", info: "+CMEE: 1"},
	{cmd: "AT+CMEE=0"},
	{cmd: "ATX4"},
	{cmd: "AT&C1"},
	{cmd: "AT+GCAP", info: "+GCAP: +CGSM"},
	{cmd: "ATI", info: "Manufacturer: u-blox\r\nModel: SARA-R510M8S\r\nRevision: 03.15\r\nIMEI: 004401083500000"},
	{cmd: "ATI0", info: "Manufacturer: u-blox\r\nModel: SARA-R510M8S\r\nRevision: 03.15\r\nIMEI: 004401083500000"},
	{cmd: "ATI9", info: "03.15,A00.01"},
	{cmd: "ATI1", final: "ERROR"},
	{cmd: "AT+CPIN?", info: "+CPIN: READY"},
	{cmd: "AT+CPIN=?"},
	{cmd: "AT+CGMM", info: "SARA-R510M8S"},
	{cmd: "AT+CGMI", info: "u-blox"},
	{cmd: "AT+CGMR", info: "03.15"},
	{cmd: "AT+CGSN", info: "004401083500000"},
	{cmd: "AT+GMM", info: "SARA-R510M8S"},
	{cmd: "AT+CGMM=?"},
	{cmd: "AT+CGMM?", final: "ERROR"},
	{cmd: "ATH"},
	{cmd: "AT+CLCC=?"},
	{cmd: "AT+CLCC"},
	{cmd: "AT+UDTMFD=?", info: "+UDTMFD: (0,1),(0-3)"},
	{cmd: "AT+UDTMFD=1,2"},
	{cmd: "AT+UDTMFD?", final: "ERROR"},
	{cmd: "AT+UCALLSTAT=?", info: "+UCALLSTAT: (0,1)"},
	{cmd: "AT+UCALLSTAT=1"},
	{cmd: "AT+UCALLSTAT?", info: "+UCALLSTAT: 1"},

	// Basic settings.
	{cmd: "AT&D2"},
	{cmd: "ATX0&C0&D0"},
	{cmd: "ATX"},
	{cmd: "ATX5", final: "ERROR"},
	{cmd: "AT&C2", final: "ERROR"},
	{cmd: "AT&D3", final: "ERROR"},
	{cmd: "ATX4 &C1 &D2"},

	// Character set.
	{cmd: "AT+CSCS?", info: `+CSCS: "IRA"`},
	{cmd: "AT+CSCS=?", info: `+CSCS: ("IRA","GSM","UCS2")`},
	{cmd: `AT+CSCS="UCS2"`},
	{cmd: "AT+CSCS?", info: `+CSCS: "UCS2"`},
	{cmd: `AT+COPS?`, info: `+COPS: 0,0,"006D006F00640065006D00730069006D",7`},
	{cmd: `AT+CSCS="GSM"`},
	{cmd: `AT+CSCS="UTF-8"`, final: "ERROR"},
	{cmd: `AT+CSCS="IRA"`},
	{cmd: "AT+CSCS", final: "ERROR"},

	// Radio access technology and bands.
	{cmd: "AT+URAT=?", info: "+URAT: (7,8),(7,8)"},
	{cmd: "AT+URAT?", info: "+URAT: 7"},
	{cmd: "AT+URAT=8,7"},
	{cmd: "AT+URAT?", info: "+URAT: 8,7"},
	{cmd: "AT+URAT=9", final: "ERROR"},
	{cmd: "AT+URAT=7,8,7", final: "ERROR"},
	{cmd: "AT+URAT=7"},
	{cmd: "AT+URAT?", info: "+URAT: 7"},
	{cmd: "AT+UBANDMASK?", info: "+UBANDMASK: 0,185473183,1,185473183"},
	{cmd: "AT+USIO?", info: "+USIO: 0,0"},
	{cmd: "AT+CFUN?", info: "+CFUN: 1,0"},

	// Registration and signal.
	{cmd: "AT+CREG=?", info: "+CREG: (0-2)"},
	{cmd: "AT+CREG?", info: "+CREG: 0,1"},
	{cmd: "AT+CREG=2"},
	{cmd: "AT+CREG?", info: `+CREG: 2,1,"0001","01A2D001",7`},
	{cmd: "AT+CREG=3", final: "ERROR"},
	{cmd: "AT+CGREG=?", info: "+CGREG: (0-2)"},
	{cmd: "AT+CGREG=1"},
	{cmd: "AT+CGREG?", info: "+CGREG: 1,1"},
	{cmd: "AT+CEREG=?", info: "+CEREG: (0-5)"},
	{cmd: "AT+CEREG=2"},
	{cmd: "AT+CEREG?", info: `+CEREG: 2,1,"0001","01A2D001",7`},
	{cmd: "AT+CEREG=6", final: "ERROR"},
	{cmd: "AT+COPS=3,2"},
	{cmd: "AT+COPS?", info: `+COPS: 0,2,"00101",7`},
	{cmd: "AT+COPS=3,0"},
	{cmd: "AT+COPS?", info: `+COPS: 0,0,"modemsim",7`},
	{cmd: "AT+COPS=?", info: `+COPS: (2,"modemsim","modemsim","00101",7),,(0-4),(0-2)`},
	{cmd: `AT+COPS=1,2,"00101"`},
	{cmd: "AT+COPS?", info: `+COPS: 1,2,"00101",7`},
	{cmd: `AT+COPS=1,2,"99999"`, final: "ERROR"},
	{cmd: "AT+COPS=2"},
	{cmd: "AT+COPS?", info: "+COPS: 2"},
	{cmd: "AT+CEREG?", info: "+CEREG: 2,0"},
	{cmd: "AT+CGATT?", info: "+CGATT: 0"},
	{cmd: "AT+COPS=0,0"},
	{cmd: "AT+COPS=5", final: "ERROR"},
	{cmd: "AT+CFUN=4"},
	{cmd: "AT+CFUN?", info: "+CFUN: 4,0"},
	{cmd: "AT+CREG?", info: "+CREG: 2,0"},
	{cmd: "AT+CIND?", info: "+CIND: 5,3,0,0,0,0,0,0,0,0,0,1"},
	{cmd: "AT+CFUN=1"},
	{cmd: "AT+CEREG?", info: `+CEREG: 2,1,"0001","01A2D001",7`},
	{cmd: "AT+CSQ", info: "+CSQ: 20,99"},
	{cmd: "AT+CSQ=?", info: "+CSQ: (0-31,99),(0-7,99)"},
	{cmd: "AT+CESQ", info: "+CESQ: 99,99,255,255,20,50"},
	{cmd: "AT+CESQ=?", info: "+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)"},
	{cmd: "AT+CIND=?", info: `+CIND: ("battchg",(0-5)),("signal",(0-5)),("service",(0,1)),("sounder",(0,1)),("message",(0,1)),("call",(0,1)),("roam",(0,1)),("smsfull",(0,1)),("gprs",(0-2)),("callsetup",(0-3)),("callheld",(0,1)),("simind",(0-2))`},
	{cmd: "AT+CIND?", info: "+CIND: 5,3,1,0,0,0,0,0,1,0,0,1"},
	{cmd: "AT+CMER=?", info: "+CMER: (0-3),(0),(0),(0-2),(0,1)"},
	{cmd: "AT+CMER=1,0,0,1,0"},
	{cmd: "AT+CMER?", info: "+CMER: 1,0,0,1,0"},
	{cmd: "AT+CMER=3,0,0,2"},
	{cmd: "AT+CMER?", info: "+CMER: 3,0,0,2,0"},
	{cmd: "AT+CMER=3,1", final: "ERROR"},
	{cmd: "AT+CGEREP=?", info: "+CGEREP: (0-2),(0,1)"},
	{cmd: "AT+CGEREP=2,1"},
	{cmd: "AT+CGEREP?", info: "+CGEREP: 2,1"},
	{cmd: "AT+CTZU=1"},
	{cmd: "AT+CTZU?", info: "+CTZU: 1"},
	{cmd: "AT+CTZU=", final: "ERROR"},

	// SIM.
	{cmd: "AT+CIMI", info: "001010000000001"},
	{cmd: "AT+CCID", info: "+CCID: 8900101000000000001"},
	{cmd: "AT+CNUM"},
	{cmd: "AT+UPINCNT", info: "+UPINCNT: 3,3,10,10"},
	{cmd: "AT+CLCK=?", info: `+CLCK: ("SC","PN","PU","PP","PC","PF","FD","AO","OI","OX","AI","IR","AB","AG","AC")`},
	{cmd: `AT+CLCK="SC",2`, info: "+CLCK: 0"},
	{cmd: `AT+CLCK="SC",1,"1234"`, final: "ERROR"},
	{cmd: `AT+CLCK="XX",2`, final: "ERROR"},
	{cmd: "AT+CRSM=176,28486,0,0,17", info: "+CRSM: 106,130"},
	{cmd: `AT+CPIN="1234"`, final: "ERROR"},

	// Packet data.
	{cmd: "AT+CGDCONT=?", info: `+CGDCONT: (1-8),"IP",,,(0-2),(0-4)`},
	{cmd: "AT+CGACT?"},
	{cmd: `AT+CGDCONT=1,"IP","internet"`},
	{cmd: "AT+CGDCONT?", info: `+CGDCONT: 1,"IP","internet"`},
	{cmd: "AT+CGACT?", info: "+CGACT: 1,0"},
	{cmd: "AT+CGACT=?", info: "+CGACT: (0,1)"},
	{cmd: "AT+CGATT?", info: "+CGATT: 1"},

	// SMS.
	{cmd: "AT+CNMI=?", info: "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"},
	{cmd: "AT+CNMI?", info: "+CNMI: 1,0,0,0,0"},
	{cmd: "AT+CNMI=2,1,2,1,0"},
	{cmd: "AT+CNMI?", info: "+CNMI: 2,1,2,1,0"},
	{cmd: "AT+CNMI=2,1,1,1,0", final: "ERROR"},
	{cmd: "AT+CPMS=?", info: `+CPMS: ("ME","SM"),("ME","SM"),("ME","SM")`},
	{cmd: "AT+CPMS?", info: `+CPMS: "ME",0,23,"ME",0,23,"ME",0,23`},
	{cmd: `AT+CPMS="SM","SM"`, info: "+CPMS: 0,30,0,30,0,23"},
	{cmd: "AT+CPMS?", info: `+CPMS: "SM",0,30,"SM",0,30,"ME",0,23`},
	{cmd: `AT+CPMS="MT"`, final: "ERROR"},
	{cmd: "AT+CMGF=?", info: "+CMGF: (0,1)"},
	{cmd: "AT+CMGF?", info: "+CMGF: 0"},
	{cmd: "AT+CMGL=?", info: "+CMGL: (0-4)"},
	{cmd: "AT+CMGF=1"},
	{cmd: "AT+CMGF?", info: "+CMGF: 1"},
	{cmd: "AT+CMGL=?", info: `+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")`},
	{cmd: `AT+CMGL="ALL"`},

	// Unknown commands and forms, chained lines.
	{cmd: "AT+NOPE", final: "ERROR"},
	{cmd: "AT+CGMI=1", final: "ERROR"},
	{cmd: "AT+GCAP;+CPIN?", info: "+GCAP: +CGSM"}, // the second answer is checked below
}

// TestProbeAnswers runs probeRows in plain text with verbose results, with
// numeric results (ATV0), and in a session, and checks every answer byte
// for byte.
func TestProbeAnswers(t *testing.T) {
	// The chained line answers two information texts.
	rows := append([]probeRow(nil), probeRows...)
	last := &rows[len(rows)-1]
	last.info += "\r\n\r\n+CPIN: READY"

	t.Run("plain V1", func(t *testing.T) {
		_, c := start(t, Config{})
		for _, r := range rows {
			if got, want := c.cmd(r.cmd), verbose(r); got != want {
				t.Errorf("%s: got %q, want %q", r.cmd, got, want)
			}
		}
	})
	t.Run("plain V0", func(t *testing.T) {
		_, c := start(t, Config{NumericResults: true})
		c.send("ATV0\r")
		if got := string(c.next(plainS, 2)); got != "0\r" {
			t.Fatalf("ATV0: %q", got)
		}
		for _, r := range rows {
			if r.v1Only {
				continue
			}
			want := numeric(r)
			c.send(r.cmd + "\r")
			if got := string(c.next(plainS, len(want))); got != want {
				t.Errorf("%s: got %q, want %q", r.cmd, got, want)
			}
		}
		if p := c.pending(plainS); len(p) != 0 {
			t.Errorf("unexpected extra output %q", p)
		}
	})
	t.Run("session", func(t *testing.T) {
		s := testSecrets(t, c2c.V2)
		_, c := start(t, Config{Secrets: s})
		c.mustOpen(s)
		for _, r := range rows {
			if got, want := c.scmd(r.cmd), verbose(r); got != want {
				t.Errorf("%s: got %q, want %q", r.cmd, got, want)
			}
		}
	})
}

// verbose returns the answer to r with ATV1.
func verbose(r probeRow) string {
	final := r.final
	if final == "" {
		final = "OK"
	}
	if r.info == "" {
		return "\r\n" + final + "\r\n"
	}
	return "\r\n" + r.info + "\r\n\r\n" + final + "\r\n"
}

// numeric returns the answer to r with ATV0: information text ends in CR
// LF, the result code is its number and CR.
func numeric(r probeRow) string {
	code := "0\r"
	if r.final == "ERROR" {
		code = "4\r"
	}
	if r.info == "" {
		return code
	}
	return strings.ReplaceAll(r.info, "\r\n\r\n", "\r\n") + "\r\n" + code
}

// mmProbe is what ModemManager 1.20 (generic and u-blox plugin) sends while
// it probes a port and initializes the modem, as it spells it.
var mmProbe = []string{
	"AT", "AT", "AT+CGMI", "AT+GMI", "AT+CGMM", "ATE0 V1", "ATZ E0 V1", "AT+CMEE=1", "ATX4 &C1",
	"AT+GCAP", "ATI", "AT+CPIN?", "AT+CGMM", "ATH", "AT+CLCC=?", "AT+UDTMFD=?",
	"AT+CSCS=?", "AT+CSCS?", `AT+CSCS="UCS2"`, `AT+CSCS="GSM"`, `AT+CSCS="IRA"`,
	"AT+CGMI", "AT+CGMR", "AT+CGSN", "AT+URAT=?", "AT+URAT?",
	"AT+CFUN?", "AT+CGDCONT?", "AT+CGDCONT=?", "AT+CIMI", "AT+CCID", "AT+CNUM", "AT+UPINCNT",
	"AT+CLCK=?", `AT+CLCK="SC",2`, "AT+CRSM=176,28589,0,0,4", "AT+CRSM=176,28486,0,0,17",
	"AT+CREG=?", "AT+CGREG=?", "AT+CEREG=?", "AT+CREG=2", "AT+CGREG=2", "AT+CEREG=2",
	"AT+CREG?", "AT+CGREG?", "AT+CEREG?", "AT+COPS=3,2", "AT+COPS?", "AT+COPS=3,0", "AT+COPS?",
	"AT+COPS=0", "AT+CSQ", "AT+CESQ=?", "AT+CESQ", "AT+CIND=?", "AT+CIND?", "AT+CMER=?", "AT+CMER=1,0,0,1,0",
	"AT+CMER=3,0,0,1", "AT+CGEREP=?", "AT+CGEREP=2", "AT+CNMI=?", "AT+CNMI=2,1,2,1,0", "AT+CPMS=?",
	"AT+CPMS?", `AT+CPMS="ME","ME","ME"`, "AT+CMGF=?", "AT+CMGF=0", "AT+CMGL=4", "AT+CLCC",
	"AT+UCALLSTAT=1", "AT+UDTMFD=1,2", "AT+CTZU=1", "AT+CCLK?", "AT+CGACT?", "AT+CGATT?",
	"AT+UBANDMASK?", "AT+USIO?", "AT+CFUN=1",
}

// TestModemManagerProbe: no command of ModemManager's probe and
// initialization gets an error, in plain text or in a session.
func TestModemManagerProbe(t *testing.T) {
	check := func(t *testing.T, cmd, got string) {
		t.Helper()
		if strings.Contains(got, "ERROR") || !strings.HasSuffix(got, "\r\nOK\r\n") {
			t.Errorf("%s: %q", cmd, got)
		}
	}
	t.Run("plain", func(t *testing.T) {
		_, c := start(t, Config{})
		for _, cmd := range mmProbe {
			check(t, cmd, c.cmd(cmd))
		}
	})
	t.Run("session", func(t *testing.T) {
		s := testSecrets(t, c2c.V2)
		_, c := start(t, Config{Secrets: s})
		c.mustOpen(s)
		for _, cmd := range mmProbe {
			check(t, cmd, c.scmd(cmd))
		}
	})
}

// TestBasicSettings: ATX, AT&C and AT&D are remembered; ATZ, AT&F and a
// reboot restore the factory values X4, &C1, &D1.
func TestBasicSettings(t *testing.T) {
	m, c := start(t, Config{})
	basic := func() map[string]int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return map[string]int{"X": m.at.basic["X"], "&C": m.at.basic["&C"], "&D": m.at.basic["&D"]}
	}
	factory := map[string]int{"X": 4, "&C": 1, "&D": 1}
	for _, step := range []struct {
		cmd  string
		want map[string]int
	}{
		{"AT", factory},
		{"ATX0&C0&D2", map[string]int{"X": 0, "&C": 0, "&D": 2}},
		{"ATX3", map[string]int{"X": 3, "&C": 0, "&D": 2}},
		{"AT&D", map[string]int{"X": 3, "&C": 0, "&D": 0}},
		{"ATX9", map[string]int{"X": 3, "&C": 0, "&D": 0}}, // ERROR: unchanged
		{"ATZ", factory},
		{"ATX2&D0", map[string]int{"X": 2, "&C": 1, "&D": 0}},
		{"AT&F", factory},
		{"ATX1", map[string]int{"X": 1, "&C": 1, "&D": 1}},
	} {
		c.cmd(step.cmd)
		if got := basic(); !equalMaps(got, step.want) {
			t.Errorf("after %s: %v, want %v", step.cmd, got, step.want)
		}
	}
	m.Reboot()
	c.expect(plainS, "\r\nRDY\r\n")
	if got := basic(); !equalMaps(got, factory) {
		t.Errorf("after a reboot: %v, want %v", got, factory)
	}
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRebootRestores: a reboot restores the volatile settings and keeps
// the persistent ones (AT+URAT, the PDP context).
func TestRebootRestores(t *testing.T) {
	m, c := start(t, Config{})
	for _, cmd := range []string{`AT+CSCS="UCS2"`, "AT+CMEE=2", "AT+CEREG=2", "AT+CMGF=1", "AT+URAT=8",
		`AT+CGDCONT=1,"IP","apn"`, "AT+COPS=2", `AT+CPMS="SM"`} {
		if got := c.cmd(cmd); got != "\r\nOK\r\n" && !strings.HasPrefix(got, "\r\n+CPMS:") {
			t.Fatalf("%s: %q", cmd, got)
		}
	}
	m.Reboot()
	c.expect(plainS, "\r\nRDY\r\n")
	for _, tc := range []struct{ cmd, want string }{
		{"AT+CSCS?", `+CSCS: "IRA"`},
		{"AT+CMEE?", "+CMEE: 0"},
		{"AT+CEREG?", "+CEREG: 0,1"},
		{"AT+CMGF?", "+CMGF: 0"},
		{"AT+URAT?", "+URAT: 8"},
		{"AT+CGDCONT?", `+CGDCONT: 1,"IP","apn"`},
		{"AT+COPS?", `+COPS: 0,0,"modemsim",7`},
		{"AT+CPMS?", `+CPMS: "ME",0,23,"ME",0,23,"ME",0,23`},
	} {
		if got, want := c.cmd(tc.cmd), "\r\n"+tc.want+"\r\n\r\nOK\r\n"; got != want {
			t.Errorf("%s after a reboot: got %q, want %q", tc.cmd, got, want)
		}
	}
}

// TestClock: AT+CCLK? answers the time in the 27.007 format.
func TestClock(t *testing.T) {
	_, c := start(t, Config{})
	re := regexp.MustCompile(`^\r\n\+CCLK: "\d\d/\d\d/\d\d,\d\d:\d\d:\d\d\+00"\r\n\r\nOK\r\n$`)
	if got := c.cmd("AT+CCLK?"); !re.MatchString(got) {
		t.Errorf("AT+CCLK?: %q", got)
	}
}

// TestAnswerTable checks the table itself: every setting has its entry,
// factory values within its test answer's groups, and every group parses.
func TestAnswerTable(t *testing.T) {
	for name, st := range settings {
		f, ok := answers[name]
		if !ok || f.set == nil || f.test == nil {
			t.Errorf("%s: no set and test answers in the table", name)
		}
		groups := testGroups(st.test)
		if len(st.factory) > len(groups) || st.min > len(groups) {
			t.Errorf("%s: %d factory values, min %d, for %d groups", name, len(st.factory), st.min, len(groups))
			continue
		}
		for i, v := range st.factory {
			if !inGroup(groups[i], v) {
				t.Errorf("%s: factory value %d not in (%s)", name, v, groups[i])
			}
		}
	}
	for _, tc := range []struct {
		test string
		want []string
	}{
		{"+X: (0-2),,(0,1)", []string{"0-2", "", "0,1"}},
		{`+X: ("a",(0-1)),("b",(2))`, []string{`"a",(0-1)`, `"b",(2)`}},
		{"+X: (7,8)", []string{"7,8"}},
	} {
		if got := testGroups(tc.test); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("testGroups(%q) = %q, want %q", tc.test, got, tc.want)
		}
	}
	for _, tc := range []struct {
		group string
		n     int
		want  bool
	}{
		{"0-31,99", 31, true}, {"0-31,99", 99, true}, {"0-31,99", 32, false}, {"0", 0, true}, {"0", 1, false}, {"", 0, false},
	} {
		if got := inGroup(tc.group, tc.n); got != tc.want {
			t.Errorf("inGroup(%q, %d) = %v", tc.group, tc.n, got)
		}
	}
}
