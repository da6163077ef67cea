package watchfileprovider // import "github.com/otelcol-custom/otelcol-custom/confmap/provider/watchfileprovider"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// validateTimeout bounds one run of the configured ConfigValidator.
const validateTimeout = 30 * time.Second

// watch follows one retrieved file until it signals a change once or is closed.
//
// It watches directories, not the file: the kubelet updates a mounted ConfigMap by swapping the
// ..data symlink to a new timestamped directory, so the path the user gave never sees an event of
// its own, and editors or `mv` replace the file's inode, which drops a watch on the file itself.
// Any event in a watched directory (re)starts the debounce timer; when it fires the file is read
// through its symlinks and compared with what the collector was given.
type watch struct {
	p       *provider
	path    string
	watcher confmap.WatcherFunc
	// pathField is added to every log line. The provider's logger must not be derived with
	// Logger.With: otelcol hands providers a logger whose core follows the running service's
	// logger, but a core derived with With stays bound to the logger of the moment (the start-up
	// buffer, or a service that has since shut down) and its lines are lost.
	pathField zap.Field

	served      [sha256.Size]byte
	servedShape contentShape

	fsw  *fsnotify.Watcher
	dirs map[string]struct{}

	// ctx is cancelled on close so a running validator stops early.
	ctx       context.Context
	cancel    context.CancelFunc
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// Owned by the run goroutine: remember what was already reported so that a file which stays
	// bad, or stays unreadable, is logged once rather than on every event.
	rejected     [sha256.Size]byte
	haveRejected bool
	lastReadErr  string
}

type checkResult int

const (
	// checkWait: nothing to do until the next filesystem event.
	checkWait checkResult = iota
	// checkAgain: the file changed while it was being validated; check again after a debounce.
	checkAgain
	// checkDone: the collector was signalled (or will re-read this file anyway); stop watching.
	checkDone
)

func (p *provider) startWatch(path string, content []byte, watcher confmap.WatcherFunc) (*watch, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("cannot create a filesystem watcher (on Linux, raise fs.inotify.max_user_instances if it is exhausted): %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{
		p:           p,
		path:        path,
		watcher:     watcher,
		pathField:   zap.String("path", path),
		served:      contentHash(content),
		servedShape: shapeOf(content),
		fsw:         fsw,
		dirs:        map[string]struct{}{},
		ctx:         ctx,
		cancel:      cancel,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	// The directory holding the path is required: without it no change can ever be seen.
	if err := w.updateDirs(); err != nil {
		cancel()
		_ = fsw.Close()
		return nil, err
	}

	p.mu.Lock()
	p.watches[w] = struct{}{}
	p.mu.Unlock()

	go w.run()
	return w, nil
}

// updateDirs watches the directory of the path as given and the directory of the file the path
// currently resolves to, and drops directories no longer needed (an old ..2026_… directory).
func (w *watch) updateDirs() error {
	want := map[string]struct{}{}
	base, err := filepath.Abs(filepath.Dir(w.path))
	if err != nil {
		return err
	}
	want[base] = struct{}{}
	if resolved, err := filepath.EvalSymlinks(w.path); err == nil {
		want[filepath.Dir(resolved)] = struct{}{}
	}

	for dir := range w.dirs {
		if _, ok := want[dir]; !ok {
			// The kernel already dropped the watch if the directory was deleted.
			_ = w.fsw.Remove(dir)
			delete(w.dirs, dir)
		}
	}
	for dir := range want {
		if _, ok := w.dirs[dir]; ok {
			continue
		}
		if err := w.fsw.Add(dir); err != nil {
			if dir == base {
				return fmt.Errorf("cannot watch directory %s (on Linux, raise fs.inotify.max_user_watches if it is exhausted): %w", dir, err)
			}
			w.log(zapcore.DebugLevel, "Cannot watch the directory the config file resolves to", zap.String("dir", dir), zap.Error(err))
			continue
		}
		w.dirs[dir] = struct{}{}
	}
	return nil
}

func (w *watch) run() {
	defer close(w.done)
	defer func() { _ = w.fsw.Close() }()

	// The first check runs without waiting for an event: the file may have changed between the
	// read in Retrieve and the moment the directory watch was in place.
	timer := time.NewTimer(w.p.opts.debounce)
	defer timer.Stop()

	for {
		select {
		case <-w.stop:
			return
		case _, ok := <-w.fsw.Events:
			if !ok {
				w.log(zapcore.ErrorLevel, "Filesystem watcher closed unexpectedly; config changes are no longer picked up until the next reload (send SIGHUP to reload manually)")
				return
			}
			timer.Reset(w.p.opts.debounce)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				w.log(zapcore.ErrorLevel, "Filesystem watcher closed unexpectedly; config changes are no longer picked up until the next reload (send SIGHUP to reload manually)")
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost; the content comparison below makes a spurious check harmless.
				timer.Reset(w.p.opts.debounce)
				continue
			}
			w.log(zapcore.WarnLevel, "Filesystem watcher error", zap.Error(err))
		case <-timer.C:
			switch w.check() {
			case checkDone:
				return
			case checkAgain:
				timer.Reset(w.p.opts.debounce)
			case checkWait:
			}
		}
	}
}

func (w *watch) check() checkResult {
	if err := w.updateDirs(); err != nil {
		w.log(zapcore.WarnLevel, "Cannot watch the config file's directory", zap.Error(err))
	}

	content, err := os.ReadFile(w.path)
	if err != nil {
		// Typical while a directory is being swapped by hand or the ConfigMap was deleted. The
		// running configuration stays; a later event re-checks.
		if msg := err.Error(); msg != w.lastReadErr {
			w.lastReadErr = msg
			w.log(zapcore.WarnLevel, "Cannot read the watched config file; the collector keeps running its current configuration", zap.Error(err))
		}
		return checkWait
	}
	w.lastReadErr = ""

	hash := contentHash(content)
	if hash == w.served {
		// Unchanged content (a touch, a chmod, a ConfigMap update that rewrote identical data, or
		// a bad edit that was reverted): no reload.
		w.haveRejected = false
		return checkWait
	}
	if w.haveRejected && hash == w.rejected {
		return checkWait
	}

	if err := w.validate(content); err != nil {
		if w.ctx.Err() != nil {
			return checkDone
		}
		w.rejected, w.haveRejected = hash, true
		w.log(zapcore.ErrorLevel, "Rejected the changed config file; the collector keeps running its current configuration. Fix the file: it is checked again on its next change",
			zap.String("sha256", hex.EncodeToString(hash[:])), zap.Error(err))
		return checkWait
	}

	// A validator may take a while (it can run a subprocess that reads the file from disk);
	// only signal if the file still holds the bytes that were validated.
	if again, err := os.ReadFile(w.path); err != nil || contentHash(again) != hash {
		return checkAgain
	}

	select {
	case <-w.stop:
		return checkDone
	default:
	}
	if !w.p.trySignal(w.path, content) {
		w.log(zapcore.DebugLevel, "Config file changed; a reload is already pending")
		return checkDone
	}
	w.log(zapcore.InfoLevel, "Config file changed and passed validation; reloading the collector configuration",
		zap.String("sha256", hex.EncodeToString(hash[:])))
	w.watcher(&confmap.ChangeEvent{})
	return checkDone
}

func (w *watch) validate(content []byte) error {
	if err := checkContent(content, w.servedShape); err != nil {
		return err
	}
	if w.p.opts.validator == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(w.ctx, validateTimeout)
	defer cancel()
	return w.p.opts.validator(ctx, w.path, content)
}

// log writes through the provider's logger itself (see pathField) with the path attached.
func (w *watch) log(level zapcore.Level, msg string, fields ...zap.Field) {
	w.p.logger.Log(level, msg, append([]zap.Field{w.pathField}, fields...)...)
}

// close stops the watch and waits for its goroutine, so that the watcher is never called after
// close returns, unless ctx ends first.
func (w *watch) close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		close(w.stop)
		w.cancel()
	})
	select {
	case <-w.done:
		w.p.forget(w)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
