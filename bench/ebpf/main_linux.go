//go:build linux

package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-custom/otelcol-custom/internal/ebpftest"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"
)

func main() {
	ebpftest.RunRoleIfChild(roleEnv, runRole)
	duration := flag.Duration("duration", 10*time.Second, "length of each phase")
	pairs := flag.Int("pairs", 2, "pipe ping-pong process pairs (scheduler load)")
	tcpLoops := flag.Int("tcp", 1, "TCP connect/write/close loops")
	memLoops := flag.Int("mem", 1, "page-allocation churn loops (mmap/touch/munmap 4 MiB)")
	ops := flag.Bool("ops", false, "instead of the phases: cost of single operations on sched_switch, each program alone "+
		"for -duration under the ping-pong load, two rounds (bench/ebpf/bpf/opcost.bpf.c)")
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

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
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
