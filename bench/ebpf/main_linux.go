//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"
)

const roleEnv = "EBPFBENCH_ROLE"

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Args[1:]))
	}
	duration := flag.Duration("duration", 10*time.Second, "length of each phase")
	pairs := flag.Int("pairs", 2, "pipe ping-pong process pairs (scheduler load)")
	tcpLoops := flag.Int("tcp", 1, "TCP connect/write/close loops")
	memLoops := flag.Int("mem", 1, "page-allocation churn loops (mmap/touch/munmap 4 MiB)")
	ops := flag.Bool("ops", false, "instead of the phases: cost of single operations on sched_switch, each program alone "+
		"for -duration under the ping-pong load, two rounds (bpf/opcost_bench.bpf.c)")
	overhead := flag.Bool("overhead", false, "instead of the phases: what the programs add per round trip of one ping-pong pair "+
		"pinned to CPU 0, from the round-trip rate with BPF statistics off, in -rounds rotating rounds")
	statsCost := flag.Bool("stats-cost", false, "instead of the phases: what program_stats costs the node, with another BPF "+
		"user's programs attached throughout; round-trip rate of one ping-pong pair pinned to CPU 0 with the receiver "+
		"detached, in its default configuration and with program_stats: true, in -rounds rotating rounds")
	rounds := flag.Int("rounds", 8, "rounds of -overhead and -stats-cost")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "ebpfbench needs root (BPF programs, BPF statistics)")
		os.Exit(2)
	}
	load := workloadSpec{pairs: *pairs, tcp: *tcpLoops, mem: *memLoops}
	fmt.Printf("# ebpfbench: %d ping-pong pairs, %d TCP loops, %d memory loops, %v per phase, %d CPUs, kernel %s\n",
		load.pairs, load.tcp, load.mem, *duration, numCPU(), kernelRelease())

	if *overhead {
		measureOverhead(*duration, *rounds)
		return
	}
	if *statsCost {
		measureStatsCost(*duration, *rounds)
		return
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		fail("enabling BPF statistics: %v", err)
	}
	defer stats.Close()

	if *ops {
		measureOps(*duration, workloadSpec{pairs: load.pairs})
		return
	}
	if *edgesMode {
		measureEdges(*duration, load, *rounds)
		return
	}
	detached := measure("detached", *duration, load, nil)
	baseline := measure("empty programs (BPF statistics floor)", *duration, load, startBaseline)
	attached := measure("attached (in-kernel aggregation)", *duration, load, startReceiver(nil))
	schedInfo := measure("attached, run_queue_latency: sched_info", *duration, load, startReceiver(func(c *ebpfreceiver.Config) {
		c.Scheduler.RunQueueLatency = ebpfreceiver.RunQueueLatencySchedInfo
	}))
	streaming := measure("streaming (every event to user space)", *duration, load, startStreaming)
	floor := baseline.avgNsPerRun()

	fmt.Println()
	fmt.Println("## Workload throughput")
	fmt.Println("| phase | ping-pong round trips/s | TCP connections/s | MiB touched/s | round trips vs detached |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	for _, r := range []*phaseResult{detached, baseline, attached, schedInfo, streaming} {
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.3f |\n", r.name, r.rate.roundTrips, r.rate.conns, r.rate.mib,
			r.rate.roundTrips/detached.rate.roundTrips)
	}
	fmt.Println()
	fmt.Println("## Collector side (user space of this process while the phase ran)")
	fmt.Println("| phase | CPU % of one core | RSS MiB (end) | events to user space/s | ring-buffer drops |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	for _, r := range []*phaseResult{attached, schedInfo, streaming} {
		fmt.Printf("| %s | %.2f | %.1f | %.0f | %d |\n", r.name, r.cpuPercent, r.rssMiB, r.userEvents, r.drops)
	}
	fmt.Println()
	fmt.Printf("## BPF programs, %s\n", baseline.name)
	fmt.Println("What an empty tp_btf program costs here under BPF statistics: the trampoline plus the")
	fmt.Println("statistics' own two sched_clock() reads per run. Every program below pays it too.")
	fmt.Println()
	fmt.Println("| program | runs/s | avg ns/run |")
	fmt.Println("| --- | ---: | ---: |")
	for _, p := range baseline.programs {
		fmt.Printf("| %s | %.0f | %.1f |\n", p.name, p.runsPerSec, p.nsPerRun)
	}
	fmt.Printf("\nFloor (runs-weighted average): %.1f ns/run.\n", floor)
	for _, r := range []*phaseResult{attached, schedInfo, streaming} {
		fmt.Println()
		fmt.Printf("## BPF programs, %s\n", r.name)
		fmt.Printf("\"own\" = avg − empty-program floor (%.1f ns), the program's cost beyond what any program pays here.\n\n", floor)
		fmt.Println("| program | runs/s | avg ns/run | own ns/run | CPU % of one core |")
		fmt.Println("| --- | ---: | ---: | ---: | ---: |")
		idle := 0
		for _, p := range r.programs {
			if p.runsPerSec == 0 {
				idle++
				continue
			}
			fmt.Printf("| %s | %.0f | %.1f | %.1f | %.2f |\n", p.name, p.runsPerSec, p.nsPerRun, p.nsPerRun-floor,
				p.runsPerSec*p.nsPerRun/1e7)
		}
		if idle > 0 {
			fmt.Printf("\n%d more programs did not run in this phase (their events did not occur).\n", idle)
		}
		if avg := r.avgNsPerRun(); avg > 0 {
			runs := r.runsPerSec()
			fmt.Printf("\nAll programs: %.0f events/s, %.1f ns/event on average (own %.1f ns), %.2f%% of one core in BPF. "+
				"At 1.2M events/s that is %.1f%% of one core (own cost alone %.1f%%).\n",
				runs, avg, avg-floor, runs*avg/1e7, avg*1.2e6/1e7, (avg-floor)*1.2e6/1e7)
		}
	}
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

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

type workloadSpec struct {
	pairs, tcp, mem int
	pinCPU          string // taskset CPU list for every worker; "" = not pinned
}

type rates struct{ roundTrips, conns, mib float64 }

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

// attachment is what a phase attaches: programs to read stats from and a stop function.
type attachment struct {
	programs   map[string]*ebpf.Program
	userEvents func() uint64
	drops      func() uint64
	stop       func()
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

// startReceiver returns a phase that runs the real receiver with its default
// configuration (all signals, logs pipeline present) changed by mutate, and
// finds its programs in the kernel.
func startReceiver(mutate func(*ebpfreceiver.Config)) func() *attachment {
	return func() *attachment { return runReceiver(mutate) }
}

func runReceiver(mutate func(*ebpfreceiver.Config)) *attachment {
	known := loadedProgramIDs()
	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	if mutate != nil {
		mutate(cfg)
	}
	set := receivertest.NewNopSettings(f.Type())
	mr, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	if err != nil {
		fail("creating receiver: %v", err)
	}
	lr, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	if err != nil {
		fail("creating receiver: %v", err)
	}
	for _, c := range []receiver.Metrics{mr} {
		if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			fail("starting receiver: %v", err)
		}
	}
	if err := lr.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		fail("starting receiver: %v", err)
	}
	progs := map[string]*ebpf.Program{}
	for id := range loadedProgramIDs() {
		if known[id] {
			continue
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		// The kernel truncates program names to 15 bytes; BTF has the full name.
		name := ""
		if info, err := p.Info(); err == nil {
			if fi, err := info.FuncInfos(); err == nil && len(fi) > 0 && fi[0].Func != nil {
				name = fi[0].Func.Name
			}
		}
		if !strings.HasPrefix(name, "handle_") {
			p.Close()
			continue
		}
		progs[name] = p
	}
	return &attachment{programs: progs, stop: func() {
		for _, p := range progs {
			p.Close()
		}
		_ = lr.Shutdown(context.Background())
		_ = mr.Shutdown(context.Background())
	}}
}

func loadedProgramIDs() map[ebpf.ProgramID]bool {
	ids := map[ebpf.ProgramID]bool{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return ids
		}
		ids[next] = true
		id = next
	}
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

// startBaseline attaches empty programs to sched_switch and sched_wakeup.
func startBaseline() *attachment {
	var objs baselineObjects
	if err := loadBaselineObjects(&objs, nil); err != nil {
		fail("loading baseline programs: %v", err)
	}
	progs := map[string]*ebpf.Program{"empty_sched_switch": objs.EmptySchedSwitch, "empty_sched_wakeup": objs.EmptySchedWakeup}
	var links []link.Link
	for _, p := range progs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			fail("attaching baseline programs: %v", err)
		}
		links = append(links, l)
	}
	return &attachment{programs: progs, stop: func() {
		for _, l := range links {
			l.Close()
		}
		objs.Close()
	}}
}

// startStreaming attaches the per-event variant and aggregates in user space,
// the way bcc-style tools do: per cgroup, switches and wakeups.
func startStreaming() *attachment {
	var objs streamingObjects
	if err := loadStreamingObjects(&objs, nil); err != nil {
		fail("loading streaming variant: %v", err)
	}
	var links []link.Link
	for _, p := range []*ebpf.Program{objs.StreamSchedSwitch, objs.StreamSchedWakeup} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			fail("attaching streaming variant: %v", err)
		}
		links = append(links, l)
	}
	rd, err := ringbuf.NewReader(objs.StreamEvents)
	if err != nil {
		fail("ring buffer: %v", err)
	}
	var events atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		type agg struct{ switches, wakeups uint64 }
		perCgroup := map[uint64]*agg{}
		var rec ringbuf.Record
		for {
			if err := rd.ReadInto(&rec); err != nil {
				if errors.Is(err, ringbuf.ErrClosed) {
					return
				}
				continue
			}
			raw := rec.RawSample
			if len(raw) < 32 {
				continue
			}
			cg := binary.NativeEndian.Uint64(raw[8:])
			a := perCgroup[cg]
			if a == nil {
				a = &agg{}
				perCgroup[cg] = a
			}
			if binary.NativeEndian.Uint32(raw[28:]) == 0 {
				a.switches++
			} else {
				a.wakeups++
			}
			events.Add(1)
		}
	}()
	drops := func() uint64 {
		var per []uint64
		if objs.StreamDrops.Lookup(uint32(0), &per) != nil {
			return 0
		}
		var n uint64
		for _, v := range per {
			n += v
		}
		return n
	}
	return &attachment{
		programs:   map[string]*ebpf.Program{"stream_sched_switch": objs.StreamSchedSwitch, "stream_sched_wakeup": objs.StreamSchedWakeup},
		userEvents: events.Load,
		drops:      drops,
		stop: func() {
			for _, l := range links {
				l.Close()
			}
			rd.Close()
			wg.Wait()
			objs.Close()
		},
	}
}

// runWorkload runs all workers as child processes for d and sums their rates.
func runWorkload(d time.Duration, load workloadSpec) rates {
	type worker struct {
		cmd  *exec.Cmd
		out  io.ReadCloser
		kind string
	}
	var workers []worker
	deadline := strconv.FormatInt(time.Now().Add(d).UnixNano(), 10)
	start := func(kind string, extra []*os.File, args ...string) {
		argv := append([]string{os.Args[0], deadline}, args...)
		if load.pinCPU != "" {
			argv = append([]string{"taskset", "-c", load.pinCPU}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), roleEnv+"="+kind)
		cmd.ExtraFiles = extra
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fail("%v", err)
		}
		if err := cmd.Start(); err != nil {
			fail("starting %s: %v", kind, err)
		}
		workers = append(workers, worker{cmd: cmd, out: out, kind: kind})
	}
	for range load.pairs {
		var p1, p2 [2]int
		if err := syscall.Pipe2(p1[:], syscall.O_CLOEXEC); err != nil {
			fail("%v", err)
		}
		if err := syscall.Pipe2(p2[:], syscall.O_CLOEXEC); err != nil {
			fail("%v", err)
		}
		files := func(fds ...int) []*os.File {
			var fs []*os.File
			for _, fd := range fds {
				fs = append(fs, os.NewFile(uintptr(fd), "pipe"))
			}
			return fs
		}
		ping, pong := files(p1[1], p2[0]), files(p1[0], p2[1])
		start("ping", ping)
		start("pong", pong)
		for _, f := range append(ping, pong...) {
			f.Close()
		}
	}
	for range load.tcp {
		start("tcp", nil)
	}
	for range load.mem {
		start("mem", nil)
	}
	var r rates
	for _, w := range workers {
		line, _ := bufio.NewReader(w.out).ReadString('\n')
		_ = w.cmd.Wait()
		v, _ := strconv.ParseFloat(strings.TrimSpace(line), 64)
		switch w.kind {
		case "ping":
			r.roundTrips += v
		case "tcp":
			r.conns += v
		case "mem":
			r.mib += v
		}
	}
	secs := d.Seconds()
	return rates{roundTrips: r.roundTrips / secs, conns: r.conns / secs, mib: r.mib / secs}
}

// runRole is a workload process; it prints its count when the deadline passes.
func runRole(role string, args []string) int {
	ns, _ := strconv.ParseInt(args[0], 10, 64)
	deadline := time.Unix(0, ns)
	var count uint64
	b := make([]byte, 1)
	switch role {
	case "ping": // fd 3 = write end to pong, fd 4 = read end from pong
		for time.Now().Before(deadline) {
			for range 64 {
				if _, err := syscall.Write(3, b); err != nil {
					return 1
				}
				if _, err := syscall.Read(4, b); err != nil {
					return 1
				}
			}
			count += 64
		}
		syscall.Close(3)
	case "pong": // fd 3 = read end from ping, fd 4 = write end to ping
		for {
			n, err := syscall.Read(3, b)
			if err != nil || n == 0 {
				return 0
			}
			if _, err := syscall.Write(4, b); err != nil {
				return 0
			}
		}
	case "tcp":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 1
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
			}
		}()
		payload := make([]byte, 1024)
		for time.Now().Before(deadline) {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				continue
			}
			_, _ = c.Write(payload)
			c.Close()
			count++
		}
	case "mem":
		const size = 4 << 20
		for time.Now().Before(deadline) {
			m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
			if err != nil {
				return 1
			}
			for i := 0; i < size; i += 4096 {
				m[i] = 1
			}
			_ = syscall.Munmap(m)
			count += 4
		}
	}
	fmt.Println(count)
	return 0
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

func numCPU() int {
	n, _ := ebpf.PossibleCPU()
	return n
}

func kernelRelease() string {
	var u unix.Utsname
	_ = unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}
