// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

// Command sink is a remote-write receiver that decodes (RW 1.0 and 2.0) and counts samples, run as
// its own process so that the benchmark measures the exporter's CPU alone. GET /count returns
// "samples histograms requests errors".
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"

	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "listen address")
	flag.Parse()
	s := &promtest.Sink{SkipOrderCheck: true}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/write", s.Handler())
	mux.HandleFunc("/count", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d %d %d %d\n", s.Samples.Load(), s.Histograms.Load(), s.Requests.Load(), s.Errors.Load())
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
