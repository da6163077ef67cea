package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"sync"
	"time"
)

// tokenBucket limits samples per second across all shards. A request takes all its tokens at once
// and may drive the bucket negative; the next request then waits until the debt is repaid. This
// keeps the long-run rate exact without splitting requests. The bucket holds at most one second of
// tokens, the allowed burst.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newTokenBucket(rate float64) *tokenBucket {
	return &tokenBucket{rate: rate, tokens: rate, last: time.Now(), now: time.Now}
}

// reserve takes n tokens and returns how long the caller must wait before sending.
func (b *tokenBucket) reserve(n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.tokens -= float64(n)
	return wait
}

// wait blocks until n samples may be sent; a nil bucket never blocks.
func (b *tokenBucket) wait(ctx context.Context, n int) error {
	if b == nil {
		return nil
	}
	d := b.reserve(n)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
