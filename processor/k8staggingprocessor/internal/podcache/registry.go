package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"
)

// registry holds the process-wide caches. Processors register their needs when they are created
// and start the cache on Start, so by the time the first processor starts, every processor of
// the pipelines built with it has contributed to what the cache keeps (the collector creates all
// components before starting any).
var registry = struct {
	sync.Mutex
	entries map[string]*entry
	gen     int
}{entries: map[string]*entry{}}

type entry struct {
	key      string
	settings Settings
	needs    Needs
	newCl    func() (Clients, error)
	logger   *zap.Logger

	leases  int
	started bool
	cache   *Cache
}

// Lease is one consumer's hold on a shared cache.
type Lease struct {
	e        *entry
	released bool
	listener int
}

// Register records a consumer of the cache for settings. newClients is called once, when the
// cache first starts.
func Register(settings Settings, needs Needs, newClients func() (Clients, error), logger *zap.Logger) *Lease {
	registry.Lock()
	defer registry.Unlock()
	key := settings.key()
	e := registry.entries[key]
	if e != nil && e.started && !e.needs.covers(needs) {
		// A consumer that joins a running cache and needs more than it keeps gets its own
		// cache (this happens only when components are added after start).
		registry.gen++
		key = fmt.Sprintf("%s#%d", key, registry.gen)
		e = nil
	}
	if e == nil {
		e = &entry{key: key, settings: settings, newCl: newClients, logger: logger}
		registry.entries[key] = e
	}
	if !e.started {
		e.needs = e.needs.merged(needs)
	}
	e.leases++
	return &Lease{e: e}
}

// Start starts the shared cache if this is its first started lease and returns it.
func (l *Lease) Start() (*Cache, error) {
	registry.Lock()
	defer registry.Unlock()
	if l.released {
		return nil, fmt.Errorf("lease already released")
	}
	e := l.e
	if !e.started {
		settings, err := e.settings.withNodeFromEnv()
		if err != nil {
			return nil, err
		}
		e.settings = settings
		clients, err := e.newCl()
		if err != nil {
			return nil, err
		}
		e.cache = newCache(e.settings, e.needs, clients, e.logger)
		e.logger.Info("k8s_tagging starting shared Kubernetes cache", zap.String("pods", e.settings.describe()), zap.Int("consumers", e.leases))
		e.cache.start()
		e.started = true
	}
	return e.cache, nil
}

// OnError registers f to be called on every watch error of the cache (for self-metrics).
func (l *Lease) OnError(f func(error)) {
	registry.Lock()
	c := l.e.cache
	registry.Unlock()
	if c != nil {
		l.listener = c.failures.addListener(f)
	}
}

// Release drops the consumer; the last release stops the cache.
func (l *Lease) Release() {
	registry.Lock()
	if l.released {
		registry.Unlock()
		return
	}
	l.released = true
	e := l.e
	e.leases--
	if e.cache != nil && l.listener != 0 {
		e.cache.failures.removeListener(l.listener)
	}
	var stop *Cache
	if e.leases == 0 {
		delete(registry.entries, e.key)
		stop = e.cache
	}
	registry.Unlock()
	if stop != nil {
		stop.stop()
	}
}

// WaitForSync blocks until the cache has synced or ctx ends; on timeout it returns the last
// watch error (for example a missing RBAC permission) if there was one.
func WaitForSync(ctx context.Context, c *Cache) error {
	select {
	case <-c.Synced():
		return nil
	case <-ctx.Done():
		if err := c.failures.lastError(); err != nil {
			return fmt.Errorf("Kubernetes metadata not synced: %w", err)
		}
		return fmt.Errorf("Kubernetes metadata not synced: %w", ctx.Err())
	}
}

// ActiveCaches is the number of running caches (tests use it to check sharing and cleanup).
func ActiveCaches() int {
	registry.Lock()
	defer registry.Unlock()
	n := 0
	for _, e := range registry.entries {
		if e.started {
			n++
		}
	}
	return n
}
