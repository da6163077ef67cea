package ebpftest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cgroup is a fresh cgroup v2 directory.
type Cgroup struct {
	Dir  string // absolute
	Path string // below the cgroup2 mount, as linux.cgroup.path reports it
}

// NewCgroup creates a cgroup named prefix plus a random suffix directly
// below mount, the cgroup2 mount point. Remove it with Remove.
func NewCgroup(mount, prefix string) (*Cgroup, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := prefix + hex.EncodeToString(rnd[:])
	dir := filepath.Join(mount, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	return &Cgroup{Dir: dir, Path: "/" + name}, nil
}

// Remove kills what is left in the cgroup and removes it; a cgroup whose
// processes are still exiting cannot be removed yet, so it retries for about
// a second.
func (c *Cgroup) Remove() {
	for range 50 {
		b, _ := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := os.Remove(c.Dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartIn starts cmd directly inside the cgroup (clone3 with
// CLONE_INTO_CGROUP): the child never runs outside it.
func (c *Cgroup) StartIn(cmd *exec.Cmd) error {
	fd, err := syscall.Open(c.Dir, syscall.O_DIRECTORY|syscall.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return cmd.Start()
}
