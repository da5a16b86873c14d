//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// report holds every measurement of one harness run.
type report struct {
	opt        options
	started    time.Time
	took       time.Duration
	loadBefore string // the 1-minute load average when the run started

	tp                  map[string][]tpResult // by relay name
	rttSocat, rttBridge []rttResult
	bulk, storm         map[int][]float64 // goodput in bytes/s, by baud
	plainBulk           map[int][]float64 // the same straight to the module, plain text
	idle, plainIdle     []time.Duration
	soak                *soakResult
	codec               []codecBench
}

// row is one line of the table.
type row struct {
	figure, bridge, ref, ratio, target, met string
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// markdown renders the conditions, the table and the raw runs.
func (r *report) markdown() string {
	var b strings.Builder
	mode := "full"
	if r.opt.quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "## c2cbridge benchmarks (%s run, %s)\n\n", mode, r.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "%s; %d CPUs (%s); Linux %s; %s; socat %s; %d runs per figure, %d of throughput (medians); took %v; load average before: %s, after: %s.\n\n",
		binaryVersion(r.opt.bin), runtime.NumCPU(), cpuModel(), kernel(), runtime.Version(), socatVersion(), r.opt.runs, r.opt.tpRuns,
		r.took.Round(time.Second), r.loadBefore, loadAverage())

	rows := r.rows()
	b.WriteString("| figure | bridge | reference | ratio | target | met? |\n|---|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.figure, x.bridge, x.ref, x.ratio, x.target, x.met)
	}
	b.WriteString("\n")
	r.notes(&b)
	return b.String()
}

func (r *report) rows() []row {
	var rows []row
	if len(r.tp) > 0 {
		ref := mbpsOf(r.tp[relaySocat.name])
		for _, x := range []struct {
			k      relayKind
			target float64
		}{{relayV2, targetTPV2}, {relayV1, targetTPV1}} {
			got := mbpsOf(r.tp[x.k.name])
			ratio := median(got) / median(ref)
			rows = append(rows, row{
				figure: fmt.Sprintf("1. throughput %v, MB/s of application bytes (%d MiB)", x.k.v, r.opt.size>>20),
				bridge: fmt.Sprintf("%.1f%s", median(got), hashNote(r.tp[x.k.name])),
				ref:    fmt.Sprintf("%.1f (socat)", median(ref)),
				ratio:  fmt.Sprintf("%.2f", ratio),
				target: fmt.Sprintf("≥ %.2f", x.target),
				met:    yes(ratio >= x.target),
			})
		}
		if got := mbpsOf(r.tp[relayGo.name]); len(got) > 0 {
			rows = append(rows, row{
				figure: "1. check: a plain relay in Go (the bridge's I/O, no protocol), MB/s",
				bridge: "—",
				ref:    fmt.Sprintf("%.1f of %.1f (socat)", median(got), median(ref)),
				ratio:  fmt.Sprintf("%.2f", median(got)/median(ref)),
				target: "calibration",
				met:    "—",
			})
		}
	}
	if len(r.rttBridge) > 0 {
		for _, p := range []struct {
			name string
			get  func(rttResult) time.Duration
		}{{"p50", func(x rttResult) time.Duration { return x.p50 }}, {"p99", func(x rttResult) time.Duration { return x.p99 }}} {
			got, ref := median(mapRTT(r.rttBridge, p.get)), median(mapRTT(r.rttSocat, p.get))
			ratio := float64(got) / float64(ref)
			rows = append(rows, row{
				figure: fmt.Sprintf("2. AT round trip %s (%d per run, modemsim)", p.name, r.opt.rtts),
				bridge: us(got), ref: us(ref) + " (socat)",
				ratio: fmt.Sprintf("%.2f", ratio), target: fmt.Sprintf("≤ %.2f", targetRTT), met: yes(ratio <= targetRTT),
			})
		}
	}
	if len(r.bulk) > 0 {
		for _, x := range []struct {
			name   string
			m      map[int][]float64
			target float64
		}{{"bulk 4 KiB writes", r.bulk, targetBulk}, {"storm of 10-byte writes", r.storm, targetStorm}} {
			for _, baud := range lineBauds {
				got, limit := median(x.m[baud]), lineLimit(baud)
				// The same share of what the emulated line carried for a
				// plain stream straight to modemsim.
				line := median(r.plainBulk[baud]) / (float64(baud) / 10)
				rows = append(rows, row{
					figure: fmt.Sprintf("3. %d baud, %s: goodput B/s (pace: %s)", baud, x.name, r.opt.pace),
					bridge: fmt.Sprintf("%.0f", got), ref: fmt.Sprintf("%.0f (line limit)", limit),
					ratio:  fmt.Sprintf("%.3f (%.3f of the emulated line)", got/limit, got/limit/line),
					target: fmt.Sprintf("≥ %.2f", x.target), met: yes(got/limit >= x.target),
				})
			}
		}
		for _, baud := range lineBauds {
			got, limit := median(r.plainBulk[baud]), float64(baud)/10
			rows = append(rows, row{
				figure: fmt.Sprintf("3. check of the emulated %d line: plain bulk, application straight on modemsim, B/s", baud),
				bridge: "—", ref: fmt.Sprintf("%.0f of %.0f (baud/10)", got, limit),
				ratio: fmt.Sprintf("%.3f", got/limit), target: "1 (calibration)", met: "—",
			})
		}
		got, wire := median(r.idle), idleWire(lineBauds[0])
		plain, plainWire := median(r.plainIdle), plainIdleWire(lineBauds[0])
		own := (got - wire) - (plain - plainWire)
		rows = append(rows, row{
			figure: fmt.Sprintf("3. isolated AT on an idle %d line: round trip vs its frames' wire time", lineBauds[0]),
			bridge: ms(got), ref: ms(wire) + " (54 + 54 bytes)",
			ratio:  fmt.Sprintf("+%s (the bridge's own: %+.2f ms)", ms(got-wire), float64(own)/float64(time.Millisecond)),
			target: "≤ +" + ms(targetIdleExtra), met: yes(got-wire <= targetIdleExtra),
		})
		rows = append(rows, row{
			figure: fmt.Sprintf("3. check of the emulated %d line: isolated plain AT straight to modemsim vs its wire time", lineBauds[0]),
			bridge: "—", ref: fmt.Sprintf("%s, wire %s (3 + 6 bytes)", ms(plain), ms(plainWire)),
			ratio: "+" + ms(plain-plainWire), target: "calibration", met: "—",
		})
	}
	if len(r.tp) > 0 {
		ref := cpuPerGiB(r.tp[relaySocat.name], r.opt.size)
		for _, k := range []relayKind{relayV2, relayV1} {
			got := cpuPerGiB(r.tp[k.name], r.opt.size)
			rows = append(rows, row{
				figure: fmt.Sprintf("4. CPU seconds per GiB relayed, %v (user+sys of the relay process)", k.v),
				bridge: fmt.Sprintf("%.2f", got), ref: fmt.Sprintf("%.2f (socat)", ref),
				ratio: fmt.Sprintf("%.2f", got/ref), target: "report", met: "—",
			})
		}
		if xs := r.tp[relayGo.name]; len(xs) > 0 {
			got := cpuPerGiB(xs, r.opt.size)
			rows = append(rows, row{
				figure: "4. check: CPU seconds per GiB of the plain Go relay (user+sys)",
				bridge: "—", ref: fmt.Sprintf("%.2f of %.2f (socat)", got, ref),
				ratio: fmt.Sprintf("%.2f", got/ref), target: "calibration", met: "—",
			})
		}
		var peak, socatPeak int64
		for _, k := range []relayKind{relayV2, relayV1} {
			for _, x := range r.tp[k.name] {
				peak = max(peak, x.hwm)
			}
		}
		for _, x := range r.tp[relaySocat.name] {
			socatPeak = max(socatPeak, x.hwm)
		}
		rows = append(rows, row{
			figure: "4. peak RSS (VmHWM) during the throughput runs",
			bridge: fmt.Sprintf("%.1f MiB", mib(peak)), ref: fmt.Sprintf("%.1f MiB (socat)", mib(socatPeak)),
			ratio: fmt.Sprintf("%.1f", float64(peak)/float64(socatPeak)), target: "≤ 20 MiB", met: yes(peak <= targetRSS),
		})
	}
	if s := r.soak; s != nil {
		growth := s.endHWM - s.warmHWM
		rows = append(rows, row{
			figure: fmt.Sprintf("4. VmHWM after a %v soak, rekey every %v (%d rekeys)", s.took.Round(time.Second), soakRekey, s.rekeys),
			bridge: fmt.Sprintf("%.1f MiB", mib(s.endHWM)), ref: fmt.Sprintf("%.1f MiB (at %v)", mib(s.warmHWM), warmPoint(r.opt.soak)),
			ratio: fmt.Sprintf("%+.2f MiB", mib(growth)), target: "≤ 20 MiB, no growth",
			met: yes(s.endHWM <= targetRSS && growth <= rssGrowthSlack && s.rekeys > 0),
		})
	}
	for _, c := range r.codec {
		if !strings.HasPrefix(c.name, "Codec/") && c.name != "FCS" {
			continue
		}
		val := fmt.Sprintf("%.0f ns/op", c.nsOp)
		if c.mbs > 0 {
			val += fmt.Sprintf(", %.0f MB/s", c.mbs)
		}
		if c.allocs >= 0 {
			val += fmt.Sprintf(", %d allocs/op", c.allocs)
		}
		rows = append(rows, row{
			figure: "5. codec " + strings.TrimPrefix(c.name, "Codec/"), bridge: val, ref: "—", ratio: "—",
			target: "0 allocs/op", met: yes(c.allocs == 0),
		})
	}
	return rows
}

// notes lists the raw runs under the table.
func (r *report) notes(b *strings.Builder) {
	b.WriteString("Raw runs:\n\n")
	for _, k := range []relayKind{relaySocat, relayV2, relayV1, relayGo} {
		if xs := r.tp[k.name]; len(xs) > 0 {
			var parts []string
			for _, x := range xs {
				p := fmt.Sprintf("%.1f MB/s (relay cpu %.2fs, app+sink cpu %.2fs, machine %.0f%% busy, VmHWM %.1f MiB",
					x.mbps, x.cpu.Seconds(), x.self.Seconds(), 100*x.busy, mib(x.hwm))
				if !x.hashOK {
					p += ", HASH MISMATCH"
				}
				if x.stray+x.reject > 0 {
					p += fmt.Sprintf(", %d rejected frames, %d stray bytes", x.reject, x.stray)
				}
				parts = append(parts, p+")")
			}
			fmt.Fprintf(b, "- throughput %s: %s\n", k.name, strings.Join(parts, "; "))
		}
	}
	for _, x := range []struct {
		name string
		rs   []rttResult
	}{{"socat", r.rttSocat}, {"bridge", r.rttBridge}} {
		if len(x.rs) > 0 {
			var parts []string
			for _, y := range x.rs {
				parts = append(parts, fmt.Sprintf("p50 %s p99 %s", us(y.p50), us(y.p99)))
			}
			fmt.Fprintf(b, "- round trip %s: %s\n", x.name, strings.Join(parts, "; "))
		}
	}
	for _, baud := range lineBauds {
		for _, x := range []struct {
			name string
			m    map[int][]float64
		}{{"plain bulk straight to modemsim (share of baud/10)", r.plainBulk}, {"bulk", r.bulk}, {"storm", r.storm}} {
			if xs := x.m[baud]; len(xs) > 0 {
				var parts []string
				limit := lineLimit(baud)
				if strings.HasPrefix(x.name, "plain") {
					limit = float64(baud) / 10
				}
				for _, g := range xs {
					parts = append(parts, fmt.Sprintf("%.0f B/s (%.3f)", g, g/limit))
				}
				fmt.Fprintf(b, "- %d %s, %v windows: %s\n", baud, x.name, r.opt.window, strings.Join(parts, "; "))
			}
		}
	}
	if len(r.idle) > 0 {
		var parts []string
		for _, d := range r.idle {
			parts = append(parts, ms(d))
		}
		fmt.Fprintf(b, "- idle AT at %d through the bridge (median of %d each): %s\n", lineBauds[0], idleN, strings.Join(parts, "; "))
		parts = parts[:0]
		for _, d := range r.plainIdle {
			parts = append(parts, ms(d))
		}
		fmt.Fprintf(b, "- idle plain AT at %d straight to modemsim (median of %d each): %s\n", lineBauds[0], idleN, strings.Join(parts, "; "))
	}
	if s := r.soak; s != nil {
		fmt.Fprintf(b, "- soak: %d application commands, %d rekeys, VmRSS at each quarter %.1f, %.1f, %.1f, %.1f MiB, VmHWM %.1f → %.1f MiB, clean exit on SIGTERM: %v\n",
			s.commands, s.rekeys, mib(s.quarters[0]), mib(s.quarters[1]), mib(s.quarters[2]), mib(s.quarters[3]),
			mib(s.warmHWM), mib(s.endHWM), s.exitOK)
	}
	b.WriteString("\nMB/s is 10^6 bytes a second. Line limit: baud/10 × 255/294 bytes a second (full V2 host frames).\n")
}

// warmPoint is when the soak takes the VmHWM it compares the end with:
// half-way, when the Go heap has long reached its first collection.
func warmPoint(soak time.Duration) time.Duration {
	return max(soak/2, soakRekey+soakRekey/2).Round(time.Second)
}

func mbpsOf(xs []tpResult) []float64 {
	var out []float64
	for _, x := range xs {
		out = append(out, x.mbps)
	}
	return out
}

func hashNote(xs []tpResult) string {
	bad := 0
	for _, x := range xs {
		if !x.hashOK {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Sprintf(" (%d runs: hash mismatch, counted 0)", bad)
	}
	return ""
}

func cpuPerGiB(xs []tpResult, size int64) float64 {
	var per []float64
	for _, x := range xs {
		per = append(per, x.cpu.Seconds()*float64(1<<30)/float64(size))
	}
	return median(per)
}

func mapRTT(xs []rttResult, f func(rttResult) time.Duration) []time.Duration {
	var out []time.Duration
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func binaryVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "c2cbridge ?"
	}
	return strings.TrimSpace(string(out))
}

func socatVersion() string {
	out, err := exec.Command("socat", "-V").Output()
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "socat" && f[1] == "version" {
			return f[2]
		}
	}
	return "?"
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if name, val, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	data, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(data))
}

// loadAverage returns the 1-minute load average.
func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
