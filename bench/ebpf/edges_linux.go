//go:build linux

package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"
)

var (
	edgesMode = flag.Bool("edges", false, "instead of the phases: what tcp.edges costs, the receiver with TCP only "+
		"and edges off vs on (collection_interval 1s) under the TCP loops, with -edge-conns idle connections "+
		"held open; then the edge table's kernel memory per 10,000 edges")
	edgeConns = flag.Int("edge-conns", 1000, "idle open loopback connections held during -edges (visited by the edge iterator every interval)")
)

// measureEdges runs the TCP load against the receiver with tcp.edges off and on, in alternating
// rounds, and prints kernel ns per connection, per-program costs and the collector's CPU and RSS
// as ratios; then fills a real edge table with 10,000 edges and reads its memory from the kernel.
func measureEdges(d time.Duration, load workloadSpec, rounds int) {
	conns := holdConnections(*edgeConns)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	tcpOnly := func(edges bool) func(*ebpfreceiver.Config) {
		return func(c *ebpfreceiver.Config) {
			c.CollectionInterval = time.Second
			c.Scheduler.Enabled, c.Memory.Enabled = false, false
			c.TCP.Edges.Enabled = edges
		}
	}
	load = workloadSpec{tcp: max(load.tcp, 1)}
	var off, on []*phaseResult
	for i := range max(rounds/4, 1) {
		off = append(off, measure(fmt.Sprintf("tcp, edges off (round %d)", i+1), d, load, startReceiver(tcpOnly(false))))
		on = append(on, measure(fmt.Sprintf("tcp, edges on (round %d)", i+1), d, load, startReceiver(tcpOnly(true))))
	}
	fmt.Printf("\n## tcp.edges: %d TCP loops (connect, write, close), %d idle connections (%d sockets) held open, collection_interval 1s\n\n",
		load.tcp, len(conns)/2, len(conns))
	fmt.Println("| phase | connections/s | kernel ns per connection (all TCP programs) | collector CPU % of one core | RSS MiB |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	var sums [2][4]float64
	for i, set := range [][]*phaseResult{off, on} {
		for _, r := range set {
			perConn := r.runsPerSec() * r.avgNsPerRun() / r.rate.conns
			fmt.Printf("| %s | %.0f | %.0f | %.2f | %.1f |\n", r.name, r.rate.conns, perConn, r.cpuPercent, r.rssMiB)
			sums[i][0] += r.rate.conns
			sums[i][1] += perConn
			sums[i][2] += r.cpuPercent
			sums[i][3] += r.rssMiB
		}
	}
	fmt.Printf("\nRatios on/off (means of the rounds): connections/s %.3f, kernel ns per connection %.2f, collector CPU %.2f, RSS %.2f\n",
		sums[1][0]/sums[0][0], sums[1][1]/sums[0][1], sums[1][2]/sums[0][2], sums[1][3]/sums[0][3])
	fmt.Println("\nPer program, last round with edges on:")
	fmt.Println("\n| program | runs/s | avg ns/run |")
	fmt.Println("| --- | ---: | ---: |")
	for _, p := range on[len(on)-1].programs {
		if p.runsPerSec > 0 {
			fmt.Printf("| %s | %.0f | %.1f |\n", p.name, p.runsPerSec, p.nsPerRun)
		}
	}
	edgeTableMemory(10000)
}

// holdConnections opens n idle loopback connections (both ends in this process).
func holdConnections(n int) []net.Conn {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			fail("holding connections: %v", err)
		}
		_, _ = c.Write([]byte("x"))
		conns = append(conns, c, <-accepted)
	}
	_ = ln.Close()
	return conns
}

// edgeTableMemory starts the receiver with room for n edges, fills its edge table from user space
// with n distinct edges and prints the kernel's accounting of the map's memory (memlock in the map
// fd's fdinfo) before and after.
func edgeTableMemory(n int) {
	a := runReceiver(func(c *ebpfreceiver.Config) {
		c.Scheduler.Enabled, c.Memory.Enabled = false, false
		c.TCP.Edges.Enabled, c.TCP.Edges.MaxEdges = true, n+1024 // room beside the edges of real traffic
	})
	defer a.stop()
	m := findMap("tcp_edges")
	if m == nil {
		fail("edge table tcp_edges not found among the loaded maps")
	}
	defer m.Close()
	before := memlock(m)
	key, value := make([]byte, m.KeySize()), make([]byte, m.ValueSize())
	for i := range n {
		// cgroup id (first 8 bytes) far above real ids, so these never collide with real edges.
		for b := range 8 {
			key[b] = byte(uint64(1<<62+i) >> (8 * b))
		}
		if err := m.Update(key, value, ebpf.UpdateNoExist); err != nil {
			fail("inserting edge %d: %v", i, err)
		}
	}
	after := memlock(m)
	fmt.Printf("\nEdge table (key %d B, value %d B): %.2f MiB before, %.2f MiB after %d edges: %.0f bytes per edge, "+
		"%.2f MiB per 10,000 edges (kernel's memlock accounting, /proc/self/fdinfo).\n",
		m.KeySize(), m.ValueSize(), float64(before)/(1<<20), float64(after)/(1<<20), n,
		float64(after-before)/float64(n), float64(after-before)/float64(n)*10000/(1<<20))
}

func findMap(name string) *ebpf.Map {
	var id ebpf.MapID
	for {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			return nil
		}
		id = next
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		if info, err := m.Info(); err == nil && info.Name == name {
			return m
		}
		m.Close()
	}
}

func memlock(m *ebpf.Map) uint64 {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(m.FD()))
	if err != nil {
		fail("%v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "memlock:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	fail("no memlock in the map's fdinfo")
	return 0
}
