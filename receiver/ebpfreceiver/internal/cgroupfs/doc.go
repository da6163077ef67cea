// Package cgroupfs finds the cgroup v2 hierarchy and resolves the cgroup ids
// BPF programs report (bpf_get_current_cgroup_id: the inode number of the
// cgroup's directory in cgroup2) to cgroup paths. Linux only.
package cgroupfs
