package prw

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-custom/otelcol-custom/internal/prwload"
)

// Environment of the equal-load child process.
const (
	childImplEnv   = "PRW_RSS_CHILD_IMPL"
	childURLEnv    = "PRW_RSS_CHILD_URL"
	childSeriesEnv = "PRW_RSS_CHILD_SERIES"
	childRateEnv   = "PRW_RSS_CHILD_RATE"
	childSecsEnv   = "PRW_RSS_CHILD_SECONDS"
)

// childResult is what the child reports when done.
type childResult struct {
	Samples  int64   `json:"samples"`
	Seconds  float64 `json:"seconds"`
	GCP99Ms  float64 `json:"gc_p99_ms"`
	MaxLagMs float64 `json:"max_lag_ms"`
}

// TestRSSChild is the process measured by TestRSSAtEqualLoad: one exporter fed at a fixed rate of
// samples per second over `series` series, each OTLP request (10 000 points) built when it is due
// and dropped after the export, so that the process holds only what the exporter keeps.
func TestRSSChild(t *testing.T) {
	impl := os.Getenv(childImplEnv)
	if impl == "" {
		t.Skip("helper process of TestRSSAtEqualLoad, not a test on its own")
	}
	series, _ := strconv.Atoi(os.Getenv(childSeriesEnv))
	rate, _ := strconv.Atoi(os.Getenv(childRateEnv))
	secs, _ := strconv.Atoi(os.Getenv(childSecsEnv))
	var exp consumer.Metrics = consumertest.NewNop() // "none": the process without an exporter
	if impl != "none" {
		e := newExporter(t, impl, os.Getenv(childURLEnv))
		defer func() { _ = e.Shutdown(context.Background()) }()
		exp = e
	}

	interval := time.Duration(float64(time.Second) * batchSize / float64(rate))
	start := time.Now()
	gc0 := gcPauses()
	var sent int64
	var maxLag time.Duration
	base := time.Now().Add(-time.Hour)
	for i := 0; time.Since(start) < time.Duration(secs)*time.Second; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else {
			maxLag = max(maxLag, -d)
		}
		offset := (i * batchSize) % series
		round := (i * batchSize) / series
		md := prwload.Gauges(offset, min(batchSize, series-offset))
		setTimestamps(md, pcommon.NewTimestampFromTime(base.Add(time.Duration(round)*time.Second)))
		if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
			t.Fatal(err)
		}
		sent += int64(md.DataPointCount())
	}
	res := childResult{Samples: sent, Seconds: time.Since(start).Seconds(), GCP99Ms: p99(gc0, gcPauses()) * 1e3, MaxLagMs: float64(maxLag.Milliseconds())}
	out, _ := json.Marshal(res)
	fmt.Println("RESULT " + string(out))
}

// procStats reads the resident set size (bytes) and CPU seconds (user+system) of a process.
func procStats(pid int) (rss int64, cpu float64, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the parenthesized command name; utime and stime are fields 14 and 15.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return rss, (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// TestRSSAtEqualLoad runs each exporter alone in a child process at the same fixed rate (one
// both sustain) and samples the child's RSS from /proc: mean and peak after a warm-up, plus the
// child's CPU seconds per million samples. A child without exporter gives the baseline. Run with
// PRW_RSS=1 (run.sh does).
func TestRSSAtEqualLoad(t *testing.T) {
	if os.Getenv("PRW_RSS") == "" {
		t.Skip("equal-load RSS comparison: set PRW_RSS=1 (bench/prw/run.sh does)")
	}
	rate := envInt("PRW_RSS_RATE", 50_000)
	secs := envInt("PRW_RSS_SECONDS", 60)
	warmup := time.Duration(envInt("PRW_RSS_WARMUP_SECONDS", 15)) * time.Second
	tgt := startTarget(t)
	fmt.Printf("### RSS at equal load: %d samples/s for %d s (mean and peak after %s warm-up)\n\n", rate, secs, warmup)
	fmt.Println("| series | exporter | mean RSS (MiB) | peak RSS (MiB) | CPU s / M samples | GC pause p99 (ms) | max send lag (ms) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, series := range []int{10_000, 1_000_000} {
		// "none" is the same process with the data dropped instead of exported: the baseline
		// (runtime, binary, load generator) both exporters' RSS includes.
		for _, impl := range []string{"none", "contrib", "ours"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.v")
			cmd.Env = append(os.Environ(), childImplEnv+"="+impl, childURLEnv+"="+tgt.url,
				childSeriesEnv+"="+strconv.Itoa(series), childRateEnv+"="+strconv.Itoa(rate), childSecsEnv+"="+strconv.Itoa(secs),
				"GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			start := time.Now()
			var rssSum, rssMax int64
			var n int64
			var cpuWarm float64
			var result *childResult
			tick := time.NewTicker(250 * time.Millisecond)
		wait:
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						break wait
					}
					if j, found := strings.CutPrefix(l, "RESULT "); found {
						result = &childResult{}
						_ = json.Unmarshal([]byte(j), result)
					}
				case <-tick.C:
					rss, cpu, err := procStats(cmd.Process.Pid)
					if err != nil || rss == 0 {
						continue
					}
					if time.Since(start) < warmup {
						cpuWarm = cpu
						continue
					}
					rssSum += rss
					rssMax = max(rssMax, rss)
					n++
				}
			}
			tick.Stop()
			if err := cmd.Wait(); err != nil || result == nil || n == 0 {
				t.Fatalf("child %s/%d failed: %v (result %v, %d RSS samples)", impl, series, err, result, n)
			}
			cpuTotal := cmd.ProcessState.UserTime().Seconds() + cmd.ProcessState.SystemTime().Seconds()
			steadySamples := float64(result.Samples) * (result.Seconds - warmup.Seconds()) / result.Seconds
			fmt.Printf("| %d | %s | %.0f | %.0f | %.2f | %.2f | %.0f |\n", series, impl,
				float64(rssSum)/float64(n)/(1<<20), float64(rssMax)/(1<<20),
				(cpuTotal-cpuWarm)/steadySamples*1e6, result.GCP99Ms, result.MaxLagMs)
		}
	}
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}
