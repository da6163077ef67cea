//go:build !linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"context"
	"errors"
	"runtime"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// ebpfReceiver on other systems only reports that eBPF needs Linux.
type ebpfReceiver struct{}

func newEBPFReceiver(*Config, receiver.Settings, consumer.Metrics, consumer.Logs, consumer.Traces) (*ebpfReceiver, error) {
	return &ebpfReceiver{}, nil
}

func (*ebpfReceiver) Start(context.Context, component.Host) error {
	return errors.New("the ebpf receiver is Linux only (eBPF is a Linux kernel feature), this collector runs on " +
		runtime.GOOS + ": remove the ebpf receiver from the pipelines on this host")
}

func (*ebpfReceiver) Shutdown(context.Context) error { return nil }
