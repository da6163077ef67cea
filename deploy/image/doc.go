// Package image holds the Containerfile, default config and build script of the otelcol-custom
// container image; its test builds and smoke-tests the image.
package image
