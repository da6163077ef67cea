#!/usr/bin/env bash
# Markdown table of a kernel-matrix run: one row per test (subtests included) and collector signal,
# one column per kernel, from OUT/results.tsv and OUT/kernels.list (test/kernels/run.sh writes both;
# run.sh with HOST=1 adds the host kernel as a column). Used for the "Supported kernels" section of
# the README.
# Usage: test/kernels/table.sh [-summary] [OUT]     (OUT defaults to _build/kernels)
#   -summary: one row per kernel instead: boot time, each suite's result and time, the VM's wall time.
#   SUBTESTS: the tests whose subtests get rows of their own (the modes and signals of the kernel-facing
#   tests); other tests show as one row.
set -euo pipefail
summary=
[ "${1:-}" = -summary ] && { summary=1; shift; }
out=${1:-_build/kernels}
subtests=${SUBTESTS:-'^(TestLoadAttachAll|Test[A-Za-z]*GroundTruth|TestProcessExitCountedOnce)/'}
[ -s "$out/results.tsv" ] || { echo "table: no $out/results.tsv; run make test-kernels first" >&2; exit 1; }
if [ -n "$summary" ]; then
  # summary.tsv: release, status, boot, done, wall, cpu, drift, "suite=STATUS/secs ..."
  awk -F'\t' '
    FNR == NR { series[$2] = $1; next }
    FNR == 1 {
      n = split($8, sv, " ")
      printf "| kernel | boot to /init |"
      for (i = 1; i <= n; i++) { split(sv[i], kv, "="); printf " %s |", kv[1] }
      printf " wall |\n|---|---:|"
      for (i = 1; i <= n; i++) printf "---|"
      printf "---:|\n"
    }
    {
      n = split($8, sv, " ")
      boot = (series[$1] == "host") ? "—" : sprintf("%.0f s", $3)
      printf "| %s `%s` | %s |", series[$1], $1, boot
      for (i = 1; i <= n; i++) { split(sv[i], kv, "="); split(kv[2], r, "/"); printf " %s %s |", (r[1] == "PASS" ? "pass" : "**" r[1] "**"), r[2] }
      printf " %s s |\n", $5
    }' "$out/kernels.list" "$out/summary.tsv"
  exit 0
fi
awk -F'\t' -v subtests="$subtests" '
  FNR == NR { label[$2] = $1 " (`" $2 "`)"; order[++nk] = $2; next }
  $3 ~ /\// && $3 !~ subtests { next }
  {
    key = $2 "\t" $3
    if (!(key in seen)) { seen[key] = 1; rows[++nr] = key }
    cell[key, $1] = $4
  }
  END {
    printf "| suite | test |"
    for (k = 1; k <= nk; k++) printf " %s |", label[order[k]]
    printf "\n|---|---|"
    for (k = 1; k <= nk; k++) printf "---|"
    printf "\n"
    for (r = 1; r <= nr; r++) {
      split(rows[r], f, "\t")
      printf "| %s | %s |", f[1], f[2]
      for (k = 1; k <= nk; k++) {
        v = cell[rows[r], order[k]]
        printf " %s |", (v == "PASS" ? "pass" : v == "FAIL" ? "**FAIL**" : v == "SKIP" ? "skip" : "n/a")
      }
      printf "\n"
    }
  }' "$out/kernels.list" "$out/results.tsv"
