package counters

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// The status socket's JSON names are a contract: this is the list as it
// was first published, in order.
var published = []string{
	"app_bytes_up", "app_bytes_down", "line_bytes_up", "line_bytes_down",
	"frames_up", "frames_down", "mac_failures", "fcs_failures",
	"length_errors", "other_rejects", "stray_bytes", "plain_dropped",
	"replays", "refused_commands", "opens", "rekeys", "rekeys_overdue",
	"reopens", "reconnects",
}

func TestNamesKeepTheContract(t *testing.T) {
	ids := All()
	if len(ids) < len(published) {
		t.Fatalf("%d counters, %d published", len(ids), len(published))
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seen := map[string]bool{}
	for i, id := range ids {
		if i < len(published) && id.Name() != published[i] {
			t.Errorf("counter %d is %q, published as %q", i, id.Name(), published[i])
		}
		if !snake.MatchString(id.Name()) || seen[id.Name()] || id.Help() == "" {
			t.Errorf("counter %d: name %q (duplicate %v), help %q", i, id.Name(), seen[id.Name()], id.Help())
		}
		seen[id.Name()] = true
	}
}

func TestSetSnapshotJSON(t *testing.T) {
	var s Set
	for _, id := range All() {
		s.Add(id, uint64(id)*10)
	}
	s.Inc(Replays)
	snap := s.Snapshot()
	if snap[Replays] != uint64(Replays)*10+1 || s.Load(Replays) != snap[Replays] {
		t.Fatalf("replays %d", snap[Replays])
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	// In order, every name once, as a plain object.
	var m map[string]uint64
	if err := json.Unmarshal(raw, &m); err != nil || len(m) != len(All()) {
		t.Fatalf("%s: %v", raw, err)
	}
	last := -1
	for _, c := range snap.List() {
		i := strings.Index(string(raw), `"`+c.Name+`":`)
		if i < last || m[c.Name] != c.Value {
			t.Fatalf("%s out of order or wrong in %s", c.Name, raw)
		}
		last = i
	}
	var back Snapshot
	if err := json.Unmarshal(raw, &back); err != nil || back != snap {
		t.Fatalf("round trip: %v %v", back, err)
	}
	// A newer daemon's extra counter is skipped; a missing one reads 0.
	if err := json.Unmarshal([]byte(`{"replays":3,"from_the_future":9}`), &back); err != nil || back[Replays] != 3 || back[Opens] != 0 {
		t.Fatalf("%v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`[1]`), &back); err == nil {
		t.Fatal("an array was taken for counters")
	}
}

// TestFailures pins which counters are failures ("status --all" notes
// them when not zero).
func TestFailures(t *testing.T) {
	var got []string
	for _, id := range All() {
		if id.Failure() {
			got = append(got, id.Name())
		}
	}
	want := []string{"mac_failures", "fcs_failures", "length_errors", "other_rejects", "replays", "app_overruns"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("failure counters %v, want %v", got, want)
	}
}
