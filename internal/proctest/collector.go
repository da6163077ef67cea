package proctest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RepoPath resolves a path in the repository from the test's working directory (the package
// directory under `go test`). runtime.Caller can't locate it because builds use -trimpath.
func RepoPath(t testing.TB, parts ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "builder-config.yaml")); err == nil {
			return filepath.Join(append([]string{dir}, parts...)...)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no repository root (a directory with builder-config.yaml) above the working directory")
		}
		dir = parent
	}
}

// Binary returns the collector binary under test: $OTELCOL_CUSTOM_BINARY, else _build/otelcol-custom.
// A missing binary fails the test rather than skipping it: the binary is what is tested.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_CUSTOM_BINARY")
	if bin == "" {
		bin = RepoPath(t, "_build", "otelcol-custom")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("collector binary %s not found (%v): run `make build`", bin, err)
	}
	return bin
}

// Collector is a collector process started by a test.
type Collector struct {
	Cmd    *exec.Cmd
	Output *Buffer
	exited chan struct{}
	err    error
}

// Start runs bin with args and env (added to this process's environment) and stops it with
// SIGTERM when the test ends, logging the tail of its output if the test failed.
func Start(t testing.TB, bin string, env []string, args ...string) *Collector {
	t.Helper()
	c := &Collector{Output: &Buffer{}, exited: make(chan struct{})}
	c.Cmd = exec.Command(bin, args...)
	c.Cmd.Env = append(os.Environ(), env...)
	c.Cmd.Stdout, c.Cmd.Stderr = c.Output, c.Output
	if err := c.Cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		c.err = c.Cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.Stop(t)
		if t.Failed() {
			t.Logf("collector %v output (tail):\n%s", args, Tail(c.Output.String(), 8000))
		}
	})
	return c
}

// Exited is closed when the process has exited; Err then tells how.
func (c *Collector) Exited() <-chan struct{} { return c.exited }

// Err is the process's exit error; only meaningful once Exited is closed.
func (c *Collector) Err() error { return c.err }

// Stop sends SIGTERM and waits up to 30 s for the exit; a collector that needs SIGKILL fails the test.
func (c *Collector) Stop(t testing.TB) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.Cmd.Process.Kill()
		<-c.exited
		t.Errorf("collector did not stop within 30s of SIGTERM")
	}
}

// WaitReady waits for the collector's "Everything is ready" log line, failing early if it exits.
func (c *Collector) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(c.Output.String(), "Everything is ready") {
		select {
		case <-c.exited:
			t.Fatalf("collector exited before becoming ready (%v):\n%s", c.err, Tail(c.Output.String(), 8000))
		case <-deadline:
			t.Fatalf("collector not ready after %s:\n%s", timeout, Tail(c.Output.String(), 8000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Running fails the test when the collector has exited.
func (c *Collector) Running(t testing.TB) {
	t.Helper()
	select {
	case <-c.exited:
		t.Fatalf("collector exited (%v):\n%s", c.err, Tail(c.Output.String(), 8000))
	default:
	}
}

// RSSBytes reads the process's resident set size (VmRSS) from /proc.
func (c *Collector) RSSBytes() (int64, error) {
	return StatusBytes(c.Cmd.Process.Pid, "VmRSS")
}

// StatusBytes reads a kB field of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, ...) in bytes.
func StatusBytes(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Tail returns the last n bytes of s, marked when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// FreePort reserves a loopback port number; the listener is closed so the collector can bind it.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// Goroutines reads a collector's goroutine count from its pprof extension on 127.0.0.1:pprofPort.
func Goroutines(ctx context.Context, pprofPort int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", pprofPort), nil)
	if err != nil {
		return 0, err
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the pprof goroutine page: %w", err)
	}
	m := goroutineTotal.FindStringSubmatch(line)
	if m == nil {
		return 0, fmt.Errorf("unexpected pprof goroutine page: %q", line)
	}
	return strconv.Atoi(m[1])
}
