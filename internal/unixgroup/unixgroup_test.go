package unixgroup

import "testing"

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"20", 20, true}, {"root", 0, true},
		{"-1", 0, false}, {"no-such-group-c2c", 0, false},
	} {
		got, err := Lookup(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("Lookup(%q) = %d, %v", tc.in, got, err)
		}
	}
}
