package podcache

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
)

// Against the real API server (etcd 3.6: WatchList available) the initial pod list is streamed and
// each pod trimmed on arrival; the sync log line says how the list came.
func TestRealAPIServerStreamsInitialPodList(t *testing.T) {
	c := k8stest.Start(t)
	const n = 20
	for i := range n {
		c.CreatePod(t, k8stest.PodSpec{Name: fmt.Sprintf("web-%d", i), NodeName: "node-a"})
	}
	cfg := c.RESTConfig()
	clients := func() (Clients, error) {
		core, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return Clients{}, err
		}
		md, err := metadata.NewForConfig(cfg)
		return Clients{Core: core, Metadata: md}, err
	}
	logs, observed := observer.New(zap.InfoLevel)
	lease := Register(Settings{APIKey: t.Name()}, Needs{}, clients, zap.New(logs))
	defer lease.Release()
	cache, err := lease.Start()
	require.NoError(t, err)
	select {
	case <-cache.Synced():
	case <-time.After(30 * time.Second):
		t.Fatal("pod cache not synced within 30s")
	}
	entries := observed.FilterMessage("k8s_tagging pod cache synced").All()
	require.Len(t, entries, 1)
	fields := entries[0].ContextMap()
	require.Equal(t, "streamed", fields["initial_list"], "the API server supports WatchList: the list must be streamed")
	require.EqualValues(t, n, fields["pods"])
	require.Equal(t, n, cache.PodCount())
}
