#!/bin/sh
# The collector suite of the kernel matrix: runs the built distribution with every eBPF signal on
# (test/kernels/collector.yaml: metrics, logs and spans, each to its own file exporter), makes TCP
# connections and short-lived processes, and checks that each signal arrives, and the TCP edges
# (tcp.edges) among the metrics. Prints
#   KERNEL-MATRIX SIGNAL kernel=<release> signal=metrics|logs|traces|edges status=PASS|FAIL batches=<n>
# and exits 0 only when all four arrived within the deadline. Busybox applets suffice (the VM's /init
# runs it; test/kernels/run.sh HOST=1 runs it on the host with the initramfs's busybox).
# Usage: collector-check.sh COLLECTOR CONFIG WORKDIR [DEADLINE_SECONDS]
collector=$1 config=$2 dir=$3 deadline=${4:-120}
kernel=$(uname -r)
rm -rf "$dir" && mkdir -p "$dir"
KM_COLLECTOR_DIR=$dir "$collector" --config "$config" >"$dir/stderr" 2>&1 &
pid=$!
# A TCP echo server on the loopback (busybox nc: -ll keeps listening); each connection to it is a
# client and a server span and TCP metrics.
port=47631
nc -ll -p $port -e /bin/cat >/dev/null 2>&1 &
server=$!
ok=0
i=0
while [ $i -lt "$deadline" ]; do
  echo ping | timeout 5 nc 127.0.0.1 $port >/dev/null 2>&1
  /bin/true # a process exec and exit: log records
  sleep 1
  ok=1
  for s in metrics logs traces; do
    grep -q '"resource' "$dir/$s.json" 2>/dev/null || ok=0
  done
  grep -q 'ebpf.tcp.edge.io' "$dir/metrics.json" 2>/dev/null || ok=0
  [ $ok = 1 ] && break
  kill -0 $pid 2>/dev/null || break
  i=$((i + 1))
done
kill $server 2>/dev/null
kill $pid 2>/dev/null
wait $pid
for s in metrics logs traces; do
  n=$(grep -c '"resource' "$dir/$s.json" 2>/dev/null)
  st=FAIL
  [ "${n:-0}" -gt 0 ] && st=PASS
  echo "KERNEL-MATRIX SIGNAL kernel=$kernel signal=$s status=$st batches=${n:-0}"
done
n=$(grep -c 'ebpf.tcp.edge.io' "$dir/metrics.json" 2>/dev/null)
st=FAIL
[ "${n:-0}" -gt 0 ] && st=PASS
echo "KERNEL-MATRIX SIGNAL kernel=$kernel signal=edges status=$st batches=${n:-0}"
if [ $ok != 1 ]; then
  echo "collector stderr (tail):"
  tail -n 40 "$dir/stderr"
  exit 1
fi
