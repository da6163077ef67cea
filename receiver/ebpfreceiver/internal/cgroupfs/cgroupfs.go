//go:build linux

package cgroupfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroup2Mount returns the mount point of the cgroup v2 hierarchy read from a
// mountinfo file (normally /proc/self/mountinfo). It handles pure v2 hosts
// (/sys/fs/cgroup) and hybrid ones (/sys/fs/cgroup/unified).
func Cgroup2Mount(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// "<id> <parent> <maj:min> <root> <mount point> <opts> [optional...] - <fstype> <source> <superopts>"
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && i >= 5 {
				if fields[i+1] == "cgroup2" && fields[3] == "/" {
					return unescapeMountPath(fields[4]), nil
				}
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup2 file system mounted (see /proc/self/mountinfo): mount it with " +
		"`mount -t cgroup2 none /sys/fs/cgroup/unified` or, in a container, mount the host's /sys/fs/cgroup")
}

// unescapeMountPath undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ID returns the cgroup id of a cgroup directory: its inode number.
func ID(dir string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Resolver maps cgroup ids to paths relative to the cgroup2 mount ("/" is the
// root) and caches them. On a miss it opens the cgroup by its id as a kernfs
// file handle (open_by_handle_at, needs CAP_DAC_READ_SEARCH) and reads the
// path back; where that is not permitted it rescans the hierarchy, at most
// once per MinRescanInterval so unknown ids cannot make it walk in a loop.
type Resolver struct {
	root              string
	MinRescanInterval time.Duration

	mu             sync.Mutex
	paths          map[uint64]string
	lastScan       time.Time
	handlesBlocked bool // open_by_handle_at failed for a reason other than a missing cgroup
}

// fileIDKernfs is FILEID_KERNFS: a kernfs file handle holds the 64-bit node id.
const fileIDKernfs = 0xfe

// lookupByHandle resolves id through a file handle. gone is true when the
// kernel says no cgroup with this id exists (any more).
func (r *Resolver) lookupByHandle(id uint64) (path string, gone bool, err error) {
	mnt, err := unix.Open(r.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false, err
	}
	defer unix.Close(mnt)
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(mnt, unix.NewFileHandle(fileIDKernfs, b[:]), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	defer unix.Close(fd)
	full, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", false, err
	}
	rel, err := filepath.Rel(r.root, full)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", false, fmt.Errorf("cgroup %d resolved outside %s: %s", id, r.root, full)
	}
	if rel == "." {
		return "/", false, nil
	}
	return "/" + filepath.ToSlash(rel), false, nil
}

// NewResolver returns a resolver for the cgroup2 hierarchy mounted at root.
func NewResolver(root string) *Resolver {
	return &Resolver{root: root, MinRescanInterval: time.Second, paths: map[uint64]string{}}
}

// Root is the cgroup2 mount point.
func (r *Resolver) Root() string { return r.root }

// Path returns the cgroup path of id. found is false for ids not in the
// hierarchy (a cgroup removed before it was seen, or an id from elsewhere).
func (r *Resolver) Path(id uint64) (path string, found bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.paths[id]; ok {
		return p, true
	}
	if !r.handlesBlocked {
		p, gone, err := r.lookupByHandle(id)
		switch {
		case err == nil && !gone:
			r.paths[id] = p
			return p, true
		case err == nil && gone:
			return "", false
		default:
			r.handlesBlocked = true // e.g. EPERM without CAP_DAC_READ_SEARCH: walk instead
		}
	}
	if time.Since(r.lastScan) < r.MinRescanInterval {
		return "", false
	}
	r.scanLocked()
	p, ok := r.paths[id]
	return p, ok
}

// Gone reports whether the kernel confirms that no cgroup with this id exists.
// It is false whenever that cannot be determined.
func (r *Resolver) Gone(id uint64) bool {
	r.mu.Lock()
	blocked := r.handlesBlocked
	r.mu.Unlock()
	if blocked {
		return false
	}
	_, gone, err := r.lookupByHandle(id)
	return err == nil && gone
}

// Exists reports whether the cgroup with this id and path is still present.
func (r *Resolver) Exists(id uint64, path string) bool {
	got, err := ID(filepath.Join(r.root, path))
	return err == nil && got == id
}

// Forget drops a cached id, for cgroups that were removed.
func (r *Resolver) Forget(id uint64) {
	r.mu.Lock()
	delete(r.paths, id)
	r.mu.Unlock()
}

func (r *Resolver) scanLocked() {
	r.lastScan = time.Now()
	paths := make(map[uint64]string, len(r.paths))
	// Removed cgroups disappear while walking; their errors are expected.
	_ = filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(r.root, p)
		if err != nil {
			return nil
		}
		paths[st.Ino] = "/" + strings.TrimPrefix(filepath.ToSlash(rel), ".")
		return nil
	})
	for id, p := range paths {
		if p == "/" {
			continue
		}
		paths[id] = strings.TrimSuffix(p, "/")
	}
	r.paths = paths
}
