// Package procs holds what the benchmark commands share to run servers:
// a free loopback address, waiting for a port, and stopping a process.
package procs
