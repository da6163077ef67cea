//go:build linux

package probes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// kernel is what the loader needs to know about the running kernel. Every
// choice comes from its BTF or from a feature probe, never from the release
// string (which only goes into messages).
type kernel struct {
	release string
	btf     *btf.Spec
	// atomics: the verifier accepts BPF atomic instructions (cmpxchg; Linux
	// 5.12). Without them the Compat object is loaded (bpf/common.bpf.h).
	atomics bool
}

func inspectKernel() (*kernel, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	return &kernel{release: kernelRelease(), btf: spec, atomics: haveAtomics()}, nil
}

// kernelRelease is uname -r, for messages.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// haveAtomics loads a socket filter that does one cmpxchg on its stack.
func haveAtomics() bool {
	cmpxchg := asm.CmpXchg.Mem(asm.RFP, asm.R1, asm.DWord, -8)
	// The operation goes into the immediate. cilium/ebpf v0.20 encodes it
	// from Constant only (as set when reading an ELF); without this the
	// instruction is a plain atomic add, which every kernel accepts.
	cmpxchg.Constant = int64(asm.CmpXchg >> 8)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SocketFilter,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R1, 1),
			cmpxchg,
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		return false
	}
	_ = prog.Close()
	return true
}

// errNoTracepoint: the kernel has no such tracepoint (no btf_trace_<name> type).
var errNoTracepoint = errors.New("the kernel has no such tracepoint")

// tracepointArgs spells the argument types of the kernel's tracepoint name,
// from the type of its BTF probe function btf_trace_<name>, whose first
// parameter is the probe's data pointer.
func (k *kernel) tracepointArgs(name string) ([]string, error) {
	var td *btf.Typedef
	if err := k.btf.TypeByName("btf_trace_"+name, &td); err != nil {
		return nil, errNoTracepoint
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return nil, fmt.Errorf("btf_trace_%s is not a function pointer", name)
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok || len(proto.Params) == 0 {
		return nil, fmt.Errorf("btf_trace_%s is not a function pointer", name)
	}
	var args []string
	for _, p := range proto.Params[1:] {
		args = append(args, typeName(p.Type))
	}
	return args, nil
}

// typeName spells a BTF type as in a C prototype, without qualifiers.
func typeName(t btf.Type) string {
	switch t := t.(type) {
	case *btf.Pointer:
		return typeName(t.Target) + " *"
	case *btf.Const:
		return typeName(t.Type)
	case *btf.Volatile:
		return typeName(t.Type)
	case *btf.Struct:
		return "struct " + t.Name
	case *btf.Union:
		return "union " + t.Name
	case *btf.Enum:
		return "enum " + t.Name
	case *btf.Void:
		return "void"
	default:
		return t.TypeName()
	}
}

// chooseVariant returns the first variant of p in object o whose arguments
// are a prefix of the kernel's tracepoint arguments, or the one named forced.
func (k *kernel) chooseVariant(p Program, o *objectSpecs, forced string) (variant, error) {
	if p.iterator {
		return p.variants(o)[0], nil // not a tracepoint: one variant per object
	}
	args, err := k.tracepointArgs(p.Tracepoint)
	if err != nil {
		return variant{}, err
	}
	variants := p.variants(o)
	if forced != "" {
		for _, v := range variants {
			if v.name() == forced {
				return v, nil
			}
		}
		return variant{}, fmt.Errorf("%s has no variant %s", p.Name, forced)
	}
	var want []string
	for _, v := range variants {
		if v.args == nil || (len(v.args) <= len(args) && slices.Equal(v.args, args[:len(v.args)])) {
			return v, nil
		}
		want = append(want, "("+strings.Join(v.args, ", ")+")")
	}
	return variant{}, fmt.Errorf("this kernel's tracepoint has another signature: (%s); the receiver has variants for %s",
		strings.Join(args, ", "), strings.Join(want, " and "))
}

// structHas reports whether the kernel's struct name has a member called member.
func (k *kernel) structHas(name, member string) bool {
	var s *btf.Struct
	if err := k.btf.TypeByName(name, &s); err != nil {
		return false
	}
	for _, m := range s.Members {
		if m.Name == member {
			return true
		}
	}
	return false
}

// hasSchedInfo reports whether the kernel's task_struct has sched_info
// (CONFIG_SCHED_INFO, set by CONFIG_SCHEDSTATS or CONFIG_TASK_DELAY_ACCT,
// which distribution kernels enable) and the programs can read the run queue
// clock its timestamps are in (task->se.cfs_rq->rq, CONFIG_FAIR_GROUP_SCHED;
// bpf/sched.bpf.h: task_rq_clock).
func (k *kernel) hasSchedInfo() bool {
	return k.structHas("task_struct", "sched_info") && k.structHas("sched_entity", "cfs_rq") && k.structHas("cfs_rq", "rq")
}

// tracesResetsWithoutSocket: tcp_send_reset fires for a RST sent without a
// socket, with the segment it answers as argument, since Linux 6.10 — the
// release that also added enum sk_rst_reason, which the BPF side tests for
// (bpf/tcp.bpf.h: handle_tcp_send_reset).
func (k *kernel) tracesResetsWithoutSocket() bool {
	var e *btf.Enum
	return k.btf.TypeByName("sk_rst_reason", &e) == nil
}
