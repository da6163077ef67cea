//go:build linux

package probes

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Every mode and each signal alone loads and attaches all of its programs,
// in the variants this kernel needs, and creates only the maps they use.
// The compat object and the variants for older tracepoint prototypes that
// load on this kernel are loaded too, so a run on a current kernel also
// checks what older kernels get.
func TestLoadAttachAll(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("loading BPF programs needs root (or CAP_BPF+CAP_PERFMON); running as uid %d", os.Geteuid())
	}
	k, err := inspectKernel()
	require.NoError(t, err)
	base := Options{TCPPeerMaxSeries: 16, MaxCgroups: 64, RingBufferSize: 64 * 1024, Logs: true}
	all := func(o Options) Options { o.TCP, o.Scheduler, o.Memory = true, true, true; return o }
	// Few cases: under emulation (the kernel matrix) each load costs the
	// verifier seconds. Every mode, each signal alone, and what older
	// kernels get where this kernel gets something else.
	cases := map[string]Options{
		"all, wakeup, spans, per-peer, edges": func() Options {
			o := all(base)
			o.TCPSpans, o.TCPPerPeer, o.TCPEdges, o.TCPMaxEdges = true, true, true, 16
			return o
		}(),
		"all, sched_info, no logs": func() Options { o := all(base); o.RunQueueFromSchedInfo, o.Logs = true, false; return o }(),
		"tcp":                      func() Options { o := base; o.TCP = true; return o }(),
		"scheduler":                func() Options { o := base; o.Scheduler = true; return o }(),
		"memory":                   func() Options { o := base; o.Memory = true; return o }(),
	}
	if k.atomics {
		cases["all, compat object, edges"] = func() Options {
			o := all(base)
			o.Compat, o.TCPEdges, o.TCPMaxEdges = true, true, 16
			return o
		}()
	}
	// Names, by the typed bindings, of what the cases check for.
	obj, err := loadObjectSpecs(!k.atomics)
	require.NoError(t, err)
	// Variants for older prototypes that also load on newer kernels (they read fewer arguments).
	older := map[ProgramName]string{ProgSchedSwitch: obj.HandleSchedSwitchTaskState.Name,
		ProgSchedProcessExit: obj.HandleSchedProcessExitLive.Name}
	for _, p := range Programs {
		if v, ok := older[p.Name]; ok {
			if chosen, _ := k.chooseVariant(p, obj, ""); chosen.name() == v {
				delete(older, p.Name) // this kernel gets it anyway
			}
		}
	}
	if len(older) > 0 {
		cases["scheduler, older prototypes"] = func() Options { o := base; o.Scheduler, o.Variants = true, older; return o }()
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Load(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, f := range s.Failed {
				t.Errorf("%v", f)
			}
			var want, got []string
			for _, p := range Programs {
				on := map[Signal]bool{SignalTCP: o.TCP, SignalScheduler: o.Scheduler, SignalMemory: o.Memory,
					SignalTCPEdges: o.TCP && o.TCPEdges}[p.Signal]
				if on && !(s.RunQueueFromSchedInfo && wakeupPrograms[p.Name]) && !(p.compatOnly && !s.Compat) {
					want = append(want, string(p.Name))
				}
				if v, ok := s.Variants[p.Name]; ok {
					got = append(got, string(p.Name))
					if forced := o.Variants[p.Name]; forced != "" && v != forced {
						t.Errorf("%s: variant %s, want %s", p.Name, v, forced)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("attached %v, want %v", got, want)
			}
			if o.RunQueueFromSchedInfo && !s.RunQueueFromSchedInfo {
				t.Logf("sched_info not available on this kernel: the wakeup programs run instead")
			}
			if s.Compat != (o.Compat || !haveAtomics()) {
				t.Errorf("compat object %v with Options.Compat %v", s.Compat, o.Compat)
			}
			// Only the maps of loaded programs exist.
			for m, needed := range map[*ebpf.MapSpec]bool{
				obj.SchedStatsMap:    o.Scheduler,
				obj.TcpStatsMap:      o.TCP,
				obj.TcpPeerStatsMap:  o.TCP,
				obj.ConnMap:          o.TCP,
				obj.MemoryStatsMap:   o.Memory,
				obj.ReclaimStartMap:  o.Memory,
				obj.TaskTimesMap:     o.Scheduler,
				obj.SchedSlots:       o.Scheduler && !s.Compat,
				obj.TcpSlots:         o.TCP && !s.Compat,
				obj.MemorySlots:      o.Memory && !s.Compat,
				obj.ReleasedSlots:    !s.Compat,
				obj.ExitingProcesses: s.Variants[ProgSchedProcessExit] == obj.HandleSchedProcessExitLive.Name,
				obj.SigkillTargets:   s.Variants[ProgMarkVictim] == obj.HandleMarkVictimPid.Name,
			} {
				if _, ok := s.maps[m.Name]; ok != needed {
					t.Errorf("map %s created: %v, want %v", m.Name, ok, needed)
				}
			}
			for logical, elf := range s.Variants {
				if string(logical) != elf {
					t.Logf("%s: variant %s", logical, elf)
				}
			}
		})
	}
}

// What this kernel gets, for the README's table of supported kernels; and
// the atomics probe agrees with the kernel's support for task storage
// (both arrived within one release of each other, 5.11 and 5.12).
func TestKernelFeatures(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("feature probes need root (or CAP_BPF); running as uid %d", os.Geteuid())
	}
	k, err := inspectKernel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s: BPF atomics %v (object %s), sched_info %v, resets without socket traced %v",
		k.release, k.atomics, map[bool]string{true: "Probes", false: "Compat"}[k.atomics], k.hasSchedInfo(),
		k.tracesResetsWithoutSocket())
	// The compat object has every program of the other one and its own.
	obj, err := loadObjectSpecs(true)
	require.NoError(t, err)
	for _, p := range Programs {
		args, err := k.tracepointArgs(p.Tracepoint)
		v, verr := k.chooseVariant(p, obj, "")
		name := "-"
		if verr == nil {
			name = v.name()
		}
		t.Logf("  %s(%v) err=%v -> %s %v", p.Tracepoint, args, err, name, verr)
		if verr != nil {
			t.Errorf("%s: %v", p.Name, verr)
		}
	}
	if k.atomics {
		if err := features.HaveMapType(ebpf.TaskStorage); err != nil {
			t.Errorf("BPF atomics but no task storage: %v", err)
		}
	}
}

// Load errors name their cause: a variant whose tracepoint arguments the
// kernel lacks ("doesn't have N-th argument") and a task storage map on a
// kernel without it. The real rejections happen on the kernels that have the
// older prototypes and no task storage (the kernel matrix boots them); the
// messages are also checked with the errors those kernels return.
func TestLoadErrorsNameCause(t *testing.T) {
	verifier := &ebpf.VerifierError{Cause: unix.EINVAL,
		Log: []string{"func 'sched_process_exit' doesn't have 2-th argument", "invalid bpf_context access off=8 size=1"}}
	require.Contains(t, explainLoadError(fmt.Errorf("loading handle_sched_process_exit: %w", verifier)).Error(),
		"this kernel's tracepoint has another signature")
	require.Contains(t, explainMapError(&ebpf.MapSpec{Name: "task_times_map", Type: ebpf.TaskStorage}, unix.EINVAL).Error(),
		"kernel < 5.11 has no task storage")

	if os.Geteuid() != 0 {
		t.Skipf("the real rejections need root (or CAP_BPF+CAP_PERFMON); running as uid %d", os.Geteuid())
	}
	k, err := inspectKernel()
	require.NoError(t, err)
	if args, _ := k.tracepointArgs("sched_process_exit"); len(args) < 2 {
		s, err := Load(Options{Scheduler: true, MaxCgroups: 64, RingBufferSize: 64 * 1024,
			Variants: map[ProgramName]string{ProgSchedProcessExit: "handle_sched_process_exit"}})
		require.NoError(t, err)
		defer s.Close()
		require.Len(t, s.Failed, 1)
		require.Contains(t, s.Failed[0].Error(), "this kernel's tracepoint has another signature")
	} else {
		t.Logf("kernel %s: sched_process_exit has group_dead, no variant is rejected for its arguments here", k.release)
	}
	if features.HaveMapType(ebpf.TaskStorage) != nil {
		obj, err := loadObjectSpecs(false)
		require.NoError(t, err)
		err = (&Set{}).createMaps(&ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{"task_times_map": obj.TaskTimesMap}},
			[]*ebpf.ProgramSpec{obj.HandleSchedWakeup})
		require.ErrorContains(t, err, "kernel < 5.11 has no task storage")
	} else {
		t.Logf("kernel %s has task storage", k.release)
	}
}
