package prometheusremotewriteexporter

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/internal/configfuzz"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// FuzzTranslateAndSend feeds arbitrary OTLP protobuf through translation, encoding (RW 1.0 and
// 2.0) and a decoding receiver: no panic, and whatever is sent must decode.
func FuzzTranslateAndSend(f *testing.F) {
	var m pmetric.ProtoMarshaler
	for i := range 3 {
		b, err := m.MarshalMetrics(allTypes(time.Unix(1700000000, 0), i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})

	sink := promtest.NewSink()
	f.Cleanup(sink.Close)
	f.Fuzz(func(t *testing.T, data []byte) {
		var exps []*testExporter
		for _, v2 := range []bool{false, true} {
			exps = append(exps, startExporter(t, sink.URL(), func(c *Config) {
				c.Shards = 2
				c.MaxBatchSizeBytes = 2000
				c.BackOffConfig.Enabled = false
				if v2 {
					c.RemoteWriteProtoMsg = writeV2MessageType
				}
			}))
		}
		var u pmetric.ProtoUnmarshaler
		md, err := u.UnmarshalMetrics(data)
		if err != nil {
			return
		}
		for _, e := range exps {
			_ = e.ConsumeMetrics(context.Background(), md)
		}
		if n := sink.Errors.Load(); n > 0 {
			t.Fatalf("the receiver could not decode %d request(s)", n)
		}
	})
}

// FuzzConfigUnmarshal decodes and validates arbitrary YAML as exporter configuration: errors are
// fine, panics are not.
func FuzzConfigUnmarshal(f *testing.F) {
	configfuzz.AddTestdataSeeds(f)
	f.Add("shards: -1\nhttp: {endpoint: 3}")
	f.Add("sending_queue: {storage: file_storage/x, queue_size: 0}")
	f.Fuzz(func(t *testing.T, doc string) {
		_ = configfuzz.Accepted(doc, createDefaultConfig())
	})
}
