// SPDX-License-Identifier: BSD-3-Clause

//go:build cgo

package psx

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// marker is in every build of psx's engine (src/lib.rs), shared or static.
// Joined at run time so that the text is not in this package's own code,
// which is in the same executable when the archive is linked.
var marker = strings.Join([]string{"psx", "rust", "engine "}, "-")

const howToFix = "point cgo at psx's library: " +
	"CGO_CFLAGS=-I<psx>/include CGO_LDFLAGS='-L<psx>/lib -Wl,-rpath,<psx>/lib' go build " +
	"(or use $(pkg-config --cflags libpsx) and $(pkg-config --libs-only-L libpsx) with psx's libpsx.pc)"

// foreignLibrary says why the libpsx in this process is not psx's, or ""
// when it is. The header check (PSX_RUST_ENGINE) catches most mix-ups at
// build time; this catches psx's header with another library, which
// happens when CGO_CFLAGS names psx's include directory but -lpsx finds
// libcap's libpsx.so in a system directory (the SONAME is the same).
func foreignLibrary() string {
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return "" // cannot tell: do not refuse a working program
	}
	defer maps.Close()
	seen := map[string]bool{}
	var mapped []string
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 6 && strings.HasPrefix(filepath.Base(f[5]), "libpsx") && !seen[f[5]] {
			seen[f[5]] = true
			mapped = append(mapped, f[5])
		}
	}
	// No libpsx shared object: the library was linked from an archive,
	// into the executable itself.
	if len(mapped) == 0 {
		exe, err := os.Readlink("/proc/self/exe")
		if err != nil {
			return ""
		}
		if has, err := contains(exe, marker); err == nil && !has {
			return fmt.Sprintf("psx: the libpsx archive linked into %s is not psx's "+
				"(no %q marker; libcap's libpsx.a?): %s", exe, marker, howToFix)
		}
		return ""
	}
	for _, p := range mapped {
		if has, err := contains(p, marker); err == nil && !has {
			return fmt.Sprintf("psx: the libpsx loaded is %s, which is not psx's "+
				"(no %q marker; libcap's libpsx.so.2 has the same name): %s", p, marker, howToFix)
		}
	}
	return ""
}

func contains(path, s string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	return bytes.Contains(b, []byte(s)), nil
}
