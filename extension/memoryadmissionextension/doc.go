// Package memoryadmissionextension refuses OTLP requests before the receiver reads and decodes
// them when the Go heap (live and not yet collected) plus the requests already admitted would
// exceed a limit. It plugs into any confighttp/configgrpc server as a middleware: on gRPC it is a
// tap handle (the stream is refused from its headers, before the message is read), on HTTP it
// answers before the body is read.
package memoryadmissionextension // import "github.com/otelcol-custom/otelcol-custom/extension/memoryadmissionextension"
