//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// testPKI is a throw-away certificate authority with a server certificate for 127.0.0.1 and
// localhost, a client certificate it signed, and a second, unrelated CA with its own client
// certificate (the "wrong CA" cases). The PEM files are what the collector's tls settings read.
type testPKI struct {
	pool                          *x509.CertPool
	caFile, otherCAFile           string
	serverCertFile, serverKeyFile string
	clientCertFile, clientKeyFile string
	server, client, foreignClient tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{pool: x509.NewCertPool()}

	ca, caKey := newCA(t, "otelcol-custom e2e CA")
	other, otherKey := newCA(t, "unrelated CA")
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	p.otherCAFile = writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw)

	serverTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "otelcol-custom e2e server"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	p.server, p.serverCertFile, p.serverKeyFile = issueCert(t, dir, "server", serverTmpl, ca, caKey)
	clientTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "otelcol-custom e2e client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	p.client, p.clientCertFile, p.clientKeyFile = issueCert(t, dir, "client", clientTmpl, ca, caKey)
	foreignTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "foreign client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	p.foreignClient, _, _ = issueCert(t, dir, "foreign-client", foreignTmpl, other, otherKey)
	return p
}

var serial int64 = 1

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key
}

// issueCert signs tmpl with the CA and writes <name>.pem and <name>-key.pem.
func issueCert(t *testing.T, dir, name string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile := writePEM(t, dir, name+".pem", "CERTIFICATE", der)
	keyFile := writePEM(t, dir, name+"-key.pem", "PRIVATE KEY", keyDER)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	return pair, certFile, keyFile
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return p
}

// clientTLS trusts the test CA and presents cert, if any.
func (p *testPKI) clientTLS(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// serverTLS serves the test server certificate; with mutual it requires a client certificate
// signed by the test CA.
func (p *testPKI) serverTLS(mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = p.pool
	}
	return c
}

func oneSpan(name string) ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName(name)
	sp.SetTraceID([16]byte{7, 7, 7})
	sp.SetSpanID([8]byte{7, 7})
	return td
}

// sendSpanGRPC exports one span over OTLP/gRPC and returns the RPC's error.
func sendSpanGRPC(endpoint string, creds credentials.TransportCredentials, name string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(oneSpan(name)))
	return err
}

// sendSpanHTTP posts one span as OTLP/HTTP protobuf; an error is a transport failure (TLS
// handshake included), otherwise the status code is returned.
func sendSpanHTTP(tlsConfig *tls.Config, url, name string) (int, error) {
	body, err := ptraceotlp.NewExportRequestFromTraces(oneSpan(name)).MarshalProto()
	if err != nil {
		return 0, err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestTLSReceiver: the OTLP receiver with a server certificate accepts TLS clients and refuses
// plaintext; with client_ca_file (mutual TLS) it refuses clients without a certificate or with one
// from another CA and accepts a client certificate signed by the configured CA.
func TestTLSReceiver(t *testing.T) {
	pki := newTestPKI(t)
	tlsGRPC, tlsHTTP, mtlsGRPC, mtlsHTTP := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	serverTLS := fmt.Sprintf("{cert_file: %s, key_file: %s}", pki.serverCertFile, pki.serverKeyFile)
	mutualTLS := fmt.Sprintf("{cert_file: %s, key_file: %s, client_ca_file: %s}", pki.serverCertFile, pki.serverKeyFile, pki.caFile)
	cfg := writeFile(t, "tls-receiver.yaml", fmt.Sprintf(`
receivers:
  otlp/tls:
    protocols:
      grpc: {endpoint: "%s", tls: %s}
      http: {endpoint: "%s", tls: %s}
  otlp/mtls:
    protocols:
      grpc: {endpoint: "%s", tls: %s}
      http: {endpoint: "%s", tls: %s}
exporters:
  debug: {verbosity: detailed}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp/tls, otlp/mtls], exporters: [debug]}
`, addr(tlsGRPC), serverTLS, addr(tlsHTTP), serverTLS, addr(mtlsGRPC), mutualTLS, addr(mtlsHTTP), mutualTLS))
	col := startCollector(t, nil, "--config", cfg)
	col.WaitReady(t, readyTimeout)

	withCert := pki.clientTLS(&pki.client)
	noCert := pki.clientTLS(nil)
	foreign := pki.clientTLS(&pki.foreignClient)
	untrusting := &tls.Config{MinVersion: tls.VersionTLS12} // system roots only: must not trust the test CA

	t.Run("grpc", func(t *testing.T) {
		require.NoError(t, sendSpanGRPC(addr(tlsGRPC), credentials.NewTLS(noCert), "tls-grpc-ok"), "TLS client trusting the CA")
		// "localhost" is in the certificate's SANs as well as 127.0.0.1.
		require.NoError(t, sendSpanGRPC(fmt.Sprintf("localhost:%d", tlsGRPC), credentials.NewTLS(noCert), "tls-grpc-localhost-ok"))
		assert.Error(t, sendSpanGRPC(addr(tlsGRPC), insecure.NewCredentials(), "tls-grpc-plaintext"), "plaintext client must fail")
		err := sendSpanGRPC(addr(tlsGRPC), credentials.NewTLS(untrusting), "tls-grpc-untrusted")
		if assert.Error(t, err, "a client that does not trust the CA must fail") {
			assert.Contains(t, err.Error(), "certificate signed by unknown authority")
		}

		require.NoError(t, sendSpanGRPC(addr(mtlsGRPC), credentials.NewTLS(withCert), "mtls-grpc-ok"), "client certificate signed by the CA")
		assert.Error(t, sendSpanGRPC(addr(mtlsGRPC), credentials.NewTLS(noCert), "mtls-grpc-nocert"), "mTLS without client certificate must fail")
		assert.Error(t, sendSpanGRPC(addr(mtlsGRPC), credentials.NewTLS(foreign), "mtls-grpc-foreign"), "client certificate of another CA must fail")
		assert.Error(t, sendSpanGRPC(addr(mtlsGRPC), insecure.NewCredentials(), "mtls-grpc-plaintext"), "plaintext client must fail")
	})

	t.Run("http", func(t *testing.T) {
		code, err := sendSpanHTTP(noCert, fmt.Sprintf("https://%s/v1/traces", addr(tlsHTTP)), "tls-http-ok")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "TLS client trusting the CA")
		code, err = sendSpanHTTP(nil, fmt.Sprintf("http://%s/v1/traces", addr(tlsHTTP)), "tls-http-plaintext")
		if err == nil {
			assert.Equal(t, http.StatusBadRequest, code, "plaintext HTTP to the TLS port must be refused")
		}
		_, err = sendSpanHTTP(untrusting, fmt.Sprintf("https://%s/v1/traces", addr(tlsHTTP)), "tls-http-untrusted")
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "certificate signed by unknown authority")
		}

		mtlsURL := fmt.Sprintf("https://%s/v1/traces", addr(mtlsHTTP))
		code, err = sendSpanHTTP(withCert, mtlsURL, "mtls-http-ok")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "client certificate signed by the CA")
		_, err = sendSpanHTTP(noCert, mtlsURL, "mtls-http-nocert")
		assert.Error(t, err, "mTLS without client certificate must fail")
		_, err = sendSpanHTTP(foreign, mtlsURL, "mtls-http-foreign")
		assert.Error(t, err, "client certificate of another CA must fail")
	})

	// Exactly the accepted spans reached the pipeline; none of the refused ones did.
	require.Eventually(t, func() bool {
		out := col.Output.String()
		for _, name := range []string{"tls-grpc-ok", "tls-grpc-localhost-ok", "mtls-grpc-ok", "tls-http-ok", "mtls-http-ok"} {
			if !strings.Contains(out, "Name           : "+name+"\n") {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "accepted spans in the debug output")
	out := col.Output.String()
	for _, refused := range []string{"plaintext", "untrusted", "nocert", "foreign"} {
		assert.NotContainsf(t, out, "-"+refused+"\n", "a span sent by a refused client (%s) reached the pipeline", refused)
	}
	assert.NotContains(t, out, "panic")
}

// startTLSHTTPSpanSink is an OTLP/HTTP trace backend over TLS; it records span names like the gRPC
// sink and the common name of the client certificate of each request.
func startTLSHTTPSpanSink(t *testing.T, tlsConfig *tls.Config) (*spanSink, *peerNames, string) {
	t.Helper()
	sink := &spanSink{names: map[string]int{}}
	peers := &peerNames{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reader io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" { // the otlp_http exporter's default compression
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			reader = gz
		}
		body, err := io.ReadAll(reader)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		peers.record(r.TLS)
		_, _ = sink.Export(r.Context(), req)
		resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	srv.TLS = tlsConfig
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return sink, peers, srv.URL
}

// peerNames collects the common names of the client certificates a TLS server saw.
type peerNames struct {
	mu    sync.Mutex
	names []string
}

func (p *peerNames) record(state *tls.ConnectionState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if state == nil || len(state.PeerCertificates) == 0 {
		p.names = append(p.names, "")
		return
	}
	p.names = append(p.names, state.PeerCertificates[0].Subject.CommonName)
}

func (p *peerNames) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.names...)
}

// selfMetric sums the samples of a collector self-metric (Prometheus text format) whose labels
// contain label ("" matches every sample, including one without labels).
func selfMetric(t *testing.T, telPort int, name, label string) float64 {
	t.Helper()
	_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", telPort))
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:_total)?(?:\{([^}]*)\})? (\S+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[1], label) {
			v, err := strconv.ParseFloat(m[2], 64)
			require.NoError(t, err)
			sum += v
		}
	}
	return sum
}

func telemetryReaderConfig(port int) string {
	return fmt.Sprintf("readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", port)
}

// noCertLogged matches how a client learns that the server wanted a client certificate. A wrong CA
// fails in the client's own verification, so that error always names it; a missing client
// certificate is only noticed by the server. With TLS 1.3 the client has finished its handshake by
// then, and whether its first write or read meets the server's "certificate required" alert or the
// closed socket is a race (about 2 in 15 runs of the gRPC exporter log a broken pipe).
const noCertLogged = `certificate required|write: broken pipe|connection reset by peer`

// TestTLSExporters: the OTLP/gRPC and OTLP/HTTP exporters deliver to TLS and mutual-TLS backends
// (in-test servers with the generated certificates). A wrong CA or a missing client certificate
// fails the export: the sending client gets the error (no queue, no retry, so nothing is dropped
// silently behind its back), the collector logs the certificate problem and counts the spans in
// otelcol_exporter_send_failed_spans.
func TestTLSExporters(t *testing.T) {
	pki := newTestPKI(t)
	grpcTLS := startSpanSinkOnFreePort(t, grpc.Creds(credentials.NewTLS(pki.serverTLS(false))))
	grpcMTLS := startSpanSinkOnFreePort(t, grpc.Creds(credentials.NewTLS(pki.serverTLS(true))))
	httpTLS, _, httpTLSURL := startTLSHTTPSpanSink(t, pki.serverTLS(false))
	httpMTLS, httpMTLSPeers, httpMTLSURL := startTLSHTTPSpanSink(t, pki.serverTLS(true))

	type route struct {
		exporter, endpoint, tls string
		sink                    *spanSink
		ok                      bool
		// logged matches the problem the collector must log for a failing route.
		logged string
	}
	caOnly := fmt.Sprintf("{ca_file: %s}", pki.caFile)
	withCert := fmt.Sprintf("{ca_file: %s, cert_file: %s, key_file: %s}", pki.caFile, pki.clientCertFile, pki.clientKeyFile)
	wrongCA := fmt.Sprintf("{ca_file: %s}", pki.otherCAFile)
	routes := []route{
		{"otlp_grpc/tls", grpcTLS.address, caOnly, grpcTLS.sink, true, ""},
		{"otlp_grpc/mtls", grpcMTLS.address, withCert, grpcMTLS.sink, true, ""},
		{"otlp_grpc/wrong_ca", grpcTLS.address, wrongCA, grpcTLS.sink, false, "certificate signed by unknown authority"},
		{"otlp_grpc/no_client_cert", grpcMTLS.address, caOnly, grpcMTLS.sink, false, noCertLogged},
		{"otlp_http/tls", httpTLSURL, caOnly, httpTLS, true, ""},
		{"otlp_http/mtls", httpMTLSURL, withCert, httpMTLS, true, ""},
		{"otlp_http/wrong_ca", httpTLSURL, wrongCA, httpTLS, false, "certificate signed by unknown authority"},
		{"otlp_http/no_client_cert", httpMTLSURL, caOnly, httpMTLS, false, noCertLogged},
	}

	var receivers, exporters, pipelines strings.Builder
	ports := make([]int, len(routes))
	for i, r := range routes {
		ports[i] = proctest.FreePort(t)
		name := strings.ReplaceAll(r.exporter, "/", "_")
		fmt.Fprintf(&receivers, "  otlp/%s:\n    protocols: {grpc: {endpoint: \"%s\"}}\n", name, addr(ports[i]))
		fmt.Fprintf(&exporters, "  %s:\n    endpoint: %s\n    tls: %s\n    timeout: 5s\n    retry_on_failure: {enabled: false}\n    sending_queue: {enabled: false}\n",
			r.exporter, r.endpoint, r.tls)
		fmt.Fprintf(&pipelines, "    traces/%s: {receivers: [otlp/%s], exporters: [%s]}\n", name, name, r.exporter)
	}
	telPort := proctest.FreePort(t)
	cfg := writeFile(t, "tls-exporters.yaml", fmt.Sprintf("receivers:\n%sexporters:\n%sservice:\n  telemetry: {metrics: {%s}}\n  pipelines:\n%s",
		receivers.String(), exporters.String(), telemetryReaderConfig(telPort), pipelines.String()))
	col := startCollector(t, nil, "--config", cfg)
	col.WaitReady(t, readyTimeout)

	for i, r := range routes {
		t.Run(r.exporter, func(t *testing.T) {
			span := "via-" + r.exporter
			err := sendSpanGRPC(addr(ports[i]), insecure.NewCredentials(), span)
			if r.ok {
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					r.sink.mu.Lock()
					defer r.sink.mu.Unlock()
					return r.sink.names[span] == 1
				}, 10*time.Second, 50*time.Millisecond, "span delivered through %s", r.exporter)
				return
			}
			require.Errorf(t, err, "export through %s must fail and the client must be told", r.exporter)
			r.sink.mu.Lock()
			assert.Zero(t, r.sink.names[span], "span must not arrive")
			r.sink.mu.Unlock()
			var lines []string
			require.Eventuallyf(t, func() bool {
				lines = lines[:0]
				for _, line := range strings.Split(col.Output.String(), "\n") {
					if strings.Contains(line, `"`+r.exporter+`"`) {
						lines = append(lines, line)
						if regexp.MustCompile(r.logged).MatchString(line) {
							return true
						}
					}
				}
				return false
			}, 10*time.Second, 50*time.Millisecond, "collector log names %q for %s; its lines:\n%s", r.logged, r.exporter, strings.Join(lines, "\n"))
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.Equal(c, 1.0, selfMetric(t, telPort, "otelcol_exporter_send_failed_spans", `exporter="`+r.exporter+`"`))
			}, 10*time.Second, 200*time.Millisecond, "send_failed self-metric of %s", r.exporter)
		})
	}
	assert.Contains(t, httpMTLSPeers.get(), "otelcol-custom e2e client", "the mTLS sink saw the client certificate")
	assert.NotContains(t, col.Output.String(), "panic")
}

type grpcSinkAt struct {
	sink    *spanSink
	address string
}

func startSpanSinkOnFreePort(t *testing.T, opts ...grpc.ServerOption) grpcSinkAt {
	t.Helper()
	a := addr(proctest.FreePort(t))
	return grpcSinkAt{sink: startSpanSink(t, a, opts...), address: a}
}

// TestTLSPrometheusRemoteWrite: our prometheus_remote_write exporter writes to an HTTPS remote-write
// endpoint that requires a client certificate signed by the test CA. With the client certificate
// the samples arrive (decoded by promtest.Sink) and the endpoint sees the certificate; without it
// the handshake fails, the exporter logs the TLS error, gives up after its retry budget, logs the
// drop and counts the samples in otelcol_exporter_prometheusremotewrite_failed_samples; with a CA
// that did not sign the server certificate it fails the same way, naming the certificate problem.
func TestTLSPrometheusRemoteWrite(t *testing.T) {
	pki := newTestPKI(t)
	sink := &promtest.Sink{KeepSeries: true}
	peers := &peerNames{}
	handler := sink.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peers.record(r.TLS)
		handler.ServeHTTP(w, r)
	}))
	srv.TLS = pki.serverTLS(true)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	writeURL := srv.URL + "/api/v1/write"

	withCertPort, noCertPort, wrongCAPort, telPort := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	cfg := writeFile(t, "tls-prw.yaml", fmt.Sprintf(`
receivers:
  otlp/with_cert:
    protocols: {grpc: {endpoint: "%s"}}
  otlp/no_cert:
    protocols: {grpc: {endpoint: "%s"}}
  otlp/wrong_ca:
    protocols: {grpc: {endpoint: "%s"}}
exporters:
  prometheus_remote_write/with_cert:
    endpoint: %s
    tls: {ca_file: %s, cert_file: %s, key_file: %s}
    remote_write_queue: {enabled: false}
    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 1s}
  prometheus_remote_write/no_cert:
    endpoint: %s
    tls: {ca_file: %s}
    remote_write_queue: {enabled: false}
    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 1s}
  prometheus_remote_write/wrong_ca:
    endpoint: %s
    tls: {ca_file: %s, cert_file: %s, key_file: %s}
    remote_write_queue: {enabled: false}
    retry_on_failure: {enabled: false}
service:
  telemetry: {metrics: {%s}}
  pipelines:
    metrics/with_cert: {receivers: [otlp/with_cert], exporters: [prometheus_remote_write/with_cert]}
    metrics/no_cert: {receivers: [otlp/no_cert], exporters: [prometheus_remote_write/no_cert]}
    metrics/wrong_ca: {receivers: [otlp/wrong_ca], exporters: [prometheus_remote_write/wrong_ca]}
`, addr(withCertPort), addr(noCertPort), addr(wrongCAPort), writeURL, pki.caFile, pki.clientCertFile, pki.clientKeyFile,
		writeURL, pki.caFile, writeURL, pki.otherCAFile, pki.clientCertFile, pki.clientKeyFile, telemetryReaderConfig(telPort)))
	col := startCollector(t, nil, "--config", cfg)
	col.WaitReady(t, readyTimeout)

	require.NoError(t, sendGauge(addr(withCertPort), "tls_e2e_gauge", 42), "export with client certificate")
	require.Eventually(t, func() bool {
		series, _ := sink.Snapshot()
		for _, s := range series {
			if s.Labels.Get("__name__") == "tls_e2e_gauge" && len(s.Samples) > 0 && s.Samples[0].Value == 42 {
				return true
			}
		}
		return false
	}, 15*time.Second, 50*time.Millisecond, "gauge written over mTLS")
	assert.Zero(t, sink.Errors.Load(), "undecodable remote-write requests")
	for _, cn := range peers.get() {
		assert.Equal(t, "otelcol-custom e2e client", cn, "every remote-write request carries the client certificate")
	}
	requestsWithCert := sink.Requests.Load()

	err := sendGauge(addr(noCertPort), "tls_e2e_gauge_nocert", 7)
	require.Error(t, err, "without a client certificate the export fails and the sender is told")
	require.Eventually(t, func() bool {
		var retrying, dropped bool
		for _, line := range strings.Split(col.Output.String(), "\n") {
			retrying = retrying || strings.Contains(line, "remote write failed, retrying") && regexp.MustCompile(noCertLogged).MatchString(line)
			dropped = dropped || strings.Contains(line, "remote write data dropped") && strings.Contains(line, "prometheus_remote_write/no_cert")
		}
		return retrying && dropped
	}, 15*time.Second, 100*time.Millisecond, "TLS failure and drop logged")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		// The exporter's own metrics carry no component label in v0.161.0; only no_cert fails here.
		assert.Equal(c, 1.0, selfMetric(t, telPort, "otelcol_exporter_prometheusremotewrite_failed_samples", ""))
	}, 10*time.Second, 200*time.Millisecond, "failed samples counted")

	// A CA that did not sign the server certificate: the exporter's own verification fails, and
	// the error (returned to the sender, logged by the collector) says so.
	err = sendGauge(addr(wrongCAPort), "tls_e2e_gauge_wrong_ca", 9)
	require.Error(t, err, "with the wrong CA the export fails and the sender is told")
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(col.Output.String(), "\n") {
			if strings.Contains(line, `"prometheus_remote_write/wrong_ca"`) && strings.Contains(line, "certificate signed by unknown authority") {
				return true
			}
		}
		return false
	}, 15*time.Second, 100*time.Millisecond, "wrong CA logged")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 2.0, selfMetric(t, telPort, "otelcol_exporter_prometheusremotewrite_failed_samples", ""))
	}, 10*time.Second, 200*time.Millisecond, "failed samples counted (no_cert and wrong_ca)")

	series, _ := sink.Snapshot()
	for _, s := range series {
		assert.NotContains(t, []string{"tls_e2e_gauge_nocert", "tls_e2e_gauge_wrong_ca"}, s.Labels.Get("__name__"), "data arrived over a connection that must fail")
	}
	assert.Equal(t, requestsWithCert, sink.Requests.Load(), "no request got through without a client certificate")
	assert.NotContains(t, col.Output.String(), "panic")
}

// sendGauge exports one gauge data point over OTLP/gRPC (plaintext) and returns the RPC error.
func sendGauge(endpoint, name string, value float64) error {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	dp.SetDoubleValue(value)
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	return err
}
