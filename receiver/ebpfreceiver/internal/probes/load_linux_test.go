//go:build linux

package probes

import (
	"os"
	"testing"
)

func TestLoadAttachAll(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("loading BPF programs needs root (or CAP_BPF+CAP_PERFMON); running as uid %d", os.Geteuid())
	}
	s, err := Load(Options{TCP: true, Scheduler: true, Memory: true, TCPSpans: true, TCPPerPeer: true,
		TCPPeerMaxSeries: 16, MaxCgroups: 64, RingBufferSize: 64 * 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Programs) != 15 {
		t.Fatalf("attached %d programs, want 15", len(s.Programs))
	}
}
