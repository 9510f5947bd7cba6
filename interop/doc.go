// Package interop holds tests that run real HTTP/2 peers against the
// servers: h2spec (conformance), curl, nghttp and h2load. They need those
// programs; .ci/run installs them and sets H2SM_INTEROP=1, which turns a
// missing program into a failure instead of a skip.
package interop
