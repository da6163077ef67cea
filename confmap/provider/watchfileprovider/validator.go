package watchfileprovider // import "github.com/otelcol-custom/otelcol-custom/confmap/provider/watchfileprovider"

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"
)

// NewCollectorValidator returns a ConfigValidator for programs that embed the collector with
// otelcol.NewCollector. It runs the checks of `otelcol validate` (resolve every config URI,
// unmarshal with the component factories, Validate every config, build the pipeline graph) on
// the configuration the collector would load after the change: set's config URIs are resolved
// with set's providers, except that watchfile URIs are served by a snapshot holding the changed
// content. Pass the settings you give otelcol.NewCollector; when they hold no URIs, the changed
// file alone is validated.
//
// What it cannot catch is what only fails when components start: a port already in use, a TLS
// file that cannot be read, a backend that refuses connections during Start.
func NewCollectorValidator(set otelcol.CollectorSettings) ConfigValidator {
	rs := set.ConfigProviderSettings.ResolverSettings
	var others []confmap.ProviderFactory
	for _, f := range rs.ProviderFactories {
		if f.Create(confmap.ProviderSettings{Logger: zap.NewNop()}).Scheme() != schemeName {
			others = append(others, f)
		}
	}
	uris := slices.Clone(rs.URIs)

	return func(ctx context.Context, path string, content []byte) error {
		check := set
		checkRS := rs
		checkRS.URIs = uris
		if len(checkRS.URIs) == 0 {
			checkRS.URIs = []string{schemeName + ":" + path}
		}
		checkRS.ProviderFactories = append(slices.Clone(others), confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider {
			return &snapshotProvider{path: path, content: content}
		}))
		check.ConfigProviderSettings = otelcol.ConfigProviderSettings{ResolverSettings: checkRS}
		// The validation must not install its own signal handlers or gRPC logger.
		check.DisableGracefulShutdown = true
		check.SkipSettingGRPCLogger = true

		col, err := otelcol.NewCollector(check)
		if err != nil {
			return fmt.Errorf("cannot set up config validation: %w", err)
		}
		if err := col.DryRun(ctx); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
		return nil
	}
}

// snapshotProvider serves the changed content for the watched path and reads any other
// watchfile path from disk, without watching anything.
type snapshotProvider struct {
	path    string
	content []byte
}

func (*snapshotProvider) Scheme() string { return schemeName }

func (s *snapshotProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	path := filepath.Clean(strings.TrimPrefix(uri, schemeName+":"))
	if path == s.path {
		return confmap.NewRetrievedFromYAML(s.content)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("unable to read the file %v: %w", uri, err)
	}
	return confmap.NewRetrievedFromYAML(content)
}

func (*snapshotProvider) Shutdown(context.Context) error { return nil }

// collectorSubcommands are the otelcol CLI subcommands; a process started with one of them is
// not a running collector and must not validate by re-executing itself.
var collectorSubcommands = map[string]bool{
	"validate": true, "components": true, "print-config": true, "print-initial-config": true,
	"featuregate": true, "help": true, "completion": true,
}

// flagsWithValue are the otelcol CLI flags whose value may follow as a separate argument.
var flagsWithValue = map[string]bool{
	"--config": true, "-config": true, "--set": true, "-set": true, "--feature-gates": true, "-feature-gates": true,
}

// validateCommandArgs decides whether this process is the collector binary running a
// configuration that contains a watchfile URI given with --config. If so it returns the arguments
// that run the binary's `validate` subcommand on the same command line, which performs the full
// unmarshal and validation that a reload would do, with the same factories, flags and env.
func validateCommandArgs(osArgs []string) ([]string, bool) {
	if len(osArgs) < 2 {
		return nil, false
	}
	args := osArgs[1:]
	watched := false
	for i, a := range args {
		if i > 0 && flagsWithValue[args[i-1]] {
			if args[i-1] == "--config" || args[i-1] == "-config" {
				watched = watched || strings.HasPrefix(a, schemeName+":")
			}
			continue
		}
		if value, ok := strings.CutPrefix(a, "--config="); ok {
			watched = watched || strings.HasPrefix(value, schemeName+":")
			continue
		}
		if value, ok := strings.CutPrefix(a, "-config="); ok {
			watched = watched || strings.HasPrefix(value, schemeName+":")
			continue
		}
		if collectorSubcommands[a] {
			return nil, false
		}
	}
	if !watched {
		return nil, false
	}
	return append([]string{"validate"}, args...), true
}

// maxValidateOutput bounds how much of the validate subcommand's output goes into the log line.
const maxValidateOutput = 4096

// newCommandValidator runs `exe args...` (the collector binary's validate subcommand) and turns a
// non-zero exit into an error carrying the command's output, which names the file, the key and
// what is valid exactly as `otelcol-custom validate` prints it.
func newCommandValidator(exe string, args []string) ConfigValidator {
	return func(ctx context.Context, _ string, _ []byte) error {
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.WaitDelay = 5 * time.Second
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(out.String())
			if len(msg) > maxValidateOutput {
				msg = "…" + msg[len(msg)-maxValidateOutput:]
			}
			return fmt.Errorf("`%s %s` failed (%w): %s", filepath.Base(exe), strings.Join(args, " "), err, msg)
		}
		return nil
	}
}
