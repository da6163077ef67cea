// Package configcompat checks that our drop-in components accept every configuration key of the
// contrib components they replace, with the same defaults (see compat_test.go).
package configcompat
