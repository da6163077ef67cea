//go:build soak

// Package soak holds the long reliability tests of the built otelcol-custom binary: a backend
// outage under steady load with a persistent (file_storage) sending queue, and a memory/goroutine
// soak with every otelcol-custom component on. They run the binary as a user does and observe it
// from outside (its Prometheus self-metrics, pprof, /proc).
//
//	make soak                                   # 5 min outage + 30 min soak (bench/soak/run.sh)
//	SOAK_OUTAGE=20s go test -tags soak -run TestBackendOutage ./test/soak/   # quick, in make test
//
// Environment: SOAK_OUTAGE (default 5m), SOAK_RATE (spans/s, default 2000), SOAK_DURATION
// (default 30m), SOAK_WARMUP (default 5m), SOAK_SAMPLE (default 30s), SOAK_RESULTS_DIR (write
// results files there; unset: results only in the test log), OTELCOL_CUSTOM_BINARY.
package soak
