package ebpfreceiver

import (
	"os"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-custom/otelcol-custom/internal/configfuzz"
)

// FuzzConfigUnmarshal decodes and validates arbitrary YAML as ebpf receiver configuration, the way
// the collector does (defaults, then the user's keys with unknown keys rejected, then Validate).
// Errors are expected; a panic is a bug, and so is a configuration that validates but that the
// receiver cannot use (a cgroup filter that does not compile, a ring buffer size the kernel
// refuses, an empty signal set).
//
// `go test` runs the seed corpus (every section of testdata/config.yaml and hand-written
// malformed ones); explore with `go test -run '^$' -fuzz FuzzConfigUnmarshal ./receiver/ebpfreceiver`.
func FuzzConfigUnmarshal(f *testing.F) {
	configfuzz.AddTestdataSeeds(f)
	for _, seed := range []string{
		"collection_interval: -5s",
		"collection_interval: 99999999999999999999h",
		"collection_interval: true",
		"max_cgroups: -1",
		"max_cgroups: 18446744073709551616",
		"ring_buffer_size: 4294967296",
		"ring_buffer_size: 4295229440",
		"max_cgroups: 4294971392",
		"tcp: {per_peer: {enabled: true, max_series: 4294967396}}",
		"ring_buffer_size: 2147483648",
		"ring_buffer_size: 1e3",
		"histogram: ''",
		"on_start_error: ''",
		"cgroups: {include: ['[a-'], exclude: ['(?P<x']}",
		"cgroups: {include: 'not-a-list'}",
		"cgroups: [1, 2]",
		"tcp: {per_peer: {enabled: true, max_series: 0}}",
		"tcp: yes",
		"tcp: {enabled: true, spans: 3}",
		"scheduler: {enabled: 'maybe'}",
		"unknown_top_level: 1",
		"memory: {enabled: false, extra: 1}",
		"program_stats: null",
		"~: ~",
	} {
		f.Add(seed)
	}
	page := os.Getpagesize()
	f.Fuzz(func(t *testing.T, doc string) {
		cfg := createDefaultConfig().(*Config)
		if !configfuzz.Accepted(doc, cfg) {
			return
		}
		// Accepted: everything Start relies on must hold.
		if _, err := cfg.Cgroups.compile(); err != nil {
			t.Fatalf("validated cgroup filter does not compile: %v", err)
		}
		if rb := cfg.RingBufferSize; rb <= 0 || rb&(rb-1) != 0 || rb%page != 0 || rb > maxRingBufferSize {
			t.Fatalf("validated ring_buffer_size %d is unusable", rb)
		}
		if cfg.MaxCgroups < 1 || cfg.MaxCgroups > maxMaxCgroups {
			t.Fatalf("validated max_cgroups %d is out of range", cfg.MaxCgroups)
		}
		if cfg.CollectionInterval <= 0 {
			t.Fatalf("validated collection_interval %v would stall the ticker", cfg.CollectionInterval)
		}
		if !cfg.TCP.Enabled && !cfg.Scheduler.Enabled && !cfg.Memory.Enabled {
			t.Fatal("validated configuration enables no signal")
		}
		// What was accepted is what was written: no silent wrap-around of large integers.
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		perPeer, _ := m["tcp"].(map[string]any)
		perPeer, _ = perPeer["per_peer"].(map[string]any)
		for key, got := range map[string]any{"max_cgroups": cfg.MaxCgroups, "ring_buffer_size": cfg.RingBufferSize} {
			checkExact(t, key, m[key], got)
		}
		checkExact(t, "tcp.per_peer.max_series", perPeer["max_series"], cfg.TCP.PerPeer.MaxSeries)
	})
}

// checkExact compares an integer from the YAML document with the decoded field.
func checkExact(t *testing.T, key string, written any, got any) {
	t.Helper()
	v, ok := written.(int)
	if !ok {
		return
	}
	if v < 0 {
		t.Fatalf("%s: negative %d was accepted as %v", key, v, got)
	}
	if v != got.(int) {
		t.Fatalf("%s: %d was accepted as %v (wrapped while decoding)", key, v, got)
	}
}
