// Package watchfileprovider implements a confmap.Provider for the "watchfile" scheme. It reads a
// local file exactly like the upstream "file" provider and, in addition, watches it: when the
// file's content changes and the new content passes validation, the provider asks the collector
// to reload its configuration.
//
// The scheme is separate from "file:" on purpose: "file:" keeps its upstream meaning (read once,
// never reload), so otelcol-custom stays a drop-in replacement for otelcol, and hot reload is an
// explicit opt-in visible in the command line (--config watchfile:/conf/config.yaml).
//
// The collector (otelcol v0.161.0) reacts to a change by shutting down the running service and
// only then resolving, unmarshalling and validating the new configuration; if that fails the
// whole process exits. A bad file must therefore never reach the collector: the provider
// validates every changed file before signalling and, if it is rejected, logs why and keeps
// watching while the running pipelines continue with the previous configuration.
package watchfileprovider // import "github.com/otelcol-custom/otelcol-custom/confmap/provider/watchfileprovider"

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

const (
	schemeName = "watchfile"

	// defaultDebounce is how long the watched directory must stay quiet before the file is read.
	// Editors truncate then write, and the kubelet's atomic writer creates a timestamped directory,
	// a temporary symlink, renames it over ..data and removes the old directory: all of that is one
	// logical change and must cause one reload, read after the last step.
	defaultDebounce = 100 * time.Millisecond
)

// ConfigValidator checks the new content of a watched file before the provider signals the
// collector to reload. A non-nil error rejects the change: it is logged and the collector keeps
// running its current configuration. path is the file as given in the URI; content is what the
// provider will hand to the collector on the following Retrieve.
type ConfigValidator func(ctx context.Context, path string, content []byte) error

// Option customises the provider created by NewFactoryWithOptions.
type Option func(*options)

type options struct {
	debounce  time.Duration
	validator ConfigValidator
	// autoValidator tells whether validator was chosen by NewFactory from the command line
	// rather than passed explicitly (only used for log messages).
	autoValidator bool
}

// WithDebounce sets how long the watched directory must be quiet before a change is read.
// Values <= 0 keep the default (100ms).
func WithDebounce(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.debounce = d
		}
	}
}

// WithConfigValidator sets the full-configuration check run on every changed file after the
// built-in YAML checks, replacing the automatic `<binary> validate` check that NewFactory enables
// when the process runs as the collector binary. Use NewCollectorValidator when embedding the
// collector with otelcol.NewCollector. A nil validator disables the full check.
func WithConfigValidator(v ConfigValidator) Option {
	return func(o *options) {
		o.validator = v
		o.autoValidator = false
	}
}

// NewFactory returns a factory for a confmap.Provider that reads and watches a local file.
//
//	watchfile-uri = "watchfile:" local-path
//
// The path may be relative or absolute (examples: `watchfile:config.yaml`,
// `watchfile:/conf/config.yaml`).
//
// When the process's own command line passes a watchfile URI to --config (that is, it runs as
// the collector binary), every changed file is additionally checked by running this binary's
// `validate` subcommand with the same command line, which performs the collector's full
// unmarshal and validation. See NewFactoryWithOptions to choose the check explicitly.
func NewFactory() confmap.ProviderFactory {
	return NewFactoryWithOptions()
}

// NewFactoryWithOptions is NewFactory with options; explicit options override the automatic
// choice of validator.
func NewFactoryWithOptions(opts ...Option) confmap.ProviderFactory {
	o := options{debounce: defaultDebounce}
	if args, ok := validateCommandArgs(os.Args); ok {
		if exe, err := os.Executable(); err == nil {
			o.validator = newCommandValidator(exe, args)
			o.autoValidator = true
		}
	}
	for _, opt := range opts {
		opt(&o)
	}
	return confmap.NewProviderFactory(func(set confmap.ProviderSettings) confmap.Provider {
		return newProvider(set, o)
	})
}

type provider struct {
	logger *zap.Logger
	opts   options

	mu sync.Mutex
	// signalled is true once a watch of this provider has called the collector's watcher during
	// the current Retrieve cycle. The collector's watcher writes to a channel with room for one
	// event, so a second call before the collector re-resolves could block; one event per cycle
	// is also all the collector needs, since a reload re-reads every URI.
	signalled bool
	// pending holds, per path, the content that passed validation and was signalled. The next
	// Retrieve of that path serves exactly these bytes, so a file that changes again between
	// the signal and the Retrieve cannot slip unvalidated content into the collector.
	pending map[string][]byte
	// watches are the live watches, closed on Shutdown if the collector did not close them.
	watches  map[*watch]struct{}
	shutdown bool
}

func newProvider(set confmap.ProviderSettings, o options) *provider {
	logger := set.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	return &provider{
		logger:  logger,
		opts:    o,
		pending: map[string][]byte{},
		watches: map[*watch]struct{}{},
	}
}

func (*provider) Scheme() string {
	return schemeName
}

func (p *provider) Retrieve(ctx context.Context, uri string, watcher confmap.WatcherFunc) (*confmap.Retrieved, error) {
	if !strings.HasPrefix(uri, schemeName+":") {
		return nil, fmt.Errorf("%q uri is not supported by %q provider", uri, schemeName)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rawPath := uri[len(schemeName)+1:]
	if rawPath == "" {
		return nil, fmt.Errorf("uri %q has no path; use %s:/path/to/config.yaml", uri, schemeName)
	}
	path := filepath.Clean(rawPath)

	p.mu.Lock()
	if p.shutdown {
		p.mu.Unlock()
		return nil, errors.New("watchfile provider is shut down")
	}
	// A Retrieve starts a new resolve cycle: the collector has consumed the previous event.
	p.signalled = false
	content, fromPending := p.pending[path]
	delete(p.pending, path)
	p.mu.Unlock()

	if !fromPending {
		var err error
		if content, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("unable to read the file %v: %w", uri, err)
		}
	}

	if watcher == nil {
		return confmap.NewRetrievedFromYAML(content)
	}

	w, err := p.startWatch(path, content, watcher)
	if err != nil {
		return nil, fmt.Errorf("unable to watch the file %v: %w", uri, err)
	}
	ret, err := confmap.NewRetrievedFromYAML(content, confmap.WithRetrievedClose(w.close))
	if err != nil {
		_ = w.close(ctx)
		return nil, err
	}
	return ret, nil
}

// Shutdown closes every watch still open. The collector closes the watches of the last Retrieve
// before calling Shutdown, so normally there is nothing left to do.
func (p *provider) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.shutdown = true
	watches := make([]*watch, 0, len(p.watches))
	for w := range p.watches {
		watches = append(watches, w)
	}
	p.mu.Unlock()

	var errs []error
	for _, w := range watches {
		errs = append(errs, w.close(ctx))
	}
	return errors.Join(errs...)
}

// trySignal records that content of path passed validation and reports whether the caller may
// call the collector's watcher: false when another watch already signalled in this cycle.
func (p *provider) trySignal(path string, content []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.signalled || p.shutdown {
		return false
	}
	p.signalled = true
	p.pending[path] = content
	return true
}

func (p *provider) forget(w *watch) {
	p.mu.Lock()
	delete(p.watches, w)
	p.mu.Unlock()
}

func contentHash(b []byte) [sha256.Size]byte {
	return sha256.Sum256(b)
}
