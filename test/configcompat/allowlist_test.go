package configcompat

// Keys of contrib's prometheusremotewriteexporter v0.161.0 that ours does not accept, each with
// the reason.
var prwMissing = map[string]string{}

// Defaults of prometheus_remote_write that differ from contrib's, each with the reason.
var prwDefaultsDiffer = map[string]string{}

// Keys of contrib's k8sattributesprocessor v1.0.0 that k8s_tagging does not accept, each with the
// reason.
var k8sMissing = map[string]string{}

// Defaults of k8s_tagging that differ from contrib's, each with the reason.
var k8sDefaultsDiffer = map[string]string{}
