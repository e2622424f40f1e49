// SPDX-License-Identifier: BSD-3-Clause

//go:build cgo

package psx_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"psx.example/psx"
	"psx.example/psx/internal/cerrno"
)

func init() {
	scenarios["sensitivity"] = scenarioSensitivity
	scenarios["foreign"] = scenarioForeign
}

// checkGoCErrno checks what a cgo program sees around psx.Syscall3 and
// psx.Syscall6, as with libcap's package: the C errno that later C code
// reads is not changed by a successful call and is the error after a
// failing one; r2 equals r1.
func checkGoCErrno(s *sc) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const preset = int(syscall.EXDEV)
	type c struct {
		what  string
		r1    uintptr
		errno syscall.Errno
		after int
		call  func() (uintptr, uintptr, syscall.Errno)
	}
	cases := []c{
		{"Syscall3(prctl(PR_GET_DUMPABLE))", 1, 0, preset, func() (uintptr, uintptr, syscall.Errno) {
			return psx.Syscall3(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
		}},
		{"Syscall6(prctl(PR_GET_KEEPCAPS))", 0, 0, preset, func() (uintptr, uintptr, syscall.Errno) {
			return psx.Syscall6(syscall.SYS_PRCTL, prGetKeepcaps, 0, 0, 0, 0, 0)
		}},
		{"Syscall3(prctl(PR_SET_KEEPCAPS, 2))", minus1, syscall.EINVAL, int(syscall.EINVAL), func() (uintptr, uintptr, syscall.Errno) {
			return psx.Syscall3(syscall.SYS_PRCTL, prSetKeepcaps, 2, 0)
		}},
		{"Syscall6(close(-1))", minus1, syscall.EBADF, int(syscall.EBADF), func() (uintptr, uintptr, syscall.Errno) {
			return psx.Syscall6(syscall.SYS_CLOSE, minus1, 0, 0, 0, 0, 0)
		}},
	}
	for _, k := range cases {
		cerrno.Set(preset)
		r1, r2, e := k.call()
		after := cerrno.Get()
		if r1 != k.r1 || r2 != r1 || e != k.errno || after != k.after {
			s.fatalf("C errno %d; %s = r1 %#x, r2 %#x, err %d, then C errno %d; want r1 %#x, r2 = r1, err %d, C errno %d",
				preset, k.what, r1, r2, e, after, k.r1, k.errno, k.after)
		}
		s.logf("ok: C errno %d; %s = r1 %#x, r2 %#x, err %d; C errno then %d", preset, k.what, r1, r2, e, after)
	}
}

// scenarioSensitivity: libpsx's default (PSX_IGNORE) holds until the
// package's first call, which sets PSX_ERROR, also over a level the
// program chose before.
func scenarioSensitivity(s *sc) {
	startZoo(s, probePrctl(prGetDumpable))
	if r, e := cerrno.Call3(0, syscall.SYS_GETTID, 0, 0, 0); r <= 0 {
		s.fatalf("psx_syscall3(SYS_gettid) before the first psx call: %d, errno %d", r, e)
	}
	fmt.Println("ignored-before-first-call")
	if rc := cerrno.SetSensitivity(1); rc != 0 {
		s.fatalf("psx_set_sensitivity(PSX_WARNING) = %d", rc)
	}
	r1, _, e := psx.Syscall3(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	mustCall(s, "Syscall3(prctl(PR_GET_DUMPABLE))", 1, r1, e)
	fmt.Println("first-call-ok")
	r, _ := cerrno.Call3(0, syscall.SYS_GETTID, 0, 0, 0)
	fmt.Printf("survived: psx_syscall3(SYS_gettid) after the first call returned %d\n", r)
}

// scenarioForeign makes the package's first call, which must refuse a
// libpsx that is not this project's.
func scenarioForeign(s *sc) {
	r1, _, e := psx.Syscall3(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	fmt.Printf("survived: Syscall3 returned %d err %v\n", r1, e)
}

func TestSensitivityAsLibcap(t *testing.T) {
	out, err := spawn(t, "sensitivity")
	switch {
	case !strings.Contains(out, "ignored-before-first-call\n"):
		t.Fatalf("a diverging C call before the first psx call was not ignored (%v):\n%s", err, out)
	case !strings.Contains(out, "first-call-ok\n"):
		t.Fatalf("the first psx call failed (%v):\n%s", err, out)
	case strings.Contains(out, "survived") || err == nil:
		t.Fatalf("a diverging call after the first psx call did not end the program (%v):\n%s", err, out)
	}
	t.Logf("PSX_IGNORE before the first call, PSX_ERROR after it (the program ended: %v)", err)
}

// TestForeignLibraryRefused runs only where go/run-tests.sh builds the
// tests against another libpsx (PSX_GO_FOREIGN_LIBPSX, its path): the
// first call must fail and say which library was found and what to do.
func TestForeignLibraryRefused(t *testing.T) {
	want := os.Getenv("PSX_GO_FOREIGN_LIBPSX")
	if want == "" {
		t.Skip("needs PSX_GO_FOREIGN_LIBPSX: go/run-tests.sh runs it against Debian's libpsx")
	}
	out, err := spawn(t, "foreign")
	if err == nil || strings.Contains(out, "survived") ||
		!strings.Contains(out, "psx: the libpsx loaded is "+want) || !strings.Contains(out, "CGO_LDFLAGS=") {
		t.Fatalf("expected the first call to panic naming %s and how to fix it (%v):\n%s", want, err, out)
	}
	t.Logf("refused as it should (%v):\n%s", err, out)
}

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
		// Joined at run time: the literal text would be in this test
		// binary's own data, and so in every statically linked copy.
		marker = strings.Join([]string{"psx", "rust", "engine "}, "-")
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
