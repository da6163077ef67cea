package watchfileprovider

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const (
	testDebounce = 20 * time.Millisecond
	// eventTimeout is how long a test waits for an expected signal; generous for a loaded CI box.
	eventTimeout = 5 * time.Second
	// quietPeriod is how long a test waits to conclude that no signal comes: many debounce
	// periods, so a missing signal is not a timing accident.
	quietPeriod = 25 * testDebounce
)

const configV1 = `receivers:
  otlp:
    protocols:
      grpc:
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`

var configV2 = strings.Replace(configV1, "debug:", "debug:\n    verbosity: detailed", 1)

type testEnv struct {
	t      *testing.T
	p      *provider
	logs   *observer.ObservedLogs
	events chan *confmap.ChangeEvent
}

func newTestEnv(t *testing.T, opts ...Option) *testEnv {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	// An explicit nil validator keeps the test independent of the test binary's command line.
	opts = append([]Option{WithDebounce(testDebounce), WithConfigValidator(nil)}, opts...)
	f := NewFactoryWithOptions(opts...)
	p := f.Create(confmap.ProviderSettings{Logger: zap.New(core)}).(*provider)
	env := &testEnv{t: t, p: p, logs: logs, events: make(chan *confmap.ChangeEvent, 10)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		assert.NoError(t, p.Shutdown(ctx))
	})
	return env
}

func (e *testEnv) watcher(ev *confmap.ChangeEvent) { e.events <- ev }

func (e *testEnv) retrieve(uri string) (*confmap.Retrieved, string) {
	e.t.Helper()
	ret, err := e.p.Retrieve(context.Background(), uri, e.watcher)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { assert.NoError(e.t, ret.Close(context.Background())) })
	s, err := ret.AsString()
	require.NoError(e.t, err)
	return ret, s
}

func (e *testEnv) expectEvent() {
	e.t.Helper()
	select {
	case ev := <-e.events:
		require.NoError(e.t, ev.Error)
	case <-time.After(eventTimeout):
		e.t.Fatalf("no change event within %v; logs: %v", eventTimeout, e.logMessages())
	}
}

func (e *testEnv) expectNoEvent() {
	e.t.Helper()
	select {
	case ev := <-e.events:
		e.t.Fatalf("unexpected change event %+v; logs: %v", ev, e.logMessages())
	case <-time.After(quietPeriod):
	}
}

func (e *testEnv) logMessages() []string {
	var out []string
	for _, l := range e.logs.All() {
		s := l.Message
		for _, f := range l.Context {
			if f.Type == zapcore.ErrorType {
				s += " error=" + f.Interface.(error).Error()
			}
		}
		out = append(out, s)
	}
	return out
}

func (e *testEnv) waitForLog(substr string) observer.LoggedEntry {
	e.t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for time.Now().Before(deadline) {
		for _, l := range e.logs.All() {
			if strings.Contains(l.Message, substr) {
				return l
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("no log containing %q; logs: %v", substr, e.logMessages())
	return observer.LoggedEntry{}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func TestScheme(t *testing.T) {
	p := NewFactory().Create(confmap.ProviderSettings{})
	assert.Equal(t, "watchfile", p.Scheme())
	require.NoError(t, confmaptest.ValidateProviderScheme(p))
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestRetrieveErrors(t *testing.T) {
	env := newTestEnv(t)
	_, err := env.p.Retrieve(context.Background(), "file:/x.yaml", env.watcher)
	assert.ErrorContains(t, err, `"file:/x.yaml" uri is not supported by "watchfile" provider`)

	_, err = env.p.Retrieve(context.Background(), "watchfile:", env.watcher)
	assert.ErrorContains(t, err, "has no path")

	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_, err = env.p.Retrieve(context.Background(), "watchfile:"+missing, env.watcher)
	assert.ErrorIs(t, err, os.ErrNotExist)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = env.p.Retrieve(ctx, "watchfile:"+missing, env.watcher)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRetrieveMatchesFileProvider(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)

	ret, _ := env.retrieve("watchfile:" + path)
	conf, err := ret.AsConf()
	require.NoError(t, err)
	assert.Equal(t, []any{"otlp"}, conf.Get("service::pipelines::traces::receivers"))

	// Without a watcher nothing is watched and nothing needs closing.
	ret, err = env.p.Retrieve(context.Background(), "watchfile:"+path, nil)
	require.NoError(t, err)
	require.NoError(t, ret.Close(context.Background()))
	assert.Len(t, env.p.watches, 1, "only the first Retrieve, which passed a watcher, watches")
}

func TestWriteInPlaceSignalsAndNextRetrieveServesNewContent(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	ret, _ := env.retrieve("watchfile:" + path)

	writeFile(t, path, configV2)
	env.expectEvent()
	// One signal per retrieved file: further changes wait for the collector to re-retrieve.
	writeFile(t, path, configV1)
	env.expectNoEvent()

	require.NoError(t, ret.Close(context.Background()))
	_, got := env.retrieve("watchfile:" + path)
	assert.Equal(t, configV2, got, "Retrieve after a signal serves the content that was validated")
	// The new watch notices that the file moved on (back to v1) since then.
	env.expectEvent()
	env.waitForLog("passed validation")
}

func TestAtomicRenameSignals(t *testing.T) {
	env := newTestEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, configV1)
	env.retrieve("watchfile:" + path)

	tmp := filepath.Join(dir, ".config.yaml.tmp")
	writeFile(t, tmp, configV2)
	require.NoError(t, os.Rename(tmp, path))
	env.expectEvent()
}

// kubeletWrite reproduces what the kubelet's atomic writer does to a ConfigMap volume: the data
// lives in a timestamped directory, ..data points to it, and each key is a symlink through ..data.
func kubeletWrite(t *testing.T, dir, version, content string) {
	t.Helper()
	tsDir := filepath.Join(dir, "..2026_11_23_"+version)
	require.NoError(t, os.Mkdir(tsDir, 0o755))
	writeFile(t, filepath.Join(tsDir, "config.yaml"), content)

	old, oldErr := os.Readlink(filepath.Join(dir, "..data"))
	require.NoError(t, os.Symlink(filepath.Base(tsDir), filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	if _, err := os.Lstat(filepath.Join(dir, "config.yaml")); errors.Is(err, os.ErrNotExist) {
		require.NoError(t, os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(dir, "config.yaml")))
	}
	if oldErr == nil {
		require.NoError(t, os.RemoveAll(filepath.Join(dir, old)))
	}
}

func TestKubernetesConfigMapSymlinkSwap(t *testing.T) {
	env := newTestEnv(t)
	dir := t.TempDir()
	kubeletWrite(t, dir, "v1", configV1)
	path := filepath.Join(dir, "config.yaml")
	ret, got := env.retrieve("watchfile:" + path)
	require.Equal(t, configV1, got)

	kubeletWrite(t, dir, "v2", configV2)
	env.expectEvent()
	require.NoError(t, ret.Close(context.Background()))
	_, got = env.retrieve("watchfile:" + path)
	assert.Equal(t, configV2, got)

	// A second swap after the reload is seen as well: the new watch follows the new target.
	configV3 := strings.Replace(configV1, "grpc:", "http:", 1)
	kubeletWrite(t, dir, "v3", configV3)
	env.expectEvent()
}

func TestBurstOfWritesSignalsOnceWithFinalContent(t *testing.T) {
	// A longer quiet period than the other tests: the burst below must fit in it even on a
	// loaded machine under -race. (Debouncing cannot protect against a writer slower than the
	// quiet period; such writers should write a temporary file and rename it, as the kubelet does.)
	env := newTestEnv(t, WithDebounce(300*time.Millisecond))
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	ret, _ := env.retrieve("watchfile:" + path)

	// A truncate-then-write editor: the empty and half-written states must never be served.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	for _, line := range strings.SplitAfter(configV2, "\n") {
		_, err = f.WriteString(line)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
	}
	require.NoError(t, f.Close())
	env.expectEvent()
	env.expectNoEvent()

	require.NoError(t, ret.Close(context.Background()))
	_, got := env.retrieve("watchfile:" + path)
	assert.Equal(t, configV2, got)
}

func TestUnchangedContentDoesNotSignal(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	env.retrieve("watchfile:" + path)

	writeFile(t, path, configV1)
	now := time.Now()
	require.NoError(t, os.Chtimes(path, now, now))
	require.NoError(t, os.Chmod(path, 0o644))
	env.expectNoEvent()
}

func TestBadContentIsRejectedAndLogged(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{name: "malformed YAML", content: "receivers:\n  otlp:\n   - [unclosed\n", wantErr: "not valid YAML"},
		{name: "empty file", content: "", wantErr: "the file is empty"},
		{name: "only comments", content: "# nothing here\n", wantErr: "holds no YAML value"},
		{name: "sequence instead of mapping", content: "- receivers\n", wantErr: "YAML sequence, but it held a mapping before"},
		{name: "unknown top-level key", content: configV1 + "exporter:\n  debug:\n", wantErr: `unknown top-level key "exporter"`},
		{name: "section not a mapping", content: "receivers: [otlp]\n", wantErr: `"receivers" must be a mapping, got a YAML sequence`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			path := filepath.Join(t.TempDir(), "config.yaml")
			writeFile(t, path, configV1)
			env.retrieve("watchfile:" + path)

			writeFile(t, path, tt.content)
			entry := env.waitForLog("Rejected the changed config file")
			assert.Equal(t, zapcore.ErrorLevel, entry.Level)
			ctx := entry.ContextMap()
			assert.Equal(t, path, ctx["path"])
			assert.Contains(t, ctx["error"], tt.wantErr)
			env.expectNoEvent()

			// The same bad content is reported once, not on every event.
			now := time.Now()
			require.NoError(t, os.Chtimes(path, now, now))
			env.expectNoEvent()
			assert.Len(t, env.logs.FilterMessageSnippet("Rejected").All(), 1)

			// Fixing the file triggers the reload.
			writeFile(t, path, configV2)
			env.expectEvent()
		})
	}
}

func TestRevertingBadEditDoesNotReload(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	env.retrieve("watchfile:" + path)

	writeFile(t, path, "not: [valid")
	env.waitForLog("Rejected")
	writeFile(t, path, configV1)
	env.expectNoEvent()
}

func TestInlineScalarFileMayHoldAnyValue(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "s3cr3t")
	_, got := env.retrieve("watchfile:" + path)
	assert.Equal(t, "s3cr3t", got)

	writeFile(t, path, "n3w-t0ken")
	env.expectEvent()
}

func TestDeletedFileKeepsConfigAndRecovers(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	env.retrieve("watchfile:" + path)

	require.NoError(t, os.Remove(path))
	entry := env.waitForLog("Cannot read the watched config file")
	assert.Equal(t, zapcore.WarnLevel, entry.Level)
	env.expectNoEvent()

	writeFile(t, path, configV2)
	env.expectEvent()
}

func TestValidatorRejection(t *testing.T) {
	var gotPath, gotContent string
	env := newTestEnv(t, WithConfigValidator(func(_ context.Context, path string, content []byte) error {
		gotPath, gotContent = path, string(content)
		if strings.Contains(string(content), "detailed") {
			return errors.New(`'exporters' unknown type: "debugg"`)
		}
		return nil
	}))
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	env.retrieve("watchfile:" + path)

	writeFile(t, path, configV2)
	entry := env.waitForLog("Rejected")
	assert.Contains(t, entry.ContextMap()["error"], `unknown type: "debugg"`)
	env.expectNoEvent()
	assert.Equal(t, path, gotPath)
	assert.Equal(t, configV2, gotContent)

	configV3 := strings.Replace(configV1, "grpc:", "http:", 1)
	writeFile(t, path, configV3)
	env.expectEvent()
	assert.Equal(t, configV3, gotContent)
}

func TestOneSignalPerRetrieveCycle(t *testing.T) {
	env := newTestEnv(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, a, configV1)
	writeFile(t, b, "exporters:\n  debug:\n")
	retA, _ := env.retrieve("watchfile:" + a)
	retB, _ := env.retrieve("watchfile:" + b)

	writeFile(t, a, configV2)
	env.expectEvent()
	writeFile(t, b, "exporters:\n  debug:\n    verbosity: basic\n")
	env.expectNoEvent()

	// The next cycle serves both new contents and signals nothing further.
	require.NoError(t, retA.Close(context.Background()))
	require.NoError(t, retB.Close(context.Background()))
	_, gotA := env.retrieve("watchfile:" + a)
	_, gotB := env.retrieve("watchfile:" + b)
	assert.Equal(t, configV2, gotA)
	assert.Contains(t, gotB, "verbosity: basic")
	env.expectNoEvent()
}

func TestShutdownClosesOpenWatches(t *testing.T) {
	core, _ := observer.New(zapcore.DebugLevel)
	p := NewFactoryWithOptions(WithDebounce(testDebounce), WithConfigValidator(nil)).Create(confmap.ProviderSettings{Logger: zap.New(core)})
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	for range 3 {
		_, err := p.Retrieve(context.Background(), "watchfile:"+path, func(*confmap.ChangeEvent) {})
		require.NoError(t, err)
	}
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Empty(t, p.(*provider).watches)
	_, err := p.Retrieve(context.Background(), "watchfile:"+path, func(*confmap.ChangeEvent) {})
	assert.ErrorContains(t, err, "shut down")
	// goleak (TestMain) fails the package if a watch goroutine survived.
}

func TestCloseDoesNotWaitForeverOnBlockedWatcher(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, configV1)
	release := make(chan struct{})
	called := make(chan struct{})
	ret, err := env.p.Retrieve(context.Background(), "watchfile:"+path, func(*confmap.ChangeEvent) {
		close(called)
		<-release
	})
	require.NoError(t, err)
	writeFile(t, path, configV2)
	<-called

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, ret.Close(ctx), context.DeadlineExceeded)
	close(release)
	require.NoError(t, ret.Close(context.Background()))
}
