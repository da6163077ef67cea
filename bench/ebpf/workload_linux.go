//go:build linux

package main

// The workload: child processes of this binary in roles (ping-pong pairs,
// TCP connect loops, page-allocation churn) that run until a deadline and
// print their counts.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-custom/otelcol-custom/internal/ebpftest"
)

const roleEnv = "EBPFBENCH_ROLE"

type workloadSpec struct {
	pairs, tcp, mem int
	pinCPU          string // taskset CPU list for every worker; "" = not pinned
}

type rates struct{ roundTrips, conns, mib float64 }

// runWorkload runs all workers as child processes for d and sums their rates.
func runWorkload(d time.Duration, load workloadSpec) rates {
	type worker struct {
		cmd  *exec.Cmd
		out  io.ReadCloser
		kind string
	}
	var workers []worker
	deadline := strconv.FormatInt(time.Now().Add(d).UnixNano(), 10)
	start := func(kind string, extra []*os.File, args ...string) {
		var wrapper []string
		if load.pinCPU != "" {
			wrapper = []string{"taskset", "-c", load.pinCPU}
		}
		cmd := ebpftest.RoleCommand(roleEnv, kind, wrapper, append([]string{deadline}, args...)...)
		cmd.ExtraFiles = extra
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fail("%v", err)
		}
		if err := cmd.Start(); err != nil {
			fail("starting %s: %v", kind, err)
		}
		workers = append(workers, worker{cmd: cmd, out: out, kind: kind})
	}
	for range load.pairs {
		var p1, p2 [2]int
		if err := syscall.Pipe2(p1[:], syscall.O_CLOEXEC); err != nil {
			fail("%v", err)
		}
		if err := syscall.Pipe2(p2[:], syscall.O_CLOEXEC); err != nil {
			fail("%v", err)
		}
		files := func(fds ...int) []*os.File {
			var fs []*os.File
			for _, fd := range fds {
				fs = append(fs, os.NewFile(uintptr(fd), "pipe"))
			}
			return fs
		}
		ping, pong := files(p1[1], p2[0]), files(p1[0], p2[1])
		start("ping", ping)
		start("pong", pong)
		for _, f := range append(ping, pong...) {
			f.Close()
		}
	}
	for range load.tcp {
		start("tcp", nil)
	}
	for range load.mem {
		start("mem", nil)
	}
	var r rates
	for _, w := range workers {
		line, _ := bufio.NewReader(w.out).ReadString('\n')
		_ = w.cmd.Wait()
		v, _ := strconv.ParseFloat(strings.TrimSpace(line), 64)
		switch w.kind {
		case "ping":
			r.roundTrips += v
		case "tcp":
			r.conns += v
		case "mem":
			r.mib += v
		}
	}
	secs := d.Seconds()
	return rates{roundTrips: r.roundTrips / secs, conns: r.conns / secs, mib: r.mib / secs}
}

// runRole is a workload process; it prints its count when the deadline passes.
func runRole(role string, args []string) int {
	ns, _ := strconv.ParseInt(args[0], 10, 64)
	deadline := time.Unix(0, ns)
	var count uint64
	b := make([]byte, 1)
	switch role {
	case "ping": // fd 3 = write end to pong, fd 4 = read end from pong
		for time.Now().Before(deadline) {
			for range 64 {
				if _, err := syscall.Write(3, b); err != nil {
					return 1
				}
				if _, err := syscall.Read(4, b); err != nil {
					return 1
				}
			}
			count += 64
		}
		syscall.Close(3)
	case "pong": // fd 3 = read end from ping, fd 4 = write end to ping
		for {
			n, err := syscall.Read(3, b)
			if err != nil || n == 0 {
				return 0
			}
			if _, err := syscall.Write(4, b); err != nil {
				return 0
			}
		}
	case "tcp":
		srv, err := ebpftest.NewDiscardServer()
		if err != nil {
			return 1
		}
		payload := make([]byte, 1024)
		for time.Now().Before(deadline) {
			c, err := net.Dial("tcp4", srv.Addr())
			if err != nil {
				continue
			}
			_, _ = c.Write(payload)
			c.Close()
			count++
		}
	case "mem":
		const size = 4 << 20
		for time.Now().Before(deadline) {
			m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
			if err != nil {
				return 1
			}
			for i := 0; i < size; i += 4096 {
				m[i] = 1
			}
			_ = syscall.Munmap(m)
			count += 4
		}
	}
	fmt.Println(count)
	return 0
}
