#!/usr/bin/env bash
# Turns the consoles of a kernel-matrix run (test/kernels/run.sh) into
#   OUT/results.tsv   release, suite, test (or signal:<name>), PASS|FAIL|SKIP, seconds
#   OUT/summary.tsv   release, PASS|FAIL, guest uptime at /init, guest uptime at the end, VM wall seconds,
#                     QEMU CPU seconds, guest clock minus host clock at the end (s), suites as name=STATUS/seconds
# and prints, per kernel, the summary and — for a failed kernel — the failing tests with their error
# lines, or the console tail when the run did not finish (panic, hang, timeout).
# Usage: test/kernels/results.sh OUT
set -euo pipefail
out=$1
suites=${SUITES:-probes,cgroupfs,ebpfreceiver,collector}
: >"$out/results.tsv"
: >"$out/summary.tsv"
while read -r _ release; do
  log=$out/$release.log
  # The serial console ends lines with CR LF.
  sed -i 's/\r$//' "$log"
  read -r host_start host_end rc cpu <"$out/$release.wall" 2>/dev/null || { host_start=0 host_end=0 rc=- cpu=-; }
  awk -v rel="$release" -v suites="$suites" -v host_start="$host_start" -v host_end="$host_end" -v cpu="${cpu:--}" \
    -v results="$out/results.tsv" -v summary="$out/summary.tsv" '
    function field(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
    BEGIN { boot = "-"; done = "-"; drift = "-" }
    /KERNEL-MATRIX BOOT / { boot = field("uptime") }
    /KERNEL-MATRIX START / { suite = field("suite") }
    /^ *--- (PASS|FAIL|SKIP): / {
      st = $2; sub(":", "", st); secs = $4; gsub(/[()s]/, "", secs)
      printf "%s\t%s\t%s\t%s\t%s\n", rel, suite, $3, st, secs >> results
    }
    /KERNEL-MATRIX SIGNAL / {
      printf "%s\tcollector\tsignal:%s\t%s\t-\n", rel, field("signal"), field("status") >> results
    }
    /KERNEL-MATRIX RESULT / { s = field("suite"); res[s] = field("status"); secs_of[s] = field("seconds") }
    # The guest clock against the host clock (the guest starts from the host time via the RTC): a guest
    # whose clock runs fast or slow would stretch or shrink every deadline of the tests.
    /KERNEL-MATRIX DONE / { done = field("uptime"); drift = field("date") - host_end }
    END {
      status = (done == "-") ? "FAIL" : "PASS"
      n = split(suites, want, ",")
      list = ""
      for (i = 1; i <= n; i++) {
        s = want[i]
        r = (s in res) ? res[s] "/" secs_of[s] "s" : "MISSING"
        if (r !~ /^PASS/) status = "FAIL"
        list = list (i > 1 ? " " : "") s "=" r
      }
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rel, status, boot, done, host_end - host_start, cpu, drift, list >> summary
    }' "$log"
done <"$out/kernels.list"

while IFS=$'\t' read -r release status boot done wall cpu drift list; do
  echo "kernels: $release $status: /init at ${boot} s, suites done at ${done} s guest uptime; VM wall ${wall} s, QEMU CPU ${cpu} s; guest clock ${drift} s off; $list"
  [ "$status" = PASS ] && continue
  log=$out/$release.log
  if ! grep -q 'KERNEL-MATRIX DONE' "$log"; then
    echo "kernels: $release did not finish (panic, hang or timeout); console tail:"
    tail -n 60 "$log" | sed 's/^/    /'
  fi
  # Each failed test's output (from its "=== RUN" to its "--- FAIL", at most 40 lines) and each
  # failed suite's output that is not go test's (the collector check).
  awk '
    /^=== (RUN|CONT) / { start[$3] = NR }
    { line[NR] = $0 }
    /^ *--- FAIL: / {
      from = ($3 in start) ? start[$3] : NR
      if (NR - from > 40) { from = NR - 40; print "    [...]" }
      for (i = from; i <= NR; i++) print "    " line[i]
    }
    /KERNEL-MATRIX START .*suite=collector/ { c = NR }
    /KERNEL-MATRIX RESULT .*suite=collector status=FAIL/ { for (i = c; i <= NR; i++) print "    " substr(line[i], 1, 300) }
  ' "$log" | head -n 200
done <"$out/summary.tsv"
