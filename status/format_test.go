package status

import (
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
)

func TestFormat(t *testing.T) {
	since := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	last := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	next := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	now := time.Date(2025, 6, 1, 10, 30, 0, 400e6, time.UTC)
	tests := []struct {
		name string
		s    Snapshot
		want string
	}{
		{"open session", Snapshot{
			Session:             Session{State: "open", Version: "V2", Since: since},
			Rekey:               Rekey{Last: &last, Next: &next},
			ApplicationAttached: true,
			ModuleAttached:      true,
			Fingerprint:         "1a2b3c4d",
			Counters: Counters{counters.AppBytesUp: 1, counters.AppBytesDown: 2, counters.LineBytesUp: 3, counters.LineBytesDown: 4, counters.FramesUp: 5,
				counters.FramesDown: 6, counters.MACFailures: 7, counters.FCSFailures: 8, counters.LengthErrors: 9, counters.OtherRejects: 10, counters.StrayBytes: 11,
				counters.PlainDropped: 12, counters.Replays: 13, counters.RefusedCommands: 14, counters.Opens: 15, counters.Rekeys: 16, counters.RekeysOverdue: 17,
				counters.Reopens: 18, counters.Reconnects: 1234567},
		}, `session:      open, V2, since 2025-06-01T08:00:00Z (2h30m0s ago)
last rekey:   2025-06-01T09:00:00Z (1h30m0s ago)
next rekey:   2025-06-02T09:00:00Z (in 22h30m0s)
application:  attached
module:       attached
fingerprint:  1a2b3c4d
counters:
  app_bytes_up      1
  app_bytes_down    2
  line_bytes_up     3
  line_bytes_down   4
  frames_up         5
  frames_down       6
  mac_failures      7
  fcs_failures      8
  length_errors     9
  other_rejects     10
  stray_bytes       11
  plain_dropped     12
  replays           13
  refused_commands  14
  opens             15
  rekeys            16
  rekeys_overdue    17
  reopens           18
  reconnects        1234567
  app_overruns      0
`},
		{"nothing known", Snapshot{Session: Session{State: "module lost", Version: "V1", Since: now}}, `session:      module lost, V1, since 2025-06-01T10:30:00Z (now)
last rekey:   none since start
next rekey:   not scheduled
application:  not attached
module:       not attached
fingerprint:  unknown
counters:
  app_bytes_up      0
  app_bytes_down    0
  line_bytes_up     0
  line_bytes_down   0
  frames_up         0
  frames_down       0
  mac_failures      0
  fcs_failures      0
  length_errors     0
  other_rejects     0
  stray_bytes       0
  plain_dropped     0
  replays           0
  refused_commands  0
  opens             0
  rekeys            0
  rekeys_overdue    0
  reopens           0
  reconnects        0
  app_overruns      0
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := formatAt(&b, tc.s, now); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
