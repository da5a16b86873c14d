//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// codecBench is one line of `go test -bench . -benchmem ./crypto`.
type codecBench struct {
	name   string // e.g. "Codec/seal/V2/255"
	nsOp   float64
	mbs    float64 // 0 when not reported
	allocs int64
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)

// readCodecBench parses the output of the codec benchmarks.
func readCodecBench(path string) ([]codecBench, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []codecBench
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		b := codecBench{name: m[1], allocs: -1}
		b.nsOp, _ = strconv.ParseFloat(m[2], 64)
		f := strings.Fields(m[3])
		for i := 1; i < len(f); i++ {
			switch f[i] {
			case "MB/s":
				b.mbs, _ = strconv.ParseFloat(f[i-1], 64)
			case "allocs/op":
				b.allocs, _ = strconv.ParseInt(f[i-1], 10, 64)
			}
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results", path)
	}
	return out, nil
}
