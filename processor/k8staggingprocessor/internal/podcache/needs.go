package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Needs is what one consumer reads from the cache. Needs are values: combining two makes a new
// one, so a cache never shares maps with the consumers that registered them.
type Needs struct {
	Pod PodNeeds
	// Objects lists the kinds to watch metadata-only (namespaces, nodes, workloads).
	Objects map[Kind]ObjectNeeds
	// ClusterUID asks for the uid of the kube-system namespace.
	ClusterUID bool
	// Peers asks for the network map's view (peers.go): every pod of the cluster by IP, Services
	// by ClusterIP, nodes by address and their zones.
	Peers bool
}

// PodNeeds says which parts of a pod consumers read; everything else is dropped on arrival.
type PodNeeds struct {
	Labels, Annotations KeyFilter
	Hostname            bool
	StartTime           bool
	Containers          bool
	RepoDigests         bool
}

// ObjectNeeds says which labels and annotations of a kind are kept.
type ObjectNeeds struct {
	Labels, Annotations KeyFilter
}

// KeyFilter selects the label or annotation keys to keep.
type KeyFilter struct {
	Keys     map[string]struct{}
	Regexes  []*regexp.Regexp
	Prefixes []string
}

// merged is what a cache serving both n and o keeps.
func (n Needs) merged(o Needs) Needs {
	out := Needs{Pod: n.Pod.merged(o.Pod), Objects: maps.Clone(n.Objects), ClusterUID: n.ClusterUID || o.ClusterUID,
		Peers: n.Peers || o.Peers}
	if out.Objects == nil {
		out.Objects = map[Kind]ObjectNeeds{}
	}
	for k, v := range o.Objects {
		out.Objects[k] = out.Objects[k].merged(v)
	}
	return out
}

// covers reports whether n keeps at least everything o needs (whether a running cache can serve a
// consumer that registers late).
func (n Needs) covers(o Needs) bool {
	return n.merged(o).signature() == n.signature()
}

func (n Needs) signature() string {
	var b strings.Builder
	b.WriteString(n.Pod.signature())
	for _, k := range slices.Sorted(maps.Keys(n.Objects)) {
		b.WriteString("|" + string(k) + "=" + n.Objects[k].signature())
	}
	b.WriteString("|cluster=" + strconv.FormatBool(n.ClusterUID))
	b.WriteString("|peers=" + strconv.FormatBool(n.Peers))
	return b.String()
}

func (n PodNeeds) merged(o PodNeeds) PodNeeds {
	return PodNeeds{
		Labels:      n.Labels.merged(o.Labels),
		Annotations: n.Annotations.merged(o.Annotations),
		Hostname:    n.Hostname || o.Hostname,
		StartTime:   n.StartTime || o.StartTime,
		Containers:  n.Containers || o.Containers,
		RepoDigests: n.RepoDigests || o.RepoDigests,
	}
}

func (n PodNeeds) signature() string {
	return "l=" + n.Labels.signature() + "|a=" + n.Annotations.signature() +
		"|h=" + strconv.FormatBool(n.Hostname) + "|s=" + strconv.FormatBool(n.StartTime) +
		"|c=" + strconv.FormatBool(n.Containers) + "|d=" + strconv.FormatBool(n.RepoDigests)
}

func (n ObjectNeeds) merged(o ObjectNeeds) ObjectNeeds {
	return ObjectNeeds{Labels: n.Labels.merged(o.Labels), Annotations: n.Annotations.merged(o.Annotations)}
}

func (n ObjectNeeds) signature() string {
	return "l=" + n.Labels.signature() + "/a=" + n.Annotations.signature()
}

// AddKey keeps key.
func (f *KeyFilter) AddKey(key string) {
	if f.Keys == nil {
		f.Keys = map[string]struct{}{}
	}
	f.Keys[key] = struct{}{}
}

// merged returns a new filter keeping what f or o keeps.
func (f KeyFilter) merged(o KeyFilter) KeyFilter {
	out := KeyFilter{Regexes: slices.Concat(f.Regexes, o.Regexes), Prefixes: slices.Concat(f.Prefixes, o.Prefixes)}
	for k := range f.Keys {
		out.AddKey(k)
	}
	for k := range o.Keys {
		out.AddKey(k)
	}
	return out
}

func (f KeyFilter) signature() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(f.Keys)) {
		b.WriteString("k:" + k + ";")
	}
	for _, r := range f.Regexes {
		b.WriteString("r:" + r.String() + ";")
	}
	for _, p := range f.Prefixes {
		b.WriteString("p:" + p + ";")
	}
	return b.String()
}

func (f *KeyFilter) empty() bool {
	return len(f.Keys) == 0 && len(f.Regexes) == 0 && len(f.Prefixes) == 0
}

func (f *KeyFilter) keeps(key string) bool {
	if _, ok := f.Keys[key]; ok {
		return true
	}
	for _, p := range f.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	for _, r := range f.Regexes {
		if r.MatchString(key) {
			return true
		}
	}
	return false
}

// filterMap copies the kept entries of m, interning keys and values.
func (f *KeyFilter) filterMap(m map[string]string) map[string]string {
	if f.empty() || len(m) == 0 {
		return nil
	}
	var out map[string]string
	for k, v := range m {
		if !f.keeps(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[intern(k)] = intern(v)
	}
	return out
}
