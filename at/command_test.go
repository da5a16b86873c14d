package at

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		`at+cpin?`:                   `AT+CPIN?`,
		`AT   +CSQ`:                  `AT+CSQ`,
		`at +cmgs = "+44 12 ab"`:     `AT+CMGS="+44 12 ab"`,
		`at+x="a"b"c d`:              `AT+X="a"B"c d`,
		`a t + u s e c c 2 c = 3`:    `AT+USECC2C=3`,
		`AT+CGDCONT=1,"ip","in;x" `:  `AT+CGDCONT=1,"ip","in;x"`,
		``:                           ``,
		`   `:                        ``,
		`ATD*99***1#;`:               `ATD*99***1#;`,
		`ate0 v1 &c1 &d2 s0=0 x4 z1`: `ATE0V1&C1&D2S0=0X4Z1`,
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCommandLine(t *testing.T) {
	type C = Command
	for _, tc := range []struct {
		in   string
		want []Command
	}{
		{`AT`, nil},
		{`at`, nil},
		{`  AT`, nil},
		{`at E0`, []C{{"E", KindBasic, "0"}}},
		{`ATZ`, []C{{"Z", KindBasic, ""}}},
		{`AT&F`, []C{{"&F", KindAmpersand, ""}}},
		{`ATI`, []C{{"I", KindBasic, ""}}},
		{`ATI0`, []C{{"I", KindBasic, "0"}}},
		{`at+cpin?`, []C{{"+CPIN", KindRead, ""}}},
		{`AT   +CSQ`, []C{{"+CSQ", KindAction, ""}}},
		{`AT+CMEE=2;+USECC2C=2`, []C{{"+CMEE", KindSet, "2"}, {"+USECC2C", KindSet, "2"}}},
		{`ATE0V1&C1&D2`, []C{{"E", KindBasic, "0"}, {"V", KindBasic, "1"}, {"&C", KindAmpersand, "1"}, {"&D", KindAmpersand, "2"}}},
		{`ATZ E0 V1`, []C{{"Z", KindBasic, ""}, {"E", KindBasic, "0"}, {"V", KindBasic, "1"}}},
		{`ATX4 &C1`, []C{{"X", KindBasic, "4"}, {"&C", KindAmpersand, "1"}}},
		{`ATS0=0`, []C{{"S0", KindSWrite, "0"}}},
		{`ATS3=13`, []C{{"S3", KindSWrite, "13"}}},
		{`ATS12?`, []C{{"S12", KindSRead, ""}}},
		{`ATS5`, []C{{"S5", KindSRead, ""}}},
		{`ATS7=060E0`, []C{{"S7", KindSWrite, "060"}, {"E", KindBasic, "0"}}},
		{`ATD*99#`, []C{{"D", KindDial, "*99#"}}},
		{`ATD*99***1#;`, []C{{"D", KindDial, "*99***1#;"}}},
		{`ATDT*99#`, []C{{"D", KindDial, "T*99#"}}},
		{`ATD+441234;`, []C{{"D", KindDial, "+441234;"}}},
		{`ATD>SM1;`, []C{{"D", KindDial, ">SM1;"}}},
		{`ATE0D123`, []C{{"E", KindBasic, "0"}, {"D", KindDial, "123"}}},
		{`AT+CGDCONT=1,"IP","internet;x"`, []C{{"+CGDCONT", KindSet, `1,"IP","internet;x"`}}},
		{`AT+CMGS="+4412 345"`, []C{{"+CMGS", KindSet, `"+4412 345"`}}},
		{`AT+USOWR=0,5`, []C{{"+USOWR", KindSet, "0,5"}}},
		{`AT+CMEE=?`, []C{{"+CMEE", KindTest, ""}}},
		{`AT+CMEE=`, []C{{"+CMEE", KindSet, ""}}},
		{`ATI;+CGATT?;+COPS?`, []C{{"I", KindBasic, ""}, {"+CGATT", KindRead, ""}, {"+COPS", KindRead, ""}}},
		{`AT+CMEE=2;E0`, []C{{"+CMEE", KindSet, "2"}, {"E", KindBasic, "0"}}},
		{`AT+CSQ;`, []C{{"+CSQ", KindAction, ""}}},
		{`ATE0+CMEE=1`, []C{{"E", KindBasic, "0"}, {"+CMEE", KindSet, "1"}}},
		{`AT\Q3`, []C{{`\Q`, KindBackslash, "3"}}},
		{`AT+CPSMS=1,,,"00000100","00001111"`, []C{{"+CPSMS", KindSet, `1,,,"00000100","00001111"`}}},
		{`AT+CGDATA="PPP",1`, []C{{"+CGDATA", KindSet, `"PPP",1`}}},
		{`AT+X="a\22b\5c;\0D\0a"`, []C{{"+X", KindSet, `"a\22b\5c;\0D\0a"`}}},
	} {
		got, err := ParseCommandLine(tc.in)
		if err != nil {
			t.Errorf("ParseCommandLine(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got.Commands, tc.want) {
			t.Errorf("ParseCommandLine(%q) = %+v, want %+v", tc.in, got.Commands, tc.want)
		}
		if got.Canonical != Canonical(tc.in) {
			t.Errorf("ParseCommandLine(%q).Canonical = %q", tc.in, got.Canonical)
		}
	}
}

func TestParseCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{``, ErrEmptyLine},
		{`   `, ErrEmptyLine},
		{`A/`, ErrNotAT},
		{`CONNECT`, ErrNotAT},
		{`@`, ErrNotAT},
		{`xxAT+CSQ`, ErrNotAT},
		{`A`, ErrNotAT},
		{`A T+CSQ`, ErrNotAT},
		{`At+csq`, ErrNotAT},
		{`aT+CSQ`, ErrNotAT},
		{`A T+CGDCONT=1,"IP","ATS5=88"`, ErrNotAT},
		{"AT\x01", ErrSyntax},
		{"AT\x7f", ErrSyntax},
		{"AT+X=\"\xc3\"", ErrSyntax},
		{`AT;`, ErrSyntax},
		{`AT+CSQ;;+CSQ`, ErrSyntax},
		{`AT+CSQ?E0`, ErrSyntax},          // extended not followed by ; or end
		{`AT+CMEE=1V0`, ErrSyntax},        // letter in unquoted arguments
		{`AT+CMEE=1+IPR=9600`, ErrSyntax}, // + in unquoted arguments
		{`AT+CMEE=1&W`, ErrSyntax},
		{`AT+X=1=2`, ErrSyntax},
		{`AT+X=1?`, ErrSyntax},
		{`AT+X?1`, ErrSyntax},
		{`AT+X=?1`, ErrSyntax},
		{`AT+X="open`, ErrSyntax},
		{`AT+`, ErrSyntax},
		{`AT+1X`, ErrSyntax},
		{`AT+ABCDEFGHIJKLMNOPQ`, ErrSyntax}, // 17 characters
		{`AT%X`, ErrSyntax},
		{`AT#X`, ErrSyntax},
		{`AT&`, ErrSyntax},
		{`AT&1`, ErrSyntax},
		{`ATE01`, ErrSyntax},   // zero-padded
		{`ATE1000`, ErrSyntax}, // over-long
		{`ATE?`, ErrSyntax},
		{`ATE=1`, ErrSyntax},
		{`AT=8`, ErrSyntax},
		{`AT?`, ErrSyntax},
		{`ATS`, ErrSyntax},
		{`ATS=5`, ErrSyntax},
		{`ATS03=5`, ErrSyntax},
		{`ATS3=`, ErrSyntax},
		{`ATS3=1000`, ErrSyntax},
		{`ATD12;34`, ErrSyntax},
		{`ATD12;+CSQ`, ErrSyntax},
		{`ATD123V0`, ErrSyntax},
		{`ATD12+34`, ErrSyntax},
		{`ATD1=2`, ErrSyntax},
		{`ATD>"Jo; Smith";`, ErrSyntax},
		{`ATD"open`, ErrSyntax},
		{`AT+X="a\",";S5=88;"`, ErrSyntax}, // \" would keep the string open
		{`AT+X="a\"`, ErrSyntax},
		{`AT+X="\2"`, ErrSyntax},
		{`AT+X="\2g"`, ErrSyntax},
		{`ATD>"a\";`, ErrSyntax},
	} {
		_, err := ParseCommandLine(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseCommandLine(%q) error %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestSyntaxErrorQuotesNoArgument(t *testing.T) {
	_, err := ParseCommandLine(`AT+CPIN=12X34`)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a *SyntaxError", err)
	}
	if msg := err.Error(); strings.Contains(msg, "12") || strings.Contains(msg, "X34") {
		t.Errorf("message %q quotes the argument", msg)
	}
}

func TestCommandArgs(t *testing.T) {
	for arg, want := range map[string][]string{
		``:                  nil,
		`0,5`:               {"0", "5"},
		`1,"IP","a,b"`:      {"1", `"IP"`, `"a,b"`},
		`0,"1.2.3.4",80,16`: {"0", `"1.2.3.4"`, "80", "16"},
		`1,,,"00000100"`:    {"1", "", "", `"00000100"`},
		`"x",`:              {`"x"`, ""},
	} {
		if got := (Command{Arg: arg}).Args(); !reflect.DeepEqual(got, want) {
			t.Errorf("Args(%q) = %q, want %q", arg, got, want)
		}
	}
}
