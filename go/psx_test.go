// SPDX-License-Identifier: BSD-3-Clause

package psx_test

// Each scenario runs in a fresh copy of the test binary (the binary
// re-executes itself with PSX_GO_SCENARIO set), because the state it
// changes (no_new_privs, the bounding set, user and group IDs) cannot be
// undone. Every scenario starts many OS threads, makes all-threads
// calls and then checks each thread through /proc/self/task/*/status
// and, on the threads it owns, with a prctl or getgid run on that
// thread itself. A failing scenario prints what every thread showed.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"psx.example/psx"
)

const (
	prGetDumpable     = 3
	prGetKeepcaps     = 7
	prSetKeepcaps     = 8
	prCapbsetRead     = 23
	prCapbsetDrop     = 24
	prSetNoNewPrivs   = 38
	prGetNoNewPrivs   = 39
	capSetgid         = 6
	capSetuid         = 7
	capSetpcap        = 8
	capMknod          = 27
	minus1            = ^uintptr(0)
	scenarioEnv       = "PSX_GO_SCENARIO"
	scenarioPassed    = "SCENARIO-PASSED"
	scenarioTimeout   = 45 * time.Second
	minThreads        = 16
	lockedThreads     = 12
	endedThreads      = 4
	readerThreads     = 3
	churnCalls        = 100
	churnersPerThread = 3
)

// ---------------------------------------------------------------------
// Scenario plumbing.

type sc struct{ name string }

func (s *sc) logf(format string, args ...interface{}) {
	fmt.Printf("["+s.name+"] "+format+"\n", args...)
}

func (s *sc) fatalf(format string, args ...interface{}) {
	fmt.Printf("FAIL ["+s.name+"]: "+format+"\n", args...)
	os.Exit(1)
}

var scenarios = map[string]func(*sc){
	"nnp-syscall3": func(s *sc) { scenarioNoNewPrivs(s, false) },
	"nnp-syscall6": func(s *sc) { scenarioNoNewPrivs(s, true) },
	"keepcaps":     scenarioKeepcaps,
	"errno":        scenarioErrno,
	"fail-first":   scenarioFailFirst,
	"churn":        scenarioChurn,
	"diverge":      scenarioDiverge,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(scenarioEnv); name != "" {
		fn, ok := scenarios[name]
		if !ok {
			fmt.Printf("FAIL: unknown scenario %q\n", name)
			os.Exit(1)
		}
		time.AfterFunc(scenarioTimeout, func() {
			fmt.Printf("FAIL [%s]: still running after %v (hung?)\n", name, scenarioTimeout)
			os.Exit(2)
		})
		s := &sc{name: name}
		fn(s)
		fmt.Printf("%s %s\n", scenarioPassed, name)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// spawn runs one scenario in a child process and returns its output.
func spawn(t *testing.T, name string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("cannot find the test binary: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), scenarioEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %v", scenarioTimeout+15*time.Second, err)
	}
	return string(out), err
}

func expectPass(t *testing.T, name string) {
	t.Helper()
	out, err := spawn(t, name)
	if err != nil || !strings.Contains(out, scenarioPassed+" "+name+"\n") {
		t.Fatalf("scenario %s failed (%v); its output:\n%s", name, err, out)
	}
	t.Logf("scenario %s output:\n%s", name, out)
}

// ---------------------------------------------------------------------
// Reading every thread's state.

type task struct {
	tid string
	f   map[string]string
}

func (t task) dead() bool {
	st := t.f["State"]
	return strings.HasPrefix(st, "Z") || strings.HasPrefix(st, "X")
}

func readTasks() []task {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fmt.Printf("FAIL: cannot read /proc/self/task: %v\n", err)
		os.Exit(1)
	}
	var tasks []task
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		if err != nil {
			continue // the thread ended in between
		}
		t := task{tid: e.Name(), f: map[string]string{}}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				t.f[k] = strings.TrimSpace(v)
			}
		}
		tasks = append(tasks, t)
	}
	sort.Slice(tasks, func(i, j int) bool {
		a, _ := strconv.Atoi(tasks[i].tid)
		b, _ := strconv.Atoi(tasks[j].tid)
		return a < b
	})
	return tasks
}

func liveTasks() []task {
	var live []task
	for _, t := range readTasks() {
		if !t.dead() {
			live = append(live, t)
		}
	}
	return live
}

func table(tasks []task, fields []string) string {
	var b strings.Builder
	for _, t := range tasks {
		fmt.Fprintf(&b, "  tid %-7s State=%q", t.tid, t.f["State"])
		for _, k := range fields {
			fmt.Fprintf(&b, " %s=%q", k, t.f[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checkTasks requires ok(t) for every live thread. A thread that is in
// the middle of exiting may still show its old state for an instant, so
// a mismatch must persist for 100ms on a thread that still exists.
func checkTasks(s *sc, what string, skip map[string]bool, ok func(task) bool, fields ...string) {
	first := readTasks()
	bad := map[string]bool{}
	n := 0
	for _, t := range first {
		if skip[t.tid] || t.dead() {
			continue
		}
		n++
		if !ok(t) {
			bad[t.tid] = true
		}
	}
	if len(bad) == 0 {
		s.logf("ok: %s: %d live threads checked", what, n)
		return
	}
	time.Sleep(100 * time.Millisecond)
	second := readTasks()
	var still []string
	for _, t := range second {
		if bad[t.tid] && !t.dead() && !ok(t) {
			still = append(still, t.tid)
		}
	}
	if len(still) == 0 {
		s.logf("ok: %s: %d live threads checked (%d exiting threads excluded)", what, n, len(bad))
		return
	}
	s.fatalf("%s: wrong on threads %v\nfirst look:\n%s100ms later:\n%s", what, still,
		table(first, fields), table(second, fields))
}

func fieldIs(k, want string) func(task) bool {
	return func(t task) bool { return t.f[k] == want }
}

func capHex(t task, k string) uint64 {
	v, err := strconv.ParseUint(t.f[k], 16, 64)
	if err != nil {
		return 0
	}
	return v
}

func requireRoot(s *sc) {
	if os.Geteuid() != 0 {
		s.fatalf("this scenario needs root (CAP_SETUID, CAP_SETGID, CAP_SETPCAP); euid is %d", os.Geteuid())
	}
}

func prctl(op uintptr, a ...uintptr) (uintptr, syscall.Errno) {
	var args [4]uintptr
	copy(args[:], a)
	r, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, op, args[0], args[1], args[2], args[3], 0)
	return r, e
}

// ---------------------------------------------------------------------
// A zoo of OS threads: goroutines locked to their threads and waiting,
// goroutines blocked in read(2) on pipes, and threads that have already
// ended because their goroutine returned while locked.

type probeResult struct {
	tid int
	val uintptr
	err syscall.Errno
}

type zoo struct {
	release chan struct{}
	probes  chan probeResult
	pipes   [][2]int
	reads   chan string
	tids    []int
}

func startZoo(s *sc, probe func() (uintptr, syscall.Errno)) *zoo {
	runtime.GOMAXPROCS(8)
	z := &zoo{
		release: make(chan struct{}),
		probes:  make(chan probeResult, lockedThreads),
		reads:   make(chan string, readerThreads),
	}
	var ended sync.WaitGroup
	for i := 0; i < endedThreads; i++ {
		ended.Add(1)
		go func() {
			defer ended.Done()
			runtime.LockOSThread() // returning while locked ends the thread
		}()
	}
	ready := make(chan int)
	for i := 0; i < lockedThreads; i++ {
		go func(i int) {
			runtime.LockOSThread()
			tid := syscall.Gettid()
			ready <- tid
			<-z.release
			v, e := probe()
			z.probes <- probeResult{tid, v, e}
			if i%2 == 0 {
				return // end this thread too
			}
			runtime.UnlockOSThread()
		}(i)
	}
	for i := 0; i < lockedThreads; i++ {
		z.tids = append(z.tids, <-ready)
	}
	for i := 0; i < readerThreads; i++ {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			s.fatalf("pipe2: %v", err)
		}
		z.pipes = append(z.pipes, p)
		go func(fd, i int) {
			buf := make([]byte, 4)
			n, err := syscall.Read(fd, buf)
			if err != nil || n != 1 || buf[0] != byte('a'+i) {
				z.reads <- fmt.Sprintf("reader %d: read returned n=%d err=%v data=%q (want 1 byte %q)",
					i, n, err, buf[:max(n, 0)], 'a'+i)
				return
			}
			z.reads <- ""
		}(p[0], i)
	}
	ended.Wait()
	time.Sleep(50 * time.Millisecond) // let the readers block and ended threads go
	live := liveTasks()
	if len(live) < minThreads {
		s.fatalf("only %d live threads, want at least %d:\n%s", len(live), minThreads, table(live, nil))
	}
	s.logf("zoo: %d live threads (%d locked, %d blocked in read, %d ended)",
		len(live), lockedThreads, readerThreads, endedThreads)
	return z
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// finish lets the locked goroutines run probe on their own threads and
// requires want from each, then wakes the readers, which must get their
// byte (a broadcast must not break a blocked read with EINTR).
func (z *zoo) finish(s *sc, what string, want uintptr) {
	close(z.release)
	var lines []string
	bad := false
	for i := 0; i < lockedThreads; i++ {
		select {
		case p := <-z.probes:
			mark := "ok"
			if p.val != want || p.err != 0 {
				mark, bad = "WRONG", true
			}
			lines = append(lines, fmt.Sprintf("  tid %d: %s = %d (errno %d) %s", p.tid, what, p.val, p.err, mark))
		case <-time.After(10 * time.Second):
			s.fatalf("locked thread %d of %d did not report", i+1, lockedThreads)
		}
	}
	if bad {
		s.fatalf("on the locked threads themselves, want %s = %d:\n%s", what, want, strings.Join(lines, "\n"))
	}
	s.logf("ok: %s = %d on each of the %d locked threads", what, want, lockedThreads)
	for i, p := range z.pipes {
		if _, err := syscall.Write(p[1], []byte{byte('a' + i)}); err != nil {
			s.fatalf("write to pipe %d: %v", i, err)
		}
	}
	for i := range z.pipes {
		select {
		case msg := <-z.reads:
			if msg != "" {
				s.fatalf("%s", msg)
			}
		case <-time.After(10 * time.Second):
			s.fatalf("reader %d did not return", i)
		}
	}
	s.logf("ok: %d blocked reads completed normally", readerThreads)
}

func probePrctl(op uintptr, args ...uintptr) func() (uintptr, syscall.Errno) {
	return func() (uintptr, syscall.Errno) { return prctl(op, args...) }
}

func mustCall(s *sc, what string, want uintptr, r1 uintptr, err syscall.Errno) {
	if r1 != want || err != 0 {
		s.fatalf("%s: got r1=%#x err=%d (%v), want r1=%#x err=0", what, r1, err, err, want)
	}
	s.logf("ok: %s returned %d", what, r1)
}

// ---------------------------------------------------------------------
// Scenarios.

func scenarioNoNewPrivs(s *sc, six bool) {
	checkTasks(s, "NoNewPrivs 0 before the call (a sandbox that sets no_new_privs makes this test impossible)",
		nil, fieldIs("NoNewPrivs", "0"), "NoNewPrivs")
	z := startZoo(s, probePrctl(prGetNoNewPrivs, 0, 0, 0, 0))
	if six {
		r1, _, e := psx.Syscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0)
		mustCall(s, "Syscall6(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))", 0, r1, e)
	} else {
		// prctl rejects this call unless arguments 4 and 5 are zero,
		// so this also checks that Syscall3 passes zeros for them.
		r1, _, e := psx.Syscall3(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0)
		mustCall(s, "Syscall3(prctl(PR_SET_NO_NEW_PRIVS, 1, 0))", 0, r1, e)
	}
	checkTasks(s, "NoNewPrivs 1 after the call", nil, fieldIs("NoNewPrivs", "1"), "NoNewPrivs")
	if !six {
		checkCSyscall3Zeros(s)
	}
	z.finish(s, "prctl(PR_GET_NO_NEW_PRIVS)", 1)
}

// scenarioKeepcaps sets PR_SET_KEEPCAPS on all threads, then changes
// every thread's user ID from 0 to 1000. The kernel keeps a thread's
// permitted capabilities across that change only if keepcaps is set on
// it, so CapPrm in /proc shows keepcaps thread by thread. One control
// thread clears its own keepcaps first and must lose CapPrm, which shows
// the check can tell the difference.
func scenarioKeepcaps(s *sc) {
	requireRoot(s)
	before := liveTasks()
	prm := capHex(before[0], "CapPrm")
	if prm == 0 || prm&(1<<capSetuid) == 0 {
		s.fatalf("need CAP_SETUID in CapPrm, have %#x", prm)
	}
	checkTasks(s, "Uid 0 and the same CapPrm before the calls", nil, func(t task) bool {
		return t.f["Uid"] == "0\t0\t0\t0" && capHex(t, "CapPrm") == prm
	}, "Uid", "CapPrm")
	if v, _ := prctl(prGetKeepcaps); v != 0 {
		s.fatalf("keepcaps is already %d before the call", v)
	}
	z := startZoo(s, probePrctl(prGetKeepcaps))

	control := make(chan int)
	controlGo := make(chan struct{})
	controlDone := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		control <- syscall.Gettid()
		<-controlGo
		if _, e := prctl(prSetKeepcaps, 0); e != 0 {
			fmt.Printf("FAIL: control thread: PR_SET_KEEPCAPS 0: %v\n", e)
			os.Exit(1)
		}
		close(controlDone)
		<-z.release
	}()
	controlTid := strconv.Itoa(<-control)

	r1, _, e := psx.Syscall3(syscall.SYS_PRCTL, prSetKeepcaps, 1, 0)
	mustCall(s, "Syscall3(prctl(PR_SET_KEEPCAPS, 1))", 0, r1, e)
	close(controlGo)
	<-controlDone
	r1, _, e = psx.Syscall3(syscall.SYS_SETRESUID, 1000, 1000, 1000)
	mustCall(s, "Syscall3(setresuid(1000, 1000, 1000))", 0, r1, e)

	skip := map[string]bool{controlTid: true}
	checkTasks(s, fmt.Sprintf("Uid 1000, CapPrm kept (%016x), CapEff empty", prm), skip, func(t task) bool {
		return t.f["Uid"] == "1000\t1000\t1000\t1000" && capHex(t, "CapPrm") == prm &&
			t.f["CapEff"] == "0000000000000000"
	}, "Uid", "CapPrm", "CapEff")
	b, err := os.ReadFile("/proc/self/task/" + controlTid + "/status")
	if err != nil || !bytes.Contains(b, []byte("\nCapPrm:\t0000000000000000\n")) ||
		!bytes.Contains(b, []byte("\nUid:\t1000\t1000\t1000\t1000\n")) {
		s.fatalf("control thread %s (keepcaps cleared) should show Uid 1000 and no CapPrm; err=%v status:\n%s",
			controlTid, err, b)
	}
	s.logf("ok: control thread %s without keepcaps lost CapPrm, as the kernel should", controlTid)
	z.finish(s, "prctl(PR_GET_KEEPCAPS)", 1)
}

func scenarioErrno(s *sc) {
	z := startZoo(s, probePrctl(prGetDumpable))
	type call struct {
		what  string
		six   bool
		nr    uintptr
		args  [6]uintptr
		r1    uintptr
		errno syscall.Errno
	}
	calls := []call{
		{"prctl(PR_GET_DUMPABLE)", false, syscall.SYS_PRCTL, [6]uintptr{prGetDumpable}, 1, 0},
		{"prctl(PR_SET_KEEPCAPS, 2)", false, syscall.SYS_PRCTL, [6]uintptr{prSetKeepcaps, 2}, minus1, syscall.EINVAL},
		{"prctl(PR_GET_KEEPCAPS) after a failure", true, syscall.SYS_PRCTL, [6]uintptr{prGetKeepcaps}, 0, 0},
		{"close(-1)", false, syscall.SYS_CLOSE, [6]uintptr{minus1}, minus1, syscall.EBADF},
		{"syscall 9999", true, 9999, [6]uintptr{}, minus1, syscall.ENOSYS},
		{"prctl(PR_GET_DUMPABLE) after a failure", true, syscall.SYS_PRCTL, [6]uintptr{prGetDumpable}, 1, 0},
	}
	for _, c := range calls {
		var r1 uintptr
		var e syscall.Errno
		name := "Syscall3"
		if c.six {
			name = "Syscall6"
			r1, _, e = psx.Syscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		} else {
			r1, _, e = psx.Syscall3(c.nr, c.args[0], c.args[1], c.args[2])
		}
		if r1 != c.r1 || e != c.errno {
			s.fatalf("%s(%s): got r1=%#x err=%d (%v), want r1=%#x err=%d (%v)",
				name, c.what, r1, e, e, c.r1, c.errno, c.errno)
		}
		s.logf("ok: %s(%s) = %#x, err %d (%v)", name, c.what, r1, e, e)
	}
	checkCErrno(s)
	checkGoCErrno(s)
	z.finish(s, "prctl(PR_GET_DUMPABLE)", 1)
}

// capData mirrors struct __user_cap_data_struct (version 3: two of them).
type capHeader struct {
	version uint32
	pid     int32
}
type capData struct{ effective, permitted, inheritable uint32 }

func capget(s *sc) [2]capData {
	h := capHeader{version: 0x20080522}
	var d [2]capData
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		s.fatalf("capget: %v", e)
	}
	return d
}

func capset(s *sc, d [2]capData) {
	h := capHeader{version: 0x20080522}
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		s.fatalf("capset: %v", e)
	}
}

// scenarioFailFirst makes the call fail on the calling thread only: it
// drops CAP_SETPCAP from this one thread's effective set, so
// prctl(PR_CAPBSET_DROP) fails here with EPERM while every other thread
// could run it. No other thread may lose the capability from its
// bounding set. Then, with CAP_SETPCAP back, the same call must succeed
// and reach every thread.
func scenarioFailFirst(s *sc) {
	requireRoot(s)
	bnd := capHex(liveTasks()[0], "CapBnd")
	drop := -1
	if bnd&(1<<capMknod) != 0 {
		drop = capMknod
	} else {
		for i := 0; i < 64; i++ {
			if bnd&(1<<i) != 0 && i != capSetpcap && i != capSetuid && i != capSetgid {
				drop = i
				break
			}
		}
	}
	if drop < 0 || bnd&(1<<capSetpcap) == 0 {
		s.fatalf("need CAP_SETPCAP and another capability in the bounding set, have %016x", bnd)
	}
	z := startZoo(s, probePrctl(prCapbsetRead, uintptr(drop)))

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	me := strconv.Itoa(syscall.Gettid())
	orig := capget(s)
	if orig[0].effective&(1<<capSetpcap) == 0 {
		s.fatalf("CAP_SETPCAP is not in the effective set: %+v", orig)
	}
	less := orig
	less[0].effective &^= 1 << capSetpcap
	capset(s, less)

	checkTasks(s, "only the caller lacks CAP_SETPCAP in CapEff", nil, func(t task) bool {
		has := capHex(t, "CapEff")&(1<<capSetpcap) != 0
		return has == (t.tid != me)
	}, "CapEff")

	r1, _, e := psx.Syscall3(syscall.SYS_PRCTL, prCapbsetDrop, uintptr(drop), 0)
	if r1 != minus1 || e != syscall.EPERM {
		s.fatalf("Syscall3(prctl(PR_CAPBSET_DROP, %d)) without CAP_SETPCAP on the caller: got r1=%#x err=%v, want -1 EPERM",
			drop, r1, e)
	}
	s.logf("ok: the call failed on the caller with EPERM")
	checkTasks(s, fmt.Sprintf("capability %d still in every thread's CapBnd after the failed call", drop), nil,
		func(t task) bool { return capHex(t, "CapBnd")&(1<<drop) != 0 }, "CapBnd")

	capset(s, orig)
	r1, _, e = psx.Syscall6(syscall.SYS_PRCTL, prCapbsetDrop, uintptr(drop), 0, 0, 0, 0)
	mustCall(s, fmt.Sprintf("Syscall6(prctl(PR_CAPBSET_DROP, %d)) with CAP_SETPCAP back", drop), 0, r1, e)
	checkTasks(s, fmt.Sprintf("capability %d gone from every thread's CapBnd", drop), nil,
		func(t task) bool { return capHex(t, "CapBnd")&(1<<drop) == 0 }, "CapBnd")
	z.finish(s, fmt.Sprintf("prctl(PR_CAPBSET_READ, %d)", drop), 0)
}

// scenarioChurn calls while threads are being created and ended all the
// time: after every call, every live thread must have the new group IDs.
func scenarioChurn(s *sc) {
	requireRoot(s)
	z := startZoo(s, func() (uintptr, syscall.Errno) {
		r, _, e := syscall.RawSyscall(syscall.SYS_GETGID, 0, 0, 0)
		return r, e
	})
	stop := make(chan struct{})
	var ended int64
	var wg sync.WaitGroup
	for i := 0; i < churnersPerThread; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				done := make(chan struct{})
				go func() {
					runtime.LockOSThread() // the thread ends when this returns
					close(done)
				}()
				<-done
				atomic.AddInt64(&ended, 1)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	var g uintptr
	start := time.Now()
	for i := 0; i < churnCalls; i++ {
		g = uintptr(3000 + i)
		r1, _, e := psx.Syscall3(syscall.SYS_SETRESGID, g, g, g)
		if r1 != 0 || e != 0 {
			s.fatalf("call %d: Syscall3(setresgid(%d)) = %#x, %v", i, g, r1, e)
		}
		want := fmt.Sprintf("%d\t%d\t%d\t%d", g, g, g, g)
		if i%10 == 9 {
			checkTasks(s, fmt.Sprintf("Gid %d after call %d during churn", g, i), nil, fieldIs("Gid", want), "Gid")
		} else {
			checkQuiet(s, fmt.Sprintf("Gid %d after call %d during churn", g, i), fieldIs("Gid", want), "Gid")
		}
		r1, _, e = psx.Syscall6(syscall.SYS_PRCTL, prSetKeepcaps, uintptr(i&1), 0, 0, 0, 0)
		if r1 != 0 || e != 0 {
			s.fatalf("call %d: Syscall6(prctl(PR_SET_KEEPCAPS, %d)) = %#x, %v", i, i&1, r1, e)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	n := atomic.LoadInt64(&ended)
	s.logf("%d calls in %v while %d threads ended (and as many were created)", 2*churnCalls, elapsed, n)
	if n < churnCalls {
		s.fatalf("only %d threads ended during %d calls: not enough churn to test anything", n, 2*churnCalls)
	}
	want := fmt.Sprintf("%d\t%d\t%d\t%d", g, g, g, g)
	checkTasks(s, fmt.Sprintf("Gid %d after the churn", g), nil, fieldIs("Gid", want), "Gid")
	z.finish(s, "getgid()", g)
}

// checkQuiet is checkTasks without the log line on success.
func checkQuiet(s *sc, what string, ok func(task) bool, fields ...string) {
	for _, t := range readTasks() {
		if !t.dead() && !ok(t) {
			checkTasks(s, what, nil, ok, fields...)
			return
		}
	}
}

// scenarioDiverge makes a call whose result differs on every thread
// (gettid). The package promises that this ends the program (PSX_ERROR
// with cgo, the Go runtime's own check without), so the scenario must
// not get to print "survived".
func scenarioDiverge(s *sc) {
	startZoo(s, probePrctl(prGetDumpable))
	r1, _, e := psx.Syscall3(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	mustCall(s, "Syscall3(prctl(PR_GET_DUMPABLE))", 1, r1, e)
	fmt.Println("before-diverge-ok")
	r1, _, e = psx.Syscall3(syscall.SYS_GETTID, 0, 0, 0)
	fmt.Printf("survived: gettid through psx returned %d err %v\n", r1, e)
}

// ---------------------------------------------------------------------
// Tests.

func TestNoNewPrivsSyscall3(t *testing.T) { expectPass(t, "nnp-syscall3") }
func TestNoNewPrivsSyscall6(t *testing.T) { expectPass(t, "nnp-syscall6") }
func TestKeepcapsAllThreads(t *testing.T) { expectPass(t, "keepcaps") }
func TestErrno(t *testing.T)              { expectPass(t, "errno") }
func TestFailingCallTouchesNoOtherThread(t *testing.T) {
	expectPass(t, "fail-first")
}
func TestThreadChurn(t *testing.T) { expectPass(t, "churn") }

func TestDivergingThreadsEndTheProgram(t *testing.T) {
	out, err := spawn(t, "diverge")
	switch {
	case !strings.Contains(out, "before-diverge-ok\n"):
		t.Fatalf("the scenario did not get to the diverging call (%v):\n%s", err, out)
	case strings.Contains(out, "survived"):
		t.Fatalf("threads returned different results and the program went on (%v):\n%s", err, out)
	case err == nil:
		t.Fatalf("the program exited with status 0 after the diverging call:\n%s", out)
	}
	lines := strings.SplitAfter(out, "\n")
	if len(lines) > 12 {
		lines = append(lines[:12], "  [...]\n")
	}
	t.Logf("the program ended as it should (%v); its output began:\n%s", err, strings.Join(lines, ""))
}
