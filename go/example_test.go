// SPDX-License-Identifier: BSD-3-Clause

package psx_test

import (
	"fmt"
	"syscall"

	"psx.example/psx"
)

// Set no_new_privs on every thread of the program before running
// untrusted code; a plain syscall would only set it on one thread.
func ExampleSyscall6() {
	const prSetNoNewPrivs = 38
	if _, _, err := psx.Syscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); err != 0 {
		fmt.Println("prctl(PR_SET_NO_NEW_PRIVS):", err)
	}
}
