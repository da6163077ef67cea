//go:build linux

package main

// What a phase attaches: the real receiver, empty programs (the floor every
// program pays) or the per-event streaming design.

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"
)

// attachment is what a phase attaches: programs to read stats from and a stop function.
type attachment struct {
	programs   map[string]*ebpf.Program
	userEvents func() uint64
	drops      func() uint64
	stop       func()
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
