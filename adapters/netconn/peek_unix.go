//go:build unix

package netconn

import "syscall"

// canPeek: waitInput can wait for input without a buffer on this system.
const canPeek = true

// peekReadable reports whether fd has input, an error or EOF to read,
// without consuming it (a RawConn.Read callback: false means wait).
func peekReadable(fd uintptr) bool {
	var one [1]byte
	_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}
