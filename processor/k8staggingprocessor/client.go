package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
)

// restConfig builds the API client configuration for auth_type, as contrib does.
func restConfig(api APIConfig) (*rest.Config, error) {
	var cfg *rest.Config
	switch api.AuthType {
	case AuthTypeKubeConfig:
		overrides := &clientcmd.ConfigOverrides{CurrentContext: api.Context}
		c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), overrides).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("auth_type %s: loading kubeconfig ($KUBECONFIG or ~/.kube/config): %w", api.AuthType, err)
		}
		cfg = c
	case AuthTypeServiceAccount:
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("auth_type %s: not running in a pod with a service account (%w); use auth_type kubeConfig outside a cluster", api.AuthType, err)
		}
		cfg = c
	case AuthTypeNone:
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, errors.New("auth_type none: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
		}
		cfg = &rest.Config{Host: "https://" + net.JoinHostPort(host, port)}
		cfg.Insecure = true
	default:
		return nil, fmt.Errorf("auth_type %q is not supported", api.AuthType)
	}
	// The API server is in the cluster: never go through a proxy from the environment.
	cfg.Proxy = http.ProxyURL(nil)
	if api.KubeAPIQPS > 0 {
		cfg.QPS = api.KubeAPIQPS
	}
	if api.KubeAPIBurst > 0 {
		cfg.Burst = api.KubeAPIBurst
	}
	cfg.UserAgent = "otelcol-custom/k8s_tagging"
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { return dropManagedFields{next: next} })
	return cfg, nil
}

// dropManagedFieldsParam asks the API server to leave metadata.managedFields out of responses
// (KEP-5958). Pods carry several hundred bytes of managedFields each — 43 % of the protobuf pod
// objects in bench/k8s — and every watch event repeats them uncompressed, yet nothing here reads
// them. kube-apiserver honours the parameter from 1.38 with the ManagedFieldsOptOut feature gate;
// every earlier version (and 1.38 with the gate off) ignores media-type parameters it does not
// know and sends the full object, so adding it is always safe.
const dropManagedFieldsParam = "drop=metadata.managedFields"

// dropManagedFields adds dropManagedFieldsParam to every media range of a read request's Accept
// header (the typed and the metadata client set their own Accept headers per request).
type dropManagedFields struct{ next http.RoundTripper }

func (t dropManagedFields) RoundTrip(r *http.Request) (*http.Response, error) {
	accept := r.Header.Get("Accept")
	if r.Method != http.MethodGet || accept == "" || strings.Contains(accept, "drop=") {
		return t.next.RoundTrip(r)
	}
	ranges := strings.Split(accept, ",")
	for i, mr := range ranges {
		ranges[i] = strings.TrimSpace(mr)
		if ranges[i] != "" && !strings.HasPrefix(ranges[i], "*/*") {
			ranges[i] += ";" + dropManagedFieldsParam
		}
	}
	// A RoundTripper must not modify the caller's request.
	r = r.Clone(r.Context())
	r.Header.Set("Accept", strings.Join(ranges, ","))
	return t.next.RoundTrip(r)
}

// newClients creates the typed client (protobuf, the cheapest encoding for pod lists) and the
// metadata-only client.
func newClients(api APIConfig) (podcache.Clients, error) {
	cfg, err := restConfig(api)
	if err != nil {
		return podcache.Clients{}, err
	}
	core := rest.CopyConfig(cfg)
	core.ContentType = "application/vnd.kubernetes.protobuf"
	core.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(core)
	if err != nil {
		return podcache.Clients{}, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return podcache.Clients{}, err
	}
	return podcache.Clients{Core: cs, Metadata: meta}, nil
}

// apiKey identifies the API server and credentials, so processors with the same settings share
// a cache.
func apiKey(api APIConfig) string {
	return fmt.Sprintf("auth=%s|ctx=%s|qps=%v|burst=%d|kubeconfig=%s|host=%s:%s", api.AuthType, api.Context, api.KubeAPIQPS,
		api.KubeAPIBurst, os.Getenv("KUBECONFIG"), os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
}

// selectors turns filter into the label and field selectors sent to the API server. The node
// filter becomes spec.nodeName=<node>, so an agent only ever receives its own node's pods.
func selectors(f FilterConfig) (labelSel, fieldSel string, err error) {
	var fieldTerms []string
	if node := f.staticNode(); node != "" {
		fieldTerms = append(fieldTerms, "spec.nodeName="+node)
	}
	for _, fl := range f.Fields {
		op := "="
		if fl.Op == filterOpNotEquals {
			op = "!="
		}
		fieldTerms = append(fieldTerms, fl.Key+op+fl.Value)
	}
	sel := labels.NewSelector()
	for i, l := range f.Labels {
		var op selection.Operator
		var vals []string
		switch l.Op {
		case filterOpNotEquals:
			op, vals = selection.NotEquals, []string{l.Value}
		case filterOpExists:
			op = selection.Exists
		case filterOpDoesNotExist:
			op = selection.DoesNotExist
		default:
			op, vals = selection.Equals, []string{l.Value}
		}
		req, rerr := labels.NewRequirement(l.Key, op, vals)
		if rerr != nil {
			return "", "", fmt.Errorf("filter.labels[%d]: %w", i, rerr)
		}
		sel = sel.Add(*req)
	}
	if !sel.Empty() {
		labelSel = sel.String()
	}
	return labelSel, strings.Join(fieldTerms, ","), nil
}
