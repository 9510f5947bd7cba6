//go:build !unix

package netconn

// canPeek: on this system every connection keeps a read buffer of its own,
// since there is no portable non-consuming peek.
const canPeek = false

func peekReadable(uintptr) bool { return true }
