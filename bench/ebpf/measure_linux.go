//go:build linux

package main

// Measurements: phases of the workload with something attached, rotating
// rounds of one pinned ping-pong pair, and single operations; each read from
// BPF statistics and the workload's own rates.

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"
)

type programResult struct {
	name                 string
	runsPerSec, nsPerRun float64
}

type phaseResult struct {
	name       string
	rate       rates
	cpuPercent float64
	rssMiB     float64
	userEvents float64
	drops      uint64
	programs   []programResult
}

// runsPerSec is the summed run rate of the phase's programs.
func (r *phaseResult) runsPerSec() float64 {
	var runs float64
	for _, p := range r.programs {
		runs += p.runsPerSec
	}
	return runs
}

// avgNsPerRun is the runs-weighted average cost of the phase's programs.
func (r *phaseResult) avgNsPerRun() float64 {
	var ns float64
	for _, p := range r.programs {
		ns += p.runsPerSec * p.nsPerRun
	}
	if runs := r.runsPerSec(); runs > 0 {
		return ns / runs
	}
	return 0
}

func measure(name string, d time.Duration, load workloadSpec, attach func() *attachment) *phaseResult {
	fmt.Fprintf(os.Stderr, "phase %s ...\n", name)
	r := &phaseResult{name: name}
	var a *attachment
	if attach != nil {
		a = attach()
		time.Sleep(time.Second) // let start-up work settle
	}
	before := programStats(a)
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var ev0 uint64
	if a != nil && a.userEvents != nil {
		ev0 = a.userEvents()
	}
	start := time.Now()
	r.rate = runWorkload(d, load)
	elapsed := time.Since(start).Seconds()
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	after := programStats(a)
	r.cpuPercent = (tv(ru1.Utime) + tv(ru1.Stime) - tv(ru0.Utime) - tv(ru0.Stime)) / elapsed * 100
	r.rssMiB = rssMiB()
	if a != nil {
		if a.userEvents != nil {
			r.userEvents = float64(a.userEvents()-ev0) / elapsed
		}
		if a.drops != nil {
			r.drops = a.drops()
		}
		for name, b := range after {
			runs := b.RunCount - before[name].RunCount
			ns := float64(b.Runtime - before[name].Runtime)
			p := programResult{name: name, runsPerSec: float64(runs) / elapsed}
			if runs > 0 {
				p.nsPerRun = ns / float64(runs)
			}
			r.programs = append(r.programs, p)
		}
		sort.Slice(r.programs, func(i, j int) bool { return r.programs[i].runsPerSec > r.programs[j].runsPerSec })
		a.stop()
	}
	return r
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func programStats(a *attachment) map[string]ebpf.ProgramStats {
	out := map[string]ebpf.ProgramStats{}
	if a == nil {
		return out
	}
	for name, p := range a.programs {
		if st, err := p.Stats(); err == nil {
			out[name] = *st
		}
	}
	return out
}

func rssMiB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// measureOverhead measures what the programs cost the workload without BPF
// statistics (which add two sched_clock() reads to every run): one ping-pong
// pair pinned to CPU 0 does nothing but switch and wake, so every nanosecond
// a program adds per round trip (two sched_switch, two sched_wakeup) shows in
// its rate. Variants rotate within each round so drifts of the machine hit
// all of them; each round's difference to "detached" is taken and the median
// over rounds reported.
func measureOverhead(d time.Duration, rounds int) {
	noStats := func(c *ebpfreceiver.Config) { c.ProgramStats = false }
	variants := []variant{
		{"detached", nil},
		{"empty programs on sched_switch and sched_wakeup", startBaseline},
		{"receiver, run_queue_latency: wakeup (default)", startReceiver(noStats)},
		{"receiver, run_queue_latency: sched_info", startReceiver(func(c *ebpfreceiver.Config) {
			noStats(c)
			c.Scheduler.RunQueueLatency = ebpfreceiver.RunQueueLatencySchedInfo
		})},
	}
	requireStatsOff("this would measure them too")
	nsPerRT := pingPongRounds(d, rounds, variants)
	fmt.Println()
	fmt.Printf("## Added cost per round trip, BPF statistics off (1 ping-pong pair pinned to CPU 0, %d rounds of %v)\n", rounds, d)
	fmt.Println("Per round trip: 2 sched_switch + 2 sched_wakeup. \"added\" = median over rounds of (variant − detached) in the same round.")
	fmt.Println()
	fmt.Println("| variant | round trips/s (median) | ns per round trip (median) | added ns per round trip: median (25th–75th percentile) |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for i, v := range variants {
		var diffs []float64
		for r := range rounds {
			diffs = append(diffs, nsPerRT[i][r]-nsPerRT[0][r])
		}
		m := quantile(nsPerRT[i], 0.5)
		fmt.Printf("| %s | %.0f | %.1f | %.0f (%.0f – %.0f) |\n", v.name, 1e9/m, m,
			quantile(diffs, 0.5), quantile(diffs, 0.25), quantile(diffs, 0.75))
	}
}

// measureStatsCost measures what program_stats costs the node. BPF_ENABLE_STATS
// is system-wide: while it is on, every BPF program on the node — a CNI's
// datapath included — pays two sched_clock() reads per run. Another BPF user's
// programs (the empty tp_btf programs on sched_switch and sched_wakeup) stay
// attached for the whole measurement; the variants rotate within each round
// and each is reported as the median over rounds of its round-trip rate
// divided by the detached rate of the same round.
func measureStatsCost(d time.Duration, rounds int) {
	requireStatsOff("the variants would not differ")
	def := ebpfreceiver.NewFactory().CreateDefaultConfig().(*ebpfreceiver.Config).ProgramStats
	variants := []variant{
		{"receiver detached (the other BPF user alone)", nil},
		{fmt.Sprintf("receiver, default configuration (program_stats: %v)", def), startReceiver(nil)},
		{"receiver, program_stats: false", startReceiver(func(c *ebpfreceiver.Config) { c.ProgramStats = false })},
		{"receiver, program_stats: true", startReceiver(func(c *ebpfreceiver.Config) { c.ProgramStats = true })},
	}
	peer := startBaseline()
	nsPerRT := pingPongRounds(d, rounds, variants)
	peer.stop()
	ratio := func(i, base int) []float64 {
		var out []float64
		for r := range rounds {
			out = append(out, nsPerRT[base][r]/nsPerRT[i][r]) // rate of i / rate of base
		}
		return out
	}
	fmt.Println()
	fmt.Printf("## What program_stats costs (another BPF user attached; 1 ping-pong pair pinned to CPU 0, %d rounds of %v)\n", rounds, d)
	fmt.Println("Ratio = round-trip rate of the variant / rate with the receiver detached, same round; median (25th–75th percentile) over rounds.")
	fmt.Println()
	fmt.Println("| variant | round trips/s (median) | ratio vs detached | ratio vs program_stats: false |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for i, v := range variants {
		q := func(x []float64) string {
			return fmt.Sprintf("%.3f (%.3f – %.3f)", quantile(x, 0.5), quantile(x, 0.25), quantile(x, 0.75))
		}
		fmt.Printf("| %s | %.0f | %s | %s |\n", v.name, 1e9/quantile(nsPerRT[i], 0.5), q(ratio(i, 0)), q(ratio(i, 2)))
	}
}

// variant is one configuration of a rotating-rounds measurement; attach nil = nothing attached.
type variant struct {
	name   string
	attach func() *attachment
}

// pingPongRounds runs one ping-pong pair pinned to CPU 0 for d per variant in
// each of rounds rounds, the variants' order rotating so drifts of the machine
// hit all of them, and returns the nanoseconds per round trip [variant][round].
func pingPongRounds(d time.Duration, rounds int, variants []variant) [][]float64 {
	load := workloadSpec{pairs: 1, pinCPU: "0"}
	nsPerRT := make([][]float64, len(variants))
	for round := range rounds {
		for k := range variants {
			i := (k + round) % len(variants)
			v := variants[i]
			fmt.Fprintf(os.Stderr, "round %d: %s ...\n", round+1, v.name)
			var a *attachment
			if v.attach != nil {
				a = v.attach()
				time.Sleep(500 * time.Millisecond)
			}
			r := runWorkload(d, load)
			if a != nil {
				a.stop()
			}
			nsPerRT[i] = append(nsPerRT[i], 1e9/r.roundTrips)
		}
	}
	return nsPerRT
}

// requireStatsOff fails when BPF statistics are already on system-wide (sysctl kernel.bpf_stats_enabled).
func requireStatsOff(why string) {
	if b, _ := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); strings.TrimSpace(string(b)) != "0" {
		fail("kernel.bpf_stats_enabled is %q: BPF statistics are on system-wide, so %s", strings.TrimSpace(string(b)), why)
	}
}

// quantile interpolates linearly between the closest ranks.
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

// measureOps attaches every program of the opcost object alone to
// sched_switch while the ping-pong runs, two rounds in turn, and prints the
// average cost per run and the difference to the empty program.
func measureOps(d time.Duration, load workloadSpec) {
	spec, err := loadOpcost()
	if err != nil {
		fail("loading operation programs: %v", err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		fail("loading operation programs: %v", err)
	}
	defer coll.Close()
	var names []string
	for name := range coll.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	const rounds = 2
	runs, ns := map[string]uint64{}, map[string]time.Duration{}
	for round := range rounds {
		for _, name := range names {
			fmt.Fprintf(os.Stderr, "op %s, round %d ...\n", name, round+1)
			p := coll.Programs[name]
			l, err := link.AttachTracing(link.TracingOptions{Program: p})
			if err != nil {
				fail("attaching %s: %v", name, err)
			}
			before, err1 := p.Stats()
			runWorkload(d, load)
			after, err2 := p.Stats()
			l.Close()
			if err := errors.Join(err1, err2); err != nil {
				fail("BPF statistics of %s: %v", name, err)
			}
			runs[name] += after.RunCount - before.RunCount
			ns[name] += after.Runtime - before.Runtime
		}
	}
	avg := func(name string) float64 { return float64(ns[name]) / float64(max(runs[name], 1)) }
	fmt.Println()
	fmt.Printf("## Cost of single operations on sched_switch (%d ping-pong pairs, %d rounds of %v per program)\n", load.pairs, rounds, d)
	fmt.Println("| program | runs | avg ns/run | minus op_empty |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for _, name := range names {
		fmt.Printf("| %s | %d | %.1f | %.1f |\n", name, runs[name], avg(name), avg(name)-avg("op_empty"))
	}
}
