# Helpers shared by the bench scripts (sourced).

# free_port prints a free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# drop_page_cache: a freshly linked binary sits in the page cache as large folios that map in
# bigger chunks than pages read back from disk, which inflated otelcol-custom's file-backed RSS by
# ~30 MB against an older peer binary (measured here). Dropping the cache makes both read the same way.
drop_page_cache() {
  if [ -w /proc/sys/vm/drop_caches ]; then sync; echo 3 > /proc/sys/vm/drop_caches
  else echo "bench: not root, page cache not dropped: RSS of a freshly built binary reads high" >&2; fi
}

# ratio A B prints A/B with three decimals (0 when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", (b==0)?0:a/b}'; }
