package k8staggingprocessor

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/otelcol-custom/otelcol-custom/internal/k8stest"
)

type recordingTransport struct{ got *http.Request }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

func TestDropManagedFieldsAccept(t *testing.T) {
	for _, tc := range []struct {
		name, method, accept, want string
	}{
		{"typed client", http.MethodGet, "application/vnd.kubernetes.protobuf,application/json",
			"application/vnd.kubernetes.protobuf;drop=metadata.managedFields,application/json;drop=metadata.managedFields"},
		{"metadata client", http.MethodGet, "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json",
			"application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1;drop=metadata.managedFields,application/json;drop=metadata.managedFields"},
		{"wildcard kept as is", http.MethodGet, "application/json, */*", "application/json;drop=metadata.managedFields,*/*"},
		{"already asked", http.MethodGet, "application/json;drop=metadata.managedFields", "application/json;drop=metadata.managedFields"},
		{"no Accept", http.MethodGet, "", ""},
		{"writes untouched", http.MethodPost, "application/json", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTransport{}
			req, err := http.NewRequest(tc.method, "http://api.invalid/api/v1/pods", http.NoBody)
			require.NoError(t, err)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := dropManagedFields{next: rec}.RoundTrip(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, tc.want, rec.got.Header.Get("Accept"))
			assert.Equal(t, tc.accept, req.Header.Get("Accept"), "the caller's request is not modified")
		})
	}
}

// The API server (1.34 here) must keep answering lists and watches of both clients when they ask
// for managedFields to be dropped; servers without the ManagedFieldsOptOut gate ignore the
// parameter, servers with it leave the field out.
func TestRealAPIServerAcceptsDropManagedFields(t *testing.T) {
	c := k8stest.Start(t)
	c.CreatePod(t, k8stest.PodSpec{Namespace: "default", Name: "p", NodeName: "node-a", PodIPs: []string{"10.244.5.5"}})
	t.Setenv("KUBECONFIG", c.KubeconfigPath())
	clients, err := newClients(APIConfig{AuthType: AuthTypeKubeConfig})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pods, err := clients.Core.CoreV1().Pods("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	assert.Equal(t, "10.244.5.5", pods.Items[0].Status.PodIP)
	t.Logf("API server sent %d managedFields entries (0 when it honours %s)", len(pods.Items[0].ManagedFields), dropManagedFieldsParam)

	meta, err := clients.Metadata.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, meta.Items, 1)
	assert.Equal(t, "p", meta.Items[0].Name)

	w, err := clients.Core.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	c.CreatePod(t, k8stest.PodSpec{Namespace: "default", Name: "q", NodeName: "node-a", PodIPs: []string{"10.244.5.6"}})
	select {
	case ev := <-w.ResultChan():
		require.NotNil(t, ev.Object)
		pod, ok := ev.Object.(interface{ GetName() string })
		require.True(t, ok, "watch event decodes into an object: %T", ev.Object)
		assert.Equal(t, "q", pod.GetName())
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
}
