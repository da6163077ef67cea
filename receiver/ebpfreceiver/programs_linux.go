//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"

// programFeeds lists the metrics each logical BPF program contributes to. A
// program that does not run on the kernel leaves these metrics out entirely
// (a metric with part of its sources would report wrong values).
var programFeeds = map[probes.ProgramName][]metricDef{
	probes.ProgInetSockSetState: {metricTCPOpened, metricTCPClosed, metricTCPDuration, metricTCPIO, metricTCPSRTT,
		metricTCPPeerClosed, metricTCPPeerIO, metricTCPPeerRetransmits},
	probes.ProgTCPRetransmitSkb: {metricTCPRetransmits},
	probes.ProgTCPSendReset:     {metricTCPResets},
	probes.ProgTCPReceiveReset:  {metricTCPResets},
	probes.ProgTCPEdgeState: {metricEdgeOpened, metricEdgeClosed, metricEdgeFailed, metricEdgeIO,
		metricEdgeRetransmits, metricEdgeSRTT},
	// Without the iterator edges still count, at close only: nothing is left out.

	probes.ProgSchedWakeup:      {metricRunqLatency},
	probes.ProgSchedWakeupNew:   {metricRunqLatency},
	probes.ProgSchedSwitch:      {metricContextSwitches, metricCPUTime, metricRunqLatency},
	probes.ProgSchedProcessFork: {metricProcessStarts},
	probes.ProgSchedProcessExec: {metricExecs},
	probes.ProgSchedProcessExit: {metricProcessExits},

	probes.ProgMmPageAlloc:        {metricPagesAllocated},
	probes.ProgMmPageAllocExtfrag: {metricExtfrag},
	probes.ProgDirectReclaimBegin: {metricDirectReclaim},
	probes.ProgDirectReclaimEnd:   {metricDirectReclaim},
	probes.ProgMarkVictim:         {metricOOMKills},
}

// metricsLeftOut returns the names of the metrics fed by a failed program.
func metricsLeftOut(failed []probes.ProgramError) map[string]bool {
	out := map[string]bool{}
	for _, f := range failed {
		for _, d := range programFeeds[f.Program.Name] {
			out[d.name] = true
		}
	}
	return out
}

func metricNames(defs []metricDef) []string {
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.name
	}
	return names
}
