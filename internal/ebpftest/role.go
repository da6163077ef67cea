package ebpftest

import (
	"os"
	"os/exec"
	"slices"
)

// RunRoleIfChild runs the role named by the environment variable env and
// exits with its status, when this process was started by RoleCommand with
// that env; otherwise it returns. Call it first thing: from main, or from an
// init function in a test binary (whose TestMain may belong to a generator).
func RunRoleIfChild(env string, run func(role string, args []string) int) {
	if role := os.Getenv(env); role != "" {
		os.Exit(run(role, os.Args[1:]))
	}
}

// RoleCommand re-executes the running binary as role, with args as its
// arguments: the child's RunRoleIfChild(env, …) picks the role up. wrapper,
// when given, runs the binary (e.g. taskset -c 0).
func RoleCommand(env, role string, wrapper []string, args ...string) *exec.Cmd {
	argv := append(append(slices.Clone(wrapper), os.Args[0]), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env+"="+role)
	return cmd
}
