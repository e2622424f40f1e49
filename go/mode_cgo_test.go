// SPDX-License-Identifier: BSD-3-Clause

//go:build cgo

package psx_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"psx.example/psx/internal/cerrno"
)

// checkCErrno checks the C library's errno contract on one thread:
// unchanged by a successful call, set by a failing one.
func checkCErrno(s *sc) {
	const preset = int(syscall.EXDEV)
	type c struct {
		what   string
		r      int64
		preset int
		after  int
		call   func(preset int) (int64, int)
	}
	cases := []c{
		{"psx_syscall3(prctl(PR_GET_DUMPABLE))", 1, preset, preset, func(p int) (int64, int) {
			return cerrno.Call3(p, syscall.SYS_PRCTL, prGetDumpable, 0, 0)
		}},
		{"psx_syscall6(prctl(PR_GET_KEEPCAPS))", 0, preset, preset, func(p int) (int64, int) {
			return cerrno.Call6(p, syscall.SYS_PRCTL, prGetKeepcaps, 0, 0, 0, 0, 0)
		}},
		{"psx_syscall3(prctl(PR_SET_KEEPCAPS, 2))", -1, preset, int(syscall.EINVAL), func(p int) (int64, int) {
			return cerrno.Call3(p, syscall.SYS_PRCTL, prSetKeepcaps, 2, 0)
		}},
		{"psx_syscall6(close(-1))", -1, 0, int(syscall.EBADF), func(p int) (int64, int) {
			return cerrno.Call6(p, syscall.SYS_CLOSE, minus1, 0, 0, 0, 0, 0)
		}},
		{"psx_syscall3(prctl(PR_GET_DUMPABLE)) with errno ENOENT", 1, int(syscall.ENOENT), int(syscall.ENOENT), func(p int) (int64, int) {
			return cerrno.Call3(p, syscall.SYS_PRCTL, prGetDumpable, 0, 0)
		}},
	}
	for _, k := range cases {
		r, after := k.call(k.preset)
		if r != k.r || after != k.after {
			s.fatalf("C: errno=%d; %s -> %d, errno %d; want %d, errno %d", k.preset, k.what, r, after, k.r, k.after)
		}
		s.logf("ok: C: errno=%d; %s -> %d, errno %d", k.preset, k.what, r, after)
	}
}

// checkCSyscall3Zeros calls the C psx_syscall3 directly (Syscall3 uses
// psx_syscall6): prctl(PR_SET_NO_NEW_PRIVS) fails with EINVAL unless
// psx_syscall3 passes zeros as arguments 4 and 5. no_new_privs is
// already set, so the call changes nothing.
func checkCSyscall3Zeros(s *sc) {
	for i := 0; i < 20; i++ {
		if r, e := cerrno.Call3(0, syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); r != 0 {
			s.fatalf("C: psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0) = %d, errno %d (%v): "+
				"arguments 4 and 5 were not zero", r, e, syscall.Errno(e))
		}
	}
	s.logf("ok: C: psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0) returned 0 (20 times)")
}

// TestLibraryLoaded proves which libpsx the test binary runs with.
// PSX_GO_LINK=static: none is mapped and the marker is in the binary.
// Otherwise the mapped libpsx.so.2 must be $PSX_GO_LIBPSX, by default
// $PSX_ROOT/build/lib/libpsx.so.2, and contain the marker string
// ($PSX_GO_MARKER, by default psx-rust-engine).
func TestLibraryLoaded(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatalf("read /proc/self/maps: %v", err)
	}
	seen := map[string]bool{}
	var mapped []string
	for _, line := range strings.Split(string(maps), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 {
			continue
		}
		p := fields[5]
		if strings.Contains(filepath.Base(p), "libpsx") && !seen[p] {
			seen[p] = true
			mapped = append(mapped, p)
		}
	}
	marker, ok := os.LookupEnv("PSX_GO_MARKER")
	if !ok {
		marker = "psx-rust-engine"
	}
	containsMarker := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		if marker != "" && !bytes.Contains(b, []byte(marker)) {
			t.Fatalf("%s does not contain the marker %q: it is not this project's libpsx", path, marker)
		}
	}
	if os.Getenv("PSX_GO_LINK") == "static" {
		if len(mapped) != 0 {
			t.Fatalf("static link expected, but libpsx is mapped: %v", mapped)
		}
		containsMarker("/proc/self/exe")
		t.Logf("no libpsx mapped; the test binary contains %q (static archive linked)", marker)
		return
	}
	want := os.Getenv("PSX_GO_LIBPSX")
	if want == "" {
		root := os.Getenv("PSX_ROOT")
		if root == "" {
			t.Fatalf("cannot tell which libpsx must be loaded: set PSX_ROOT (the repository root) or PSX_GO_LIBPSX; mapped: %v", mapped)
		}
		want = filepath.Join(root, "build/lib/libpsx.so.2")
	}
	real, err := filepath.EvalSymlinks(want)
	if err != nil {
		t.Fatalf("expected library %s: %v", want, err)
	}
	if len(mapped) != 1 || mapped[0] != real {
		t.Fatalf("mapped libpsx files %v, want exactly [%s] (realpath of %s)", mapped, real, want)
	}
	containsMarker(real)
	t.Logf("mapped libpsx: %s (contains %q)", real, marker)
}
