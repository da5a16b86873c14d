package at

import "strings"

// redactCut returns the offset in line after which Redact hides the rest,
// or -1 when line holds no secret-bearing command. It looks for the names
// in two normalized views of line, with its editing bytes applied and
// ignored, and keeps the earliest cut.
func redactCut(line string) int {
	cut := -1
	for _, edit := range []bool{true, false} {
		norm, pos := redactView(line, edit)
		for _, name := range redacted {
			for from := 0; ; {
				i := strings.Index(norm[from:], name)
				if i < 0 {
					break
				}
				end := from + i + len(name)
				from = end
				rest := norm[end:]
				if harmless(rest) {
					continue
				}
				k := pos[end-1] + 1
				if rest[0] == '=' || rest[0] == ':' {
					k = pos[end] + 1
				}
				if cut < 0 || k < cut {
					cut = k
				}
			}
		}
	}
	return cut
}

// harmless reports whether what follows a name carries no argument: the end
// of the line or of the command, or a read or test form.
func harmless(rest string) bool {
	for _, form := range []string{"", "?", "=?"} {
		if r, ok := strings.CutPrefix(rest, form); ok && (r == "" || r[0] == ';') {
			return true
		}
	}
	return false
}

// redactView returns the upper-case bytes of line a module could read as a
// command name, each with its offset in line: spaces, quotes and control
// bytes dropped, the high bit cleared. With edit, backspace and DEL delete
// the byte before them; without, they are dropped too.
func redactView(line string, edit bool) (string, []int) {
	norm := make([]byte, 0, len(line))
	pos := make([]int, 0, len(line))
	for i := 0; i < len(line); i++ {
		c := line[i] & 0x7f
		switch {
		case c == EditBackspace || c == EditDelete:
			if edit && len(norm) > 0 {
				norm, pos = norm[:len(norm)-1], pos[:len(pos)-1]
			}
			continue
		case c < 0x20 || c == ' ' || c == '"':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		norm = append(norm, c)
		pos = append(pos, i)
	}
	return string(norm), pos
}
