package cgroupattr

import "testing"

const (
	cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	uid = "7b1d5b3e-2f4a-4c1e-9d2b-8a6f0e3c5d71"
	// The systemd driver escapes the dashes of the pod UID as underscores.
	uidUnderscore = "7b1d5b3e_2f4a_4c1e_9d2b_8a6f0e3c5d71"
)

func TestFromPath(t *testing.T) {
	tests := []struct {
		name string
		path string
		want IDs
	}{
		{"containerd systemd burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnderscore + ".slice/cri-containerd-" + cid + ".scope", IDs{cid, uid}},
		{"containerd systemd guaranteed", "/kubepods.slice/kubepods-pod" + uidUnderscore + ".slice/cri-containerd-" + cid + ".scope", IDs{cid, uid}},
		{"containerd systemd besteffort", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidUnderscore + ".slice/cri-containerd-" + cid + ".scope", IDs{cid, uid}},
		{"containerd cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + cid, IDs{cid, uid}},
		{"containerd cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + cid, IDs{cid, uid}},
		{"crio systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnderscore + ".slice/crio-" + cid + ".scope", IDs{cid, uid}},
		{"crio cgroupfs", "/kubepods/besteffort/pod" + uid + "/crio-" + cid, IDs{cid, uid}},
		{"crio conmon is not the container", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnderscore + ".slice/crio-conmon-" + cid + ".scope", IDs{"", uid}},
		{"docker systemd standalone", "/system.slice/docker-" + cid + ".scope", IDs{cid, ""}},
		{"docker systemd kubernetes", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnderscore + ".slice/docker-" + cid + ".scope", IDs{cid, uid}},
		{"docker cgroupfs standalone", "/docker/" + cid, IDs{cid, ""}},
		{"docker cgroupfs kubernetes", "/kubepods/burstable/pod" + uid + "/" + cid, IDs{cid, uid}},
		{"nested cgroup inside a container", "/kubepods/burstable/pod" + uid + "/" + cid + "/init.scope", IDs{cid, uid}},
		{"pod slice without container", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnderscore + ".slice", IDs{"", uid}},
		{"host service", "/system.slice/sshd.service", IDs{}},
		{"root", "/", IDs{}},
		{"short hex is not an id", "/docker/0123456789ab", IDs{}},
		{"uppercase hex is not an id", "/docker/" + "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", IDs{}},
		{"pod word inside a name", "/system.slice/podman.service", IDs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromPath(tt.path); got != tt.want {
				t.Errorf("FromPath(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
		})
	}
}
