// Package podcache keeps a lean, indexed copy of the pods (and, on demand, the namespaces, nodes and
// workload objects) that the k8s_tagging processor needs. One cache serves every processor instance
// of the process that uses the same API server settings and filters.
//
// # What a consumer gives
//
//   - Settings: which API server (APIKey) and which pods (namespace, label and field selectors,
//     the agent's node, how long deleted pods stay). Consumers with equal Settings share a cache.
//   - Needs: what it reads. From pods: label and annotation keys (KeyFilter), hostname, start
//     time, containers, image digests; everything else is dropped as pods arrive. From other
//     kinds (Kind → ObjectNeeds): their labels and annotations; a kind not named is not watched.
//     ClusterUID asks for the kube-system namespace's uid. A shared cache keeps the union.
//   - A function creating the Clients, called once, when the shared cache first starts.
//
// # What a consumer gets
//
//   - Register returns a Lease. Every consumer registers before any starts (the collector creates
//     all components before starting one), so the cache is built for all of them; a consumer
//     registering later joins a running cache only when that already keeps what it needs.
//   - Lease.Start returns the running Cache, Lease.OnError reports every watch failure (for
//     self-metrics), Lease.Release lets go; the last release stops the watches.
//   - The Cache answers from memory and never waits for the API server: pods by uid, by IP
//     (never a hostNetwork pod), by container id (with or without runtime prefix), by namespace
//     and name; namespaces and nodes by name and workloads by uid (Object); ClusterUID. A Pod or
//     Object returned is never modified afterwards, so it is read without a lock.
//   - Synced and WaitForSync (first full state of every watch), Changed (the next pod change, for
//     data held until its pod arrives), PodCount.
//
// # Files, by job
//
// registry.go shares caches between consumers; needs.go says what is kept; watch.go lists,
// watches and retries; watcherrors.go explains, logs and fans out watch failures; pod.go trims a
// pod; podstore.go receives pods from a watch; podindex.go indexes them and keeps deleted ones for
// the grace period; objects.go holds the metadata-only kinds; cache.go ties them together. A
// further watched resource gets a store and an index of its own beside the pod ones, and one
// line in Cache.start.
package podcache // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/podcache"
