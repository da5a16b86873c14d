package bridge

import (
	"strings"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// TestLogNeverShowsSecrets runs a session at debug level with the trace on,
// rekeys with new secrets included, and checks the log shows the open, the
// rekey and the fingerprint but no secret, as hex in either case or as raw
// bytes.
func TestLogNeverShowsSecrets(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		var generations []c2c.Secrets
		r := newRig(t, rigOpts{version: v,
			modCfg: func(c *modemsim.Config) { c.Rekey = modemsim.RekeyNew },
			brCfg: func(c *Config) {
				c.Trace = true
				c.RekeyInterval = 30 * time.Millisecond
				generations = append(generations, *c.Secrets)
			}})
		r.waitOpen()
		for r.mod.Stats().Rekeys < 3 {
			r.send("AT+CGMI\r")
			r.expect("OK")
			generations = append(generations, *r.mod.Secrets())
		}
		r.send("AT+CPIN=\"1234\"\r")
		r.expect("ERROR")
		r.send("at+usecc2c=1,\"00112233445566778899aabbccddeeff\"\r")
		r.expect("ERROR")
		waitFor(t, "the last rekey", func() bool { return r.b.Stats().State == StateOpen })
		fp := r.b.Stats().Fingerprint
		log := r.logs.String()
		for _, want := range []string{"secure session open", "rekey: the module issued new secrets", fp, "line=AT+CGMI", "AT+USECC2C=<redacted>", "AT+CPIN=<redacted>"} {
			if !strings.Contains(log, want) {
				t.Fatalf("the log lacks %q:\n%s", want, log)
			}
		}
		if strings.Contains(log, "1234") || strings.Contains(log, "00112233445566778899aabbccddeeff") {
			t.Fatal("the log shows an application's secret argument")
		}
		for _, g := range generations {
			for _, k := range []*c2c.Secret{&g.TESecret, &g.Key, &g.HMACKey} {
				if k.IsZero() {
					continue
				}
				for _, needle := range []string{k.Hex(), strings.ToUpper(k.Hex()), string(k[:])} {
					if strings.Contains(log, needle) {
						t.Fatalf("the log shows a secret (%d generations checked)", len(generations))
					}
				}
			}
		}
		if len(generations) < 3 {
			t.Fatal("too few generations checked")
		}
	})
}
