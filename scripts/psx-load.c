/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libpsx_load.o: linked into every program that links -lpsx against the
 * shared library (build/lib/libpsx.so is a GNU ld script naming this
 * object and libpsx.so.2).
 *
 * libcap.so.2 carries a weak psx_load_syscalls of its own. The dynamic
 * linker binds the first definition it finds in load order, so with
 * `-lcap -lpsx` libcap would bind its own and change only the calling
 * thread. A definition inside the executable comes first in every lookup,
 * and ld exports it whenever a shared library of the link (libcap.so.2)
 * names the symbol: libcap then reaches every thread whatever the order.
 * The definition is strong, so it also beats libcap.a's weak one when
 * libcap is linked statically. Its references to psx_syscall3/6 keep
 * libpsx.so.2 in the program's NEEDED list under -Wl,--as-needed.
 *
 * The .gnu.linkonce section: a link line naming -lpsx twice (Go's cgo does,
 * and so do repeated pkg-config flags) links this object twice; the linker
 * keeps one copy of a linkonce section and drops the symbols of the others
 * instead of reporting a multiple definition.
 */
#include <stddef.h>
#include <sys/psx_syscall.h>

__attribute__((section(".gnu.linkonce.t.psx_load_syscalls")))
void psx_load_syscalls(long (**fn3)(long, long, long, long),
                       long (**fn6)(long, long, long, long, long, long, long))
{
    if (fn3 != NULL) {
        *fn3 = psx_syscall3;
    }
    if (fn6 != NULL) {
        *fn6 = psx_syscall6;
    }
}
