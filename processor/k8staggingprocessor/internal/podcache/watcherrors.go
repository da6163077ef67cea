package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// forbiddenError explains a missing RBAC permission and how to grant it.
type forbiddenError struct {
	Verb, Group, Resource string
	Err                   error
}

func (e *forbiddenError) Error() string {
	return fmt.Sprintf("the Kubernetes API server forbids %q on %q (API group %q): add to the collector's ClusterRole the rule "+
		"{apiGroups: [%q], resources: [%q], verbs: [\"get\", \"list\", \"watch\"]} and bind it to the collector's service account "+
		"(server said: %v)", e.Verb, e.Resource, e.Group, e.Group, e.Resource, e.Err)
}

func (e *forbiddenError) Unwrap() error { return e.Err }

// explain turns a forbidden answer into a forbiddenError naming the rule to add.
func explain(err error, verb, group, resource string) error {
	if err == nil {
		return nil
	}
	var status interface{ Status() metav1.Status }
	if errors.As(err, &status) && status.Status().Reason == metav1.StatusReasonForbidden {
		return &forbiddenError{Verb: verb, Group: group, Resource: resource, Err: err}
	}
	return err
}

// reportedError marks an error already counted and logged where it happened.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// watchErrors is where a cache's list, watch and get failures go: it keeps the last one (for
// WaitForSync), logs them without flooding, and tells the consumers' listeners (self-metrics).
type watchErrors struct {
	logger *zap.Logger
	last   atomic.Pointer[error]

	logMu       sync.Mutex
	lastLogged  string
	lastLogTime time.Time

	listenersMu sync.Mutex
	listeners   map[int]func(error)
	nextID      int
}

func newWatchErrors(logger *zap.Logger) *watchErrors {
	return &watchErrors{logger: logger, listeners: map[int]func(error){}}
}

// failed reports a list or watch failure as it happens (the reflector retries some of them, such
// as a refused connection while the API server is down, without returning them) and marks it
// reported. Cancellation at shutdown is not a failure.
func (w *watchErrors) failed(err error, verb, group, resource string) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	err = explain(err, verb, group, resource)
	w.report(fmt.Errorf("%s %s: %w", verb, resource, err))
	return &reportedError{err: err}
}

func (w *watchErrors) report(err error) {
	w.last.Store(&err)
	if w.shouldLog(err) {
		var forbidden *forbiddenError
		if errors.As(err, &forbidden) {
			w.logger.Error("k8s_tagging cannot read Kubernetes metadata; data stays untagged until the permission is granted", zap.Error(err))
		} else {
			w.logger.Warn("k8s_tagging watch failed; tagging continues from the cache and the watch is retried", zap.Error(err))
		}
	}
	w.listenersMu.Lock()
	for _, l := range w.listeners {
		l(err)
	}
	w.listenersMu.Unlock()
}

// shouldLog limits logging to one line per distinct error per 30 s: while the API server is down
// the reflector retries every second or so.
func (w *watchErrors) shouldLog(err error) bool {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	msg := err.Error()
	if msg == w.lastLogged && time.Since(w.lastLogTime) < 30*time.Second {
		return false
	}
	w.lastLogged, w.lastLogTime = msg, time.Now()
	return true
}

// lastError returns the most recent failure, nil if none.
func (w *watchErrors) lastError() error {
	if p := w.last.Load(); p != nil {
		return *p
	}
	return nil
}

func (w *watchErrors) addListener(f func(error)) int {
	w.listenersMu.Lock()
	defer w.listenersMu.Unlock()
	w.nextID++
	w.listeners[w.nextID] = f
	return w.nextID
}

func (w *watchErrors) removeListener(id int) {
	w.listenersMu.Lock()
	defer w.listenersMu.Unlock()
	delete(w.listeners, id)
}
