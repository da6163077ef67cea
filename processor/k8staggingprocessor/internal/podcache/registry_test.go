package podcache

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
)

func fakeClients(objects ...runtime.Object) func() (Clients, error) {
	return func() (Clients, error) {
		return Clients{Core: k8sfake.NewClientset(objects...), Metadata: metadatafake.NewSimpleMetadataClient(runtime.NewScheme())}, nil
	}
}

func labelNeeds(keys ...string) Needs {
	f := KeyFilter{Keys: map[string]struct{}{}}
	for _, k := range keys {
		f.Keys[k] = struct{}{}
	}
	return Needs{Pod: PodNeeds{Labels: f}}
}

// Consumers whose extraction differs share one cache when they register before it starts (as
// every processor of a collector does): the cache keeps the union of their fields.
func TestRegistryUnionOfNeedsBeforeStart(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "a", UID: "uid-a",
		Labels: map[string]string{"app": "web", "team": "payments", "other": "x"}}}
	settings := Settings{APIKey: t.Name()}
	a := Register(settings, labelNeeds("app"), fakeClients(pod), zap.NewNop())
	b := Register(settings, Needs{Pod: PodNeeds{StartTime: true, Labels: labelNeeds("team").Pod.Labels}}, fakeClients(pod), zap.NewNop())
	defer a.Release()
	defer b.Release()

	ca, err := a.Start()
	require.NoError(t, err)
	cb, err := b.Start()
	require.NoError(t, err)
	assert.Same(t, ca, cb, "one cache for both consumers")
	assert.Equal(t, 1, ActiveCaches())
	select {
	case <-ca.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("cache did not sync")
	}
	p, ok := ca.ByUID("uid-a")
	require.True(t, ok)
	assert.Equal(t, map[string]string{"app": "web", "team": "payments"}, p.Labels, "the union of both consumers' label keys, nothing else")
	assert.True(t, ca.needs.Pod.StartTime)
}

// A consumer registering after the cache started gets the running cache when the cache already
// keeps what it needs, and its own cache otherwise (re-trimming a running cache would need a
// relist; the collector never adds processors to running pipelines — a reload shuts every
// component down before creating the new ones).
func TestRegistryJoinAfterStart(t *testing.T) {
	settings := Settings{APIKey: t.Name()}
	first := Register(settings, labelNeeds("app", "team"), fakeClients(), zap.NewNop())
	defer first.Release()
	running, err := first.Start()
	require.NoError(t, err)

	covered := Register(settings, labelNeeds("app"), fakeClients(), zap.NewNop())
	defer covered.Release()
	c, err := covered.Start()
	require.NoError(t, err)
	assert.Same(t, running, c, "a consumer needing a subset joins the running cache")

	wider := Register(settings, labelNeeds("version"), fakeClients(), zap.NewNop())
	c, err = wider.Start()
	require.NoError(t, err)
	assert.NotSame(t, running, c, "a consumer needing more gets its own cache")
	assert.Equal(t, 2, ActiveCaches())
	wider.Release()
	assert.Equal(t, 1, ActiveCaches())
}

// NodeFromEnvVar is read when the cache starts: the node becomes the first field selector term
// and restricts the node metadata watch; an unset or empty variable fails the start.
func TestNodeFromEnvVarResolvedAtStart(t *testing.T) {
	const envVar = "PODCACHE_TEST_NODE"
	s := Settings{APIKey: t.Name(), FieldSelector: "status.phase=Running", NodeFromEnvVar: envVar}
	t.Setenv(envVar, "")
	_, err := s.withNodeFromEnv()
	require.ErrorContains(t, err, `environment variable "PODCACHE_TEST_NODE" is empty`)
	require.NoError(t, os.Unsetenv(envVar))
	_, err = s.withNodeFromEnv()
	require.ErrorContains(t, err, `environment variable "PODCACHE_TEST_NODE" is not set`)

	lease := Register(s, Needs{}, fakeClients(), zap.NewNop())
	defer lease.Release()
	t.Setenv(envVar, "node-7")
	c, err := lease.Start()
	require.NoError(t, err)
	assert.Equal(t, "spec.nodeName=node-7,status.phase=Running", c.settings.FieldSelector)
	assert.Equal(t, "node-7", c.settings.NodeName)
}
