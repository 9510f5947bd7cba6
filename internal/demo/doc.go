// Package demo holds the demo handlers shared by the example servers and
// the benchmark's reference server, so that every server measured runs the
// same handler code.
package demo
