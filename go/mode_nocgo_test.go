// SPDX-License-Identifier: BSD-3-Clause

//go:build !cgo

package psx_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"psx.example/psx"
)

func checkCErrno(s *sc) { s.logf("no C library and no C errno without cgo") }

func checkCSyscall3Zeros(s *sc) {}

func checkGoCErrno(s *sc) { s.logf("no C errno and no C r2 without cgo") }

// TestNoCgoUsesTheGoRuntime checks that without cgo no libpsx is loaded
// and the calls work (syscall.AllThreadsSyscall would return ENOTSUP if
// cgo were linked after all).
func TestNoCgoUsesTheGoRuntime(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatalf("read /proc/self/maps: %v", err)
	}
	if strings.Contains(string(maps), "libpsx") {
		t.Fatalf("libpsx is mapped in a CGO_ENABLED=0 build:\n%s", maps)
	}
	r1, _, e := psx.Syscall3(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if r1 != 1 || e != 0 {
		t.Fatalf("Syscall3(prctl(PR_GET_DUMPABLE)) = %#x, %v; want 1, 0", r1, e)
	}
}
