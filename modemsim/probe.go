package modemsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The answer table: every extended command (+NAME) the module knows but
// the security command and the test hooks, and the V.250 basic settings
// beyond E, V and Q. It covers what ModemManager (1.20, generic and u-blox
// plugin) sends while it probes and initializes a modem, in the formats of
// the SARA-R5 AT commands manual (UBX-19047455). Answers are the same in
// plain text and in a session; what a command does not know answers ERROR.

// More identity of the simulated module, beside Manufacturer, Model,
// Revision and IMEI: the SIM and the network it is registered on.
const (
	// AppVersion is the application version ATI9 reports after Revision.
	AppVersion = "A00.01"
	// IMSI is the SIM's IMSI, in the test network's MCC and MNC (001 01).
	IMSI = "001010000000001"
	// ICCID is the SIM's ICCID (AT+CCID).
	ICCID = "8900101000000000001"
	// OperatorNumeric is the network's MCC and MNC (AT+COPS format 2).
	OperatorNumeric = "00101"
	// OperatorName is the network's long and short name (AT+COPS formats 0
	// and 1).
	OperatorName = "modemsim"
)

// Network details the registration reads report with <n>=2 and more.
const (
	areaCode = "0001"     // <lac> / <tac>
	cellID   = "01A2D001" // <ci>
	actLTE   = 7          // <AcT>: E-UTRAN (LTE Cat M1)
)

// basicSetting is a V.250 basic command that sets a number: ATX, AT&C,
// AT&D. A missing number is 0 (V.250 5.3.1); ATZ, AT&F and a reboot
// restore the factory value.
type basicSetting struct {
	max     int // values are 0 to max
	factory int
}

// basicSettings are the basic settings the module accepts and remembers
// (SARA-R5 factory profile: X4, &C1, &D1).
var basicSettings = map[string]basicSetting{
	"X":  {max: 4, factory: 4}, // result code selection and call progress monitoring
	"&C": {max: 1, factory: 1}, // DCD: 1 follows the carrier
	"&D": {max: 2, factory: 1}, // DTR: 0 ignored, 1 to command mode, 2 ends the call
}

// identification is what ATI<n> answers, by <n> ("" is ATI).
var identification = map[string]string{
	"":  identity,
	"0": identity,
	"9": Revision + "," + AppVersion,
}

// identity is the answer to ATI and ATI0.
const identity = "Manufacturer: " + Manufacturer + "\r\nModel: " + Model +
	"\r\nRevision: " + Revision + "\r\nIMEI: " + IMEI

// answer answers one form of an extended command. m.mu held.
type answer func(m *Module, c command) result

// forms are the answers to the four forms of an extended command: AT+X
// (exec), AT+X? (read), AT+X=? (test) and AT+X=<args> (set). A nil form
// answers ERROR.
type forms struct {
	exec, read, test, set answer
}

// answers is the table of extended commands, by name. Commands whose
// value is a list of numbers are setting entries (settingForms); their
// factory values and ranges are in settings.
var answers = map[string]forms{
	// Identification (V.250 and 27.007).
	"+GCAP": {exec: text("+GCAP: +CGSM"), test: okOnly},
	"+CGMI": {exec: text(Manufacturer), test: okOnly},
	"+GMI":  {exec: text(Manufacturer), test: okOnly},
	"+CGMM": {exec: text(Model), test: okOnly},
	"+GMM":  {exec: text(Model), test: okOnly},
	"+CGMR": {exec: text(Revision), test: okOnly},
	"+GMR":  {exec: text(Revision), test: okOnly},
	"+CGSN": {exec: text(IMEI)},
	"+GSN":  {exec: text(IMEI)},
	"+CSCS": {read: readCSCS, test: text(csTest), set: setCSCS},
	"+CMEE": settingForms("+CMEE"),

	// SIM.
	"+CPIN":    {read: text("+CPIN: READY"), test: okOnly},
	"+CIMI":    {exec: text(IMSI), test: okOnly},
	"+CCID":    {exec: text("+CCID: " + ICCID), test: okOnly},
	"+CNUM":    {exec: okOnly, test: okOnly}, // no MSISDN on the SIM
	"+UPINCNT": {exec: text("+UPINCNT: 3,3,10,10"), test: okOnly},
	"+CLCK":    {test: text(clckTest), set: setCLCK},
	// Restricted SIM access: the simulated SIM has none of the
	// optional files ModemManager reads (SW 6A82, file not found).
	"+CRSM": {test: okOnly, set: text("+CRSM: 106,130")},

	// Power and radio access technology.
	"+CFUN":      {read: readCFUN, test: text("+CFUN: (0,1,4,15,16,19,127),(0-1)"), set: setCFUN},
	"+URAT":      settingForms("+URAT"),
	"+UBANDMASK": {read: text("+UBANDMASK: 0," + bandMask + ",1," + bandMask)},
	"+USIO":      {read: text("+USIO: 0,0"), test: text("+USIO: (0-4)")},

	// Network registration and signal.
	"+CREG":  registrationForms("+CREG"),
	"+CGREG": registrationForms("+CGREG"),
	"+CEREG": registrationForms("+CEREG"),
	"+COPS":  {read: readCOPS, test: testCOPS, set: setCOPS},
	"+CSQ":   {exec: text("+CSQ: 20,99"), test: text("+CSQ: (0-31,99),(0-7,99)")},
	"+CESQ": {exec: text("+CESQ: 99,99,255,255,20,50"),
		test: text("+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)")},
	"+CIND":   {read: readCIND, test: text(cindTest)},
	"+CMER":   settingForms("+CMER"),
	"+CGEREP": settingForms("+CGEREP"),
	"+CTZU":   settingForms("+CTZU"),
	"+CCLK":   {read: readCCLK, test: okOnly},

	// Packet data.
	"+CGDCONT": {read: readCGDCONT, test: text(`+CGDCONT: (1-8),"IP",,,(0-2),(0-4)`), set: setCGDCONT},
	"+CGACT":   {read: readCGACT, test: text("+CGACT: (0,1)")},
	"+CGATT":   {read: readCGATT, test: text("+CGATT: (0,1)")},

	// SMS: no messages stored.
	"+CMGF": settingForms("+CMGF"),
	"+CNMI": settingForms("+CNMI"),
	"+CPMS": {read: readCPMS, test: text(cpmsTest), set: setCPMS},
	"+CMGL": {exec: okOnly, test: testCMGL, set: okOnly},

	// Calls: none in progress (a data call is not listed).
	"+CLCC":      {exec: okOnly, test: okOnly},
	"+UCALLSTAT": settingForms("+UCALLSTAT"),
	"+UDTMFD":    settingForms("+UDTMFD"),
}

// setting is an extended command whose value is a list of numbers:
// AT+X=<v1>[,<v2>...] sets it, each value within the group of the test
// answer at its position, and AT+X? reads it as "+X: <v1>,<v2>...".
type setting struct {
	test    string // the answer to AT+X=?; its groups bound the values
	factory []int  // the values after a reboot
	min     int    // values a set must give
	// whole: a set gives the whole list (values it leaves out are
	// dropped); otherwise it changes the values it gives.
	whole      bool
	noRead     bool // AT+X? answers ERROR
	persistent bool // kept in non-volatile memory: a reboot keeps it
}

// settings are the setting entries of answers, by name.
var settings = map[string]setting{
	"+CMEE":      {test: "+CMEE: (0-2)", factory: []int{0}, min: 1},
	"+URAT":      {test: "+URAT: (7,8),(7,8)", factory: []int{actLTE}, min: 1, whole: true, persistent: true},
	"+CREG":      {test: "+CREG: (0-2)", factory: []int{0}},
	"+CGREG":     {test: "+CGREG: (0-2)", factory: []int{0}},
	"+CEREG":     {test: "+CEREG: (0-5)", factory: []int{0}},
	"+CMER":      {test: "+CMER: (0-3),(0),(0),(0-2),(0,1)", factory: []int{0, 0, 0, 0, 0}},
	"+CGEREP":    {test: "+CGEREP: (0-2),(0,1)", factory: []int{0, 0}},
	"+CTZU":      {test: "+CTZU: (0,1)", factory: []int{0}, min: 1},
	"+CMGF":      {test: "+CMGF: (0,1)", factory: []int{0}},
	"+CNMI":      {test: "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)", factory: []int{1, 0, 0, 0, 0}},
	"+UCALLSTAT": {test: "+UCALLSTAT: (0,1)", factory: []int{0}, min: 1},
	"+UDTMFD":    {test: "+UDTMFD: (0,1),(0-3)", factory: []int{0, 0}, min: 1, noRead: true},
}

// Test answers that a set command also checks against.
const (
	csTest   = `+CSCS: ("IRA","GSM","UCS2")`
	clckTest = `+CLCK: ("SC","PN","PU","PP","PC","PF","FD","AO","OI","OX","AI","IR","AB","AG","AC")`
	cpmsTest = `+CPMS: ("ME","SM"),("ME","SM"),("ME","SM")`
	cindTest = `+CIND: ("battchg",(0-5)),("signal",(0-5)),("service",(0,1)),("sounder",(0,1)),` +
		`("message",(0,1)),("call",(0,1)),("roam",(0,1)),("smsfull",(0,1)),("gprs",(0-2)),` +
		`("callsetup",(0-3)),("callheld",(0,1)),("simind",(0-2))`
)

// bandMask is the LTE band bitmask AT+UBANDMASK? reports for both RATs:
// bands 1, 2, 3, 4, 5, 8, 12, 13, 18, 19, 20, 25, 26 and 28.
var bandMask = func() string {
	var mask uint64
	for _, b := range []int{1, 2, 3, 4, 5, 8, 12, 13, 18, 19, 20, 25, 26, 28} {
		mask |= 1 << (b - 1)
	}
	return strconv.FormatUint(mask, 10)
}()

// storage is the capacity of each SMS memory of cpmsTest.
var storage = map[string]int{"ME": 23, "SM": 30}

// atState is the AT state the answer table keeps beyond echo, ATV, the
// S-registers and AT+CFUN.
type atState struct {
	basic   map[string]int   // basicSettings; ATZ and AT&F restore them
	values  map[string][]int // settings
	charset string           // AT+CSCS
	cops    int              // AT+COPS <mode>: 2 deregisters
	opFmt   int              // AT+COPS <format>
	mem     [3]string        // AT+CPMS <mem1>, <mem2>, <mem3>
	// pdp holds the last AT+CGDCONT= arguments; like the persistent
	// settings it is kept in non-volatile memory.
	pdp string
}

// newATState returns the state at first power-on.
func newATState() atState {
	var s atState
	s.values = make(map[string][]int, len(settings))
	for name, st := range settings {
		s.values[name] = append([]int(nil), st.factory...)
	}
	s.reboot()
	return s
}

// reboot restores what a reboot restores: all but the persistent
// settings and the PDP context.
func (s *atState) reboot() {
	s.resetProfile()
	for name, st := range settings {
		if !st.persistent {
			s.values[name] = append(s.values[name][:0], st.factory...)
		}
	}
	s.charset = "IRA"
	s.cops, s.opFmt = 0, 0
	s.mem = [3]string{"ME", "ME", "ME"}
}

// resetProfile restores the basic settings (ATZ, AT&F).
func (s *atState) resetProfile() {
	s.basic = make(map[string]int, len(basicSettings))
	for name, b := range basicSettings {
		s.basic[name] = b.factory
	}
}

// basic runs a basic setting command, ATX<n>, AT&C<n>, AT&D<n>; ok is
// false for a command that is none. m.mu held.
func (m *Module) basic(c command) (r result, ok bool) {
	b, ok := basicSettings[c.name]
	if !ok {
		return result{}, false
	}
	v := c.arg
	if v == "" {
		v = "0"
	}
	n, valid := intArg(v, 0, b.max)
	if !valid {
		return fail("ERROR"), true
	}
	m.at.basic[c.name] = n
	return result{}, true
}

// extended answers an extended command from the table. m.mu held.
func (m *Module) extended(c command) result {
	f, ok := answers[c.name]
	if !ok {
		return fail("ERROR")
	}
	var a answer
	switch c.op {
	case 0:
		a = f.exec
	case '?':
		a = f.read
	case 't':
		a = f.test
	case '=':
		a = f.set
	}
	if a == nil {
		return fail("ERROR")
	}
	return a(m, c)
}

// okOnly answers OK alone.
func okOnly(*Module, command) result { return result{} }

// text answers one fixed information text.
func text(s string) answer {
	return func(*Module, command) result { return result{info: []string{s}} }
}

// lines answers information text of several lines (one block).
func lines(l ...string) result { return result{info: []string{strings.Join(l, "\r\n")}} }

// settingForms returns the read, test and set answers of settings[name].
func settingForms(name string) forms {
	st := settings[name]
	f := forms{test: text(st.test), set: setSetting}
	if !st.noRead {
		f.read = readSetting
	}
	return f
}

// readSetting answers "+X: <v1>,<v2>...".
func readSetting(m *Module, c command) result {
	return lines(c.name + ": " + joinInts(m.at.values[c.name]))
}

// setSetting sets a setting's values. m.mu held.
func setSetting(m *Module, c command) result {
	vals, ok := m.parseSetting(c)
	if !ok {
		return fail("ERROR")
	}
	m.at.values[c.name] = vals
	return result{}
}

// parseSetting returns a setting's values after the set command c, or
// false if c's arguments are not numbers within the groups of the test
// answer. m.mu held.
func (m *Module) parseSetting(c command) ([]int, bool) {
	st := settings[c.name]
	groups := testGroups(st.test)
	args := splitArgs(c.arg)
	if len(args) > len(groups) || len(args) < st.min {
		return nil, false
	}
	vals := append([]int(nil), m.at.values[c.name]...)
	if st.whole {
		vals = vals[:0]
	}
	for i, a := range args {
		if a == "" {
			if i < st.min || st.whole {
				return nil, false
			}
			continue
		}
		n, err := strconv.Atoi(a)
		if err != nil || !inGroup(groups[i], n) {
			return nil, false
		}
		if i < len(vals) {
			vals[i] = n
		} else {
			vals = append(vals, n)
		}
	}
	return vals, true
}

// testGroups returns the parenthesized groups of a test answer, at the
// top level: "+X: (0-2),,(0,1)" gives "0-2", "", "0,1".
func testGroups(test string) []string {
	_, s, _ := strings.Cut(test, ": ")
	var groups []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			if depth == 0 {
				start = i + 1
			}
			depth++
		case ')':
			depth--
			if depth == 0 {
				groups = append(groups, s[start:i])
			}
		case ',':
			if depth == 0 && (i == 0 || s[i-1] == ',') {
				groups = append(groups, "")
			}
		}
	}
	return groups
}

// inGroup reports whether n is in a test answer's group of numbers and
// ranges, "0-3,99".
func inGroup(group string, n int) bool {
	for _, item := range strings.Split(group, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && a <= n && n <= b {
			return true
		}
	}
	return false
}

// inStrings reports whether s is one of the quoted strings of a test
// answer's group, `"IRA","GSM"`.
func inStrings(group, s string) bool {
	for _, item := range strings.Split(group, ",") {
		if item == `"`+s+`"` {
			return true
		}
	}
	return false
}

func joinInts(vals []int) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// cmee returns the AT+CMEE setting. m.mu held.
func (m *Module) cmee() int { return m.at.values["+CMEE"][0] }

// registered reports whether the module is registered on the network:
// full functionality, and not deregistered with AT+COPS=2. m.mu held.
func (m *Module) registered() bool { return m.cfun == 1 && m.at.cops != 2 }

// registrationForms returns the answers of AT+CREG, AT+CGREG or AT+CEREG:
// a setting <n>, read as <n>,<stat>, with the location from <n>=2 on.
func registrationForms(name string) forms {
	f := settingForms(name)
	f.read = readRegistration
	return f
}

// readRegistration answers AT+CREG?, AT+CGREG? or AT+CEREG?: registered
// on the home network (1) or not registered and not searching (0).
func readRegistration(m *Module, c command) result {
	n := m.at.values[c.name][0]
	if !m.registered() {
		return lines(fmt.Sprintf("%s: %d,0", c.name, n))
	}
	if n < 2 {
		return lines(fmt.Sprintf("%s: %d,1", c.name, n))
	}
	return lines(fmt.Sprintf(`%s: %d,1,"%s","%s",%d`, c.name, n, areaCode, cellID, actLTE))
}

// copsRanges are the <mode> and <format> groups of the AT+COPS=? answer.
const copsRanges = "(0-4),(0-2)"

// testCOPS lists the one network, available (2), and the modes and
// formats.
func testCOPS(m *Module, c command) result {
	name := m.encode(OperatorName)
	return lines(fmt.Sprintf(`+COPS: (2,"%s","%s","%s",%d),,%s`, name, name, OperatorNumeric, actLTE, copsRanges))
}

// readCOPS answers +COPS: <mode>[,<format>,"<oper>",<AcT>].
func readCOPS(m *Module, c command) result {
	if !m.registered() {
		return lines(fmt.Sprintf("+COPS: %d", m.at.cops))
	}
	oper := m.encode(OperatorName)
	if m.at.opFmt == 2 {
		oper = OperatorNumeric
	}
	return lines(fmt.Sprintf(`+COPS: %d,%d,"%s",%d`, m.at.cops, m.at.opFmt, oper, actLTE))
}

// encode returns s in the AT+CSCS character set: as it is (s is ASCII),
// or in hex of UTF-16BE for "UCS2". m.mu held.
func (m *Module) encode(s string) string {
	if m.at.charset != "UCS2" {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, "%04X", r)
	}
	return b.String()
}

// setCOPS runs AT+COPS=<mode>[,<format>[,<oper>[,<AcT>]]]: 0 (automatic),
// 1 and 4 (manual, our network only) register, 2 deregisters, 3 sets the
// format only.
func setCOPS(m *Module, c command) result {
	args := splitArgs(c.arg)
	groups := testGroups("+COPS: " + copsRanges)
	mode, err := strconv.Atoi(args[0])
	if err != nil || !inGroup(groups[0], mode) || len(args) > 4 {
		return fail("ERROR")
	}
	format := m.at.opFmt
	if len(args) > 1 && args[1] != "" {
		f, err := strconv.Atoi(args[1])
		if err != nil || !inGroup(groups[1], f) {
			return fail("ERROR")
		}
		format = f
	}
	if mode == 1 || mode == 4 {
		if len(args) < 3 || (args[2] != m.encode(OperatorName) && args[2] != OperatorNumeric) {
			return fail("ERROR")
		}
	}
	m.at.opFmt = format
	if mode != 3 {
		m.at.cops = mode
	}
	return result{}
}

// readCIND answers the indicators of cindTest: full battery, signal 3 of
// 5, service and packet attach while registered, SIM inserted.
func readCIND(m *Module, c command) result {
	reg := 0
	if m.registered() {
		reg = 1
	}
	return lines(fmt.Sprintf("+CIND: 5,3,%d,0,0,0,0,0,%d,0,0,1", reg, reg))
}

// readCCLK answers the clock in UTC, "yy/MM/dd,hh:mm:ss+zz".
func readCCLK(m *Module, c command) result {
	return lines(`+CCLK: "` + time.Now().UTC().Format("06/01/02,15:04:05") + `+00"`)
}

func readCSCS(m *Module, c command) result { return lines(`+CSCS: "` + m.at.charset + `"`) }

// setCSCS selects one of the character sets of csTest.
func setCSCS(m *Module, c command) result {
	args := splitArgs(c.arg)
	if len(args) != 1 || !inStrings(testGroups(csTest)[0], args[0]) {
		return fail("ERROR")
	}
	m.at.charset = args[0]
	return result{}
}

// setCLCK answers the query of a facility of clckTest, AT+CLCK=<fac>,2:
// not active. Locking and unlocking answer ERROR.
func setCLCK(m *Module, c command) result {
	args := splitArgs(c.arg)
	if len(args) != 2 || args[1] != "2" || !inStrings(testGroups(clckTest)[0], args[0]) {
		return fail("ERROR")
	}
	return lines("+CLCK: 0")
}

func readCFUN(m *Module, c command) result { return lines("+CFUN: " + strconv.Itoa(m.cfun) + ",0") }

// setCFUN sets the functionality; 15 and 16 reboot the module once OK is
// sent.
func setCFUN(m *Module, c command) result {
	args := splitArgs(c.arg)
	n, ok := intArg(args[0], 0, 127)
	if !ok || len(args) > 2 {
		return fail("ERROR")
	}
	if n == 15 || n == 16 {
		return result{final: "OK", after: func() { m.reboot("AT+CFUN=" + strconv.Itoa(n)) }}
	}
	m.cfun = n
	return result{}
}

// readCGDCONT answers the context a set defined, as it was given.
func readCGDCONT(m *Module, c command) result {
	if m.at.pdp == "" {
		return result{}
	}
	return lines("+CGDCONT: " + m.at.pdp)
}

// setCGDCONT defines a PDP context, as a pppd chat script sets the APN:
// accepted and remembered only for the reads.
func setCGDCONT(m *Module, c command) result {
	m.at.pdp = c.arg
	return result{}
}

// pdpCID returns the <cid> of the context defined, "" if none.
func (m *Module) pdpCID() string {
	cid, _, _ := strings.Cut(m.at.pdp, ",")
	return strings.TrimSpace(cid)
}

// readCGACT answers the state of the context defined: active while a
// call is up.
func readCGACT(m *Module, c command) result {
	cid := m.pdpCID()
	if cid == "" {
		return result{}
	}
	state := 0
	if m.callUp {
		state = 1
	}
	return lines(fmt.Sprintf("+CGACT: %s,%d", cid, state))
}

func readCGATT(m *Module, c command) result {
	if m.registered() {
		return lines("+CGATT: 1")
	}
	return lines("+CGATT: 0")
}

// readCPMS answers the memories in use, each empty.
func readCPMS(m *Module, c command) result {
	var parts []string
	for _, mem := range m.at.mem {
		parts = append(parts, fmt.Sprintf(`"%s",0,%d`, mem, storage[mem]))
	}
	return lines("+CPMS: " + strings.Join(parts, ","))
}

// setCPMS selects the memories of cpmsTest: +CPMS: <used1>,<total1>,...
// for the three memories in use.
func setCPMS(m *Module, c command) result {
	args := splitArgs(c.arg)
	groups := testGroups(cpmsTest)
	if len(args) > len(groups) {
		return fail("ERROR")
	}
	mem := m.at.mem
	for i, a := range args {
		if !inStrings(groups[i], a) {
			return fail("ERROR")
		}
		mem[i] = a
	}
	m.at.mem = mem
	var parts []string
	for _, s := range mem {
		parts = append(parts, fmt.Sprintf("0,%d", storage[s]))
	}
	return lines("+CPMS: " + strings.Join(parts, ","))
}

// testCMGL lists the message states in the AT+CMGF mode in force.
func testCMGL(m *Module, c command) result {
	if m.at.values["+CMGF"][0] == 1 {
		return lines(`+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")`)
	}
	return lines("+CMGL: (0-4)")
}
