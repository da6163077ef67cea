//go:build linux

package cgroupfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCgroup2Mount(t *testing.T) {
	tests := []struct {
		name, mountinfo, want string
	}{
		{"pure v2", "25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup"},
		{"hybrid", "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
			"34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
			"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified"},
		{"bind mount of a sub-tree is skipped", "41 30 0:37 /kubepods /mnt/sub rw - cgroup2 cgroup2 rw\n" +
			"40 30 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"},
		{"escaped path", `40 30 0:37 / /mnt/cg\040two rw - cgroup2 cgroup2 rw` + "\n", "/mnt/cg two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(f, []byte(tt.mountinfo), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Cgroup2Mount(f)
			if err != nil || got != tt.want {
				t.Fatalf("Cgroup2Mount = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	f := filepath.Join(t.TempDir(), "mountinfo")
	_ = os.WriteFile(f, []byte("34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"), 0o600)
	if _, err := Cgroup2Mount(f); err == nil {
		t.Fatal("want an error without a cgroup2 mount")
	}
}

// The walking fallback works on any directory tree: ids are inode numbers.
func TestResolverRescansOnMiss(t *testing.T) {
	root := t.TempDir()
	r := NewResolver(root)
	r.handlesBlocked = true // a tmpfs has no kernfs file handles
	r.MinRescanInterval = 0
	if p, ok := r.Path(mustID(t, root)); !ok || p != "/" {
		t.Fatalf("root resolved to %q, %v", p, ok)
	}
	dir := filepath.Join(root, "kubepods", "pod1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	id := mustID(t, dir)
	if p, ok := r.Path(id); !ok || p != "/kubepods/pod1" {
		t.Fatalf("new cgroup resolved to %q, %v", p, ok)
	}
	if !r.Exists(id, "/kubepods/pod1") {
		t.Fatal("Exists = false for a present cgroup")
	}
	_ = os.Remove(dir)
	if r.Exists(id, "/kubepods/pod1") {
		t.Fatal("Exists = true for a removed cgroup")
	}
	r.Forget(id)
	// Misses are rate limited. (The removed directory's inode may be reused, hence Forget.)
	r.MinRescanInterval = time.Hour
	other := filepath.Join(root, "other")
	_ = os.Mkdir(other, 0o755)
	if _, ok := r.Path(mustID(t, other)); ok {
		t.Fatal("rescanned within MinRescanInterval")
	}
}

func mustID(t *testing.T, dir string) uint64 {
	t.Helper()
	id, err := ID(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// On the real cgroup2 hierarchy ids resolve through file handles without a
// walk, and removed cgroups are reported gone at once.
func TestResolverFileHandles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to create cgroups and use open_by_handle_at (uid %d)", os.Geteuid())
	}
	mount, err := Cgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(mount)
	r.MinRescanInterval = time.Hour // a walk would not happen: only handles can resolve
	r.lastScan = time.Now()
	dir := filepath.Join(mount, "otelcol-cgroupfs-test")
	_ = os.Remove(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	id := mustID(t, dir)
	if p, ok := r.Path(id); !ok || p != "/otelcol-cgroupfs-test" {
		t.Fatalf("resolved to %q, %v", p, ok)
	}
	if r.Gone(id) {
		t.Fatal("Gone = true for a present cgroup")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if !r.Gone(id) {
		t.Fatal("Gone = false for a removed cgroup")
	}
	if p, ok := r.Path(mustID(t, mount)); !ok || p != "/" {
		t.Fatalf("root resolved to %q, %v", p, ok)
	}
}
