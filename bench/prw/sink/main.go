// Command sink is a remote-write receiver that decodes (RW 1.0 and 2.0) and counts samples, run as
// its own process so that the benchmark measures the exporter's CPU alone. By default it walks the
// protobuf structure of each request and counts (promtest.Sink.CountOnly) so that it needs little
// CPU on a 2-core machine; -full-decode unmarshals every request completely instead.
// GET /count returns "samples histograms requests errors cpu_seconds", cpu_seconds being the
// sink process' own user+system CPU time.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"syscall"
	"time"

	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "listen address")
	full := flag.Bool("full-decode", false, "unmarshal every request completely instead of walking and counting")
	flag.Parse()
	s := &promtest.Sink{SkipOrderCheck: true, CountOnly: !*full}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/write", s.Handler())
	mux.HandleFunc("/count", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d %d %d %d %.3f\n", s.Samples.Load(), s.Histograms.Load(), s.Requests.Load(), s.Errors.Load(), cpuSeconds())
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
