package promtest // import "github.com/otelcol-custom/otelcol-custom/internal/promtest"

import "syscall"

// syscallZero probes whether a process still exists.
var syscallZero = syscall.Signal(0)
