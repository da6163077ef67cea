//go:build linux

package ebpfreceiver

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

// slotPos is one slot of a per-CPU slot table.
type slotPos struct {
	cpu int
	idx uint32
}

// slotsOwnedBy lists the slots of the TCP table that id owns.
func slotsOwnedBy(t *testing.T, m *ebpf.Map, id uint64) []slotPos {
	t.Helper()
	var out []slotPos
	var idx uint32
	var per []probes.ProbesTcpSlot
	it := m.Iterate()
	for it.Next(&idx, &per) {
		for cpu := range per {
			if per[cpu].Owner == id {
				out = append(out, slotPos{cpu, idx})
			}
		}
	}
	require.NoError(t, it.Err())
	return out
}

// With two slots per CPU (one candidate pair) the per-CPU slot tables in
// front of the hashes are contended: counts must stay exact whether a cgroup
// got a slot or fell back to its hash entry, a removed cgroup's slots must be
// released, and the cgroup that takes one over must start from zero. Each
// workload runs on CPU 0 (taskset) so consecutive cgroups meet in the same
// slots.
func TestSlotTablesExactAndTakenOver(t *testing.T) {
	requireRoot(t)
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Fatalf("taskset (util-linux) is needed to pin the workloads: %v", err)
	}
	var set *probes.Set
	testSlotsPerCPU, testHookLoaded = 2, func(p *probes.Set) { set = p }
	t.Cleanup(func() { testSlotsPerCPU, testHookLoaded = 0, nil })
	s := startReceiver(t, func(c *Config) { c.Scheduler.Enabled = false; c.Memory.Enabled = false })
	require.NotNil(t, set)
	addr := tcpServer(t)
	if set.Compat {
		// Kernels without BPF atomics get no slot tables (bpf/common.bpf.h):
		// every update goes to the hash, and the counts stay exact.
		require.Nil(t, set.TCPSlots, "compat object: no slot tables")
		require.Nil(t, set.ReleasedSlots, "compat object: no slot tables")
		for _, n := range []int{10, 7} {
			pinnedConnections(t, s, taskset, addr, n)
		}
		return
	}

	var released []slotPos // slots of removed cgroups, released by the map reader
	takenOver := 0
	for _, n := range []int{10, 7, 5, 9, 3} {
		cg := pinnedConnections(t, s, taskset, addr, n)
		owned := slotsOwnedBy(t, set.TCPSlots, cg.id)
		for _, p := range owned {
			if slices.Contains(released, p) {
				takenOver++
			}
		}
		t.Logf("cgroup %d (%d connections) owns TCP slots %v", cg.id, n, owned)

		// Every cgroup is admitted through its hash entry before it takes a slot.
		var perCPU []probes.ProbesTcpStats
		require.NoError(t, set.TCPStats.Lookup(cg.id, &perCPU), "hash entry of a live cgroup")

		cg.Remove()
		eventually(t, "hash entry of removed cgroup "+cg.Path+" deleted", func() (bool, string) {
			err := set.TCPStats.Lookup(cg.id, &perCPU)
			return errors.Is(err, ebpf.ErrKeyNotExist), fmt.Sprintf("lookup: %v", err)
		})
		eventually(t, "slots of removed cgroup "+cg.Path+" released", func() (bool, string) {
			for _, p := range owned {
				var mark uint64
				require.NoError(t, set.ReleasedSlots.Lookup(p.idx, &mark))
				if mark != cg.id && slices.Contains(slotsOwnedBy(t, set.TCPSlots, cg.id), p) {
					return false, fmt.Sprintf("slot %v: release mark %d", p, mark)
				}
			}
			return true, ""
		})
		released = append(released, owned...)
	}
	require.Positive(t, takenOver, "no cgroup took over a released slot; each later cgroup fell back to the hash")
}

// pinnedConnections makes n connections to addr from a fresh cgroup, on CPU
// 0, and waits until the receiver reports exactly n opened and closed.
func pinnedConnections(t *testing.T, s *sinks, taskset, addr string, n int) *testCgroup {
	t.Helper()
	cg := newTestCgroup(t)
	w := startWorkloadWith(t, cg, []string{taskset, "-c", "0"}, "tcp", strconv.Itoa(n), addr, "1000")
	w.go_(t)
	require.Equal(t, 0, w.wait(t))
	eventually(t, "exact TCP counts of cgroup "+cg.Path, func() (bool, string) {
		v := s.latest(cg.Path)
		opened := v.sum("ebpf.tcp.connections.opened", "tcp.connection.direction", "active")
		closed := v.sum("ebpf.tcp.connections.closed")
		return opened == int64(n) && closed == int64(n), fmt.Sprintf("opened=%d closed=%d, want %d", opened, closed, n)
	})
	return cg
}
