#!/usr/bin/env bash
# clang's BPF output is not byte-reproducible across checkout paths: the order of BTF types and
# strings depends on the length of the absolute path of the source (same path → same bytes). So
# after `make generate`, a regenerated object that differs from the committed one only in that
# order is put back, and only a real change (instructions, relocations or BTF types) stays as a
# diff for check-generated to report.
set -euo pipefail
cd "$(dirname "$0")/.."
objdump=$(command -v llvm-objdump-19 || command -v llvm-objdump)
# semantic OBJ: disassembly with relocations, plus the BTF types without their ids, sorted
semantic() {
  "$objdump" -d -r "$1" | tail -n +3
  bpftool btf dump file "$1" format raw | sed 's/^\[[0-9]*\] //' | sort
}
for obj in $(git diff --name-only -- '*.o'); do
  committed=$(mktemp)
  git show "HEAD:$obj" > "$committed"
  if cmp -s <(semantic "$committed") <(semantic "$obj"); then
    git checkout -- "$obj"
    echo "bpf: $obj regenerated equivalent (BTF order differs only by checkout path)"
  else
    echo "bpf: $obj changed: instructions, relocations or BTF types differ from the committed object"
  fi
  rm -f "$committed"
done
