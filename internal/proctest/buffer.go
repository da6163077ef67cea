// Package proctest holds helpers for tests that run collector processes.
package proctest

import (
	"bytes"
	"sync"
)

// Buffer collects a child process' output: exec's copier goroutines write while the test reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
