#!/usr/bin/env bash
# The kernel matrix: boots each kernel of the matrix under QEMU (software emulation) with the
# initramfs of test/kernels/initramfs.sh, which runs the receiver's kernel-facing test suites and the
# built collector with every eBPF signal on, and reports per kernel, suite and test.
#
# Usage (from the repository root; make test-kernels runs it):
#   test/kernels/run.sh
# Environment:
#   KERNELS="5.10 6.1 6.12"   series to boot (KERNEL=6.1 is the same for one series)
#   KERNEL_6_1=6.1.0-47       a given ABI instead of the newest point release (also KERNEL_5_10, KERNEL_6_12)
#   RUN='TestOOM|TestLoad'    go test -run filter inside the VMs ("" = every test)
#   SUITES=probes,cgroupfs,ebpfreceiver,collector   suites inside the VMs
#   KERNEL_JOBS=2             VMs at once (each takes one host core: single-threaded TCG)
#   KERNEL_TIMEOUT=600        seconds before a VM is killed (a failure that prints the console tail)
#   KERNEL_OUT=_build/kernels where the consoles (<release>.log) and results.tsv go
#   COLLECTOR=_build/otelcol-custom   the built distribution (make build)
#   TIME_SCALE=8              EBPFRECEIVER_TEST_TIME_SCALE inside the VMs (multiplies the tests' wait bounds)
#   HOST=1                    also run the same suites natively on the running kernel after the VMs (a
#                             column "host" in the table; make test-unit covers the host otherwise)
# Exit status 0 only when every suite passed on every kernel.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=test/kernels
out=${KERNEL_OUT:-_build/kernels}
collector=${COLLECTOR:-_build/otelcol-custom}
jobs=${KERNEL_JOBS:-2}
vm_timeout=${KERNEL_TIMEOUT:-900}
test_timeout=${KM_TIMEOUT:-12m}
# Multiplies every wait bound of the receiver's tests (emulation runs the guest 10-50x slower).
time_scale=${TIME_SCALE:-8}
# Kernel arguments for a guest under software emulation on a loaded host, each for a failure seen here:
#   no_timer_check   5.10 and 6.1 panicked at boot ("IO-APIC + timer doesn't work!") when the emulated
#                    timer ticks arrived late on a busy host
#   tsc=unstable     the guest's TSC is the host's raw TSC under TCG, and its calibration against the
#                    emulated PIT fails on a busy host; in one run a 6.12 guest's clock ran at about twice
#                    the host's rate (this VM host itself runs with tsc=unstable). The guest then keeps
#                    time with the HPET; results.sh reports each guest clock's offset from the host's
#   initcall_blacklist=jent_mod_init   6.12's jitter-entropy self-test spins on timing measurements for
#                    minutes under emulation (soft lockups at boot); nothing here needs it
emulation_args="no_timer_check tsc=unstable initcall_blacklist=jent_mod_init"
read -r -a series <<<"${KERNEL:-${KERNELS:-5.10 6.1 6.12}}"
mkdir -p "$out"
start=$(date +%s)

mapfile -t kernels < <("$here/fetch.sh" "${series[@]}")
t0=$(date +%s)
suites=${SUITES:-probes,cgroupfs,ebpfreceiver,collector}
case ",$suites," in *,collector,*) ;; *) collector= ;; esac
"$here/initramfs.sh" "$out/initramfs.cpio" $collector
echo "kernels: initramfs $(du -m "$out/initramfs.cpio" | cut -f1) MiB built in $(($(date +%s) - t0)) s"

# boot RELEASE DIR: one VM; its console goes to $out/RELEASE.log; RELEASE.wall gets the host's clock
# at start and end, timeout's exit status and the CPU seconds QEMU used (one host thread runs the
# guest under single-threaded TCG, so on an idle host the wall time approaches that figure).
boot() {
  local release=$1 dir=$2 log=$out/$1.log t rc=0 cpu
  t=$(date +%s)
  # Settings measured stable under TCG: single-threaded TCG (multi-threaded TCG hung or oopsed while
  # the kernel patched its text at attach/detach), no CMPXCHG16B (6.12 crashes at boot with it).
  # --foreground keeps QEMU in this script's process group: stopping the script stops the VMs.
  timeout --foreground -k 10 "$vm_timeout" qemu-system-x86_64 -machine q35 \
    -accel tcg,thread=single -cpu qemu64,-cx16 -m 2G -smp 2 -nographic -no-reboot -nic none \
    -kernel "$dir/vmlinuz" -initrd "$out/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 loglevel=5 $emulation_args KM_SUITES=$suites KM_RUN=${RUN:-} KM_TIMEOUT=$test_timeout EBPFRECEIVER_TEST_TIME_SCALE=$time_scale" \
    </dev/null >"$log" 2>&1 || rc=$?
  # This function runs in its own subshell: its children's CPU time (second line of `times`, as
  # "XmY.YYYs user, sys") is QEMU's. `times` in a pipe or $(…) would report that subshell's instead.
  times >"$out/$release.times"
  cpu=$(tail -n1 "$out/$release.times" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
  echo "$t $(date +%s) $rc $cpu" >"$out/$release.wall"
}

: >"$out/kernels.list"
running=0
for k in "${kernels[@]}"; do
  read -r s release dir <<<"$k"
  printf '%s\t%s\n' "$s" "$release" >>"$out/kernels.list"
  echo "kernels: booting $release"
  boot "$release" "$dir" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

if [ -n "${HOST:-}" ]; then
  release=$(uname -r)
  printf 'host\t%s\n' "$release" >>"$out/kernels.list"
  echo "kernels: running the suites on the host ($release)"
  t=$(date +%s) rc=0
  KM_HOST=1 KM_ROOT=$(realpath "$out/initramfs.root") KM_SUITES=$suites KM_RUN=${RUN:-} KM_TIMEOUT=$test_timeout \
    "$out/initramfs.root/bin/busybox" sh "$here/init" >"$out/$release.log" 2>&1 || rc=$?
  echo "$t $(date +%s) $rc" >"$out/$release.wall"
fi

"$here/results.sh" "$out"
echo "kernels: matrix wall time $(($(date +%s) - start)) s (consoles and results.tsv in $out)"
! grep -q $'\tFAIL\t' "$out/summary.tsv"
