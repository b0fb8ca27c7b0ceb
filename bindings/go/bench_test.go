package procroot_test

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"example.invalid/procroot"
	"example.invalid/procroot/procfsroot"
)

// Benchmarks for scripts/bench-bindings.sh: PROCROOT_BENCH_ROOT is the fixture root and
// PROCROOT_BENCH_PATH the depth-8 path with 4 symlinks in it.
func benchEnv(b *testing.B) (string, string) {
	root, path := os.Getenv("PROCROOT_BENCH_ROOT"), os.Getenv("PROCROOT_BENCH_PATH")
	if root == "" || path == "" {
		b.Skip("PROCROOT_BENCH_ROOT / PROCROOT_BENCH_PATH not set (scripts/bench-bindings.sh)")
	}
	return root, path
}

// openHow is struct open_how.
type openHow struct{ flags, mode, resolve uint64 }

const (
	sysOpenat2     = 437
	resolveNoMagic = 0x02
	resolveInRoot  = 0x10
	oPath          = 0x200000
)

func BenchmarkRawOpenat2(b *testing.B) {
	dir, path := benchEnv(b)
	d, err := syscall.Open(dir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(d)
	p, _ := syscall.BytePtrFromString(path)
	how := openHow{flags: oPath | syscall.O_CLOEXEC, resolve: resolveInRoot | resolveNoMagic}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fd, _, e := syscall.Syscall6(sysOpenat2, uintptr(d), uintptr(unsafe.Pointer(p)),
			uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		if e != 0 {
			b.Fatal(e)
		}
		syscall.Close(int(fd))
	}
}

// BenchmarkRawOpenat2File is BenchmarkRawOpenat2 with the fd wrapped in an *os.File and closed
// through it, as Resolve returns it: the cost of the *os.File itself.
func BenchmarkRawOpenat2File(b *testing.B) {
	dir, path := benchEnv(b)
	d, err := syscall.Open(dir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(d)
	p, _ := syscall.BytePtrFromString(path)
	how := openHow{flags: oPath | syscall.O_CLOEXEC, resolve: resolveInRoot | resolveNoMagic}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fd, _, e := syscall.Syscall6(sysOpenat2, uintptr(d), uintptr(unsafe.Pointer(p)),
			uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		if e != 0 {
			b.Fatal(e)
		}
		os.NewFile(fd, path).Close()
	}
}

// BenchmarkCgoCall is one cgo call into libprocroot that does no work (procroot_root_fd):
// the cgo overhead.
func BenchmarkCgoCall(b *testing.B) {
	dir, _ := benchEnv(b)
	r, err := procroot.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Fd(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	dir, path := benchEnv(b)
	r, err := procroot.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := r.Resolve(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkRootEvalSymlinks(b *testing.B) {
	dir, path := benchEnv(b)
	r, err := procroot.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.EvalSymlinks(path, procroot.EvalFull); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDropInEvalSymlinks is procfsroot.EvalSymlinks as an lxkns user calls it: the root
// opened, the path evaluated, the root closed, every call.
func BenchmarkDropInEvalSymlinks(b *testing.B) {
	dir, path := benchEnv(b)
	for i := 0; i < b.N; i++ {
		if _, err := procfsroot.EvalSymlinks(path, dir, procfsroot.EvalFullPath); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDropInEvalSymlinksPidRoot is the drop-in with root /proc/<our pid>/root and the
// fixture's absolute path: the pidfd-pinned root opened (and closed) on every call.
func BenchmarkDropInEvalSymlinksPidRoot(b *testing.B) {
	dir, path := benchEnv(b)
	root := "/proc/" + strconv.Itoa(os.Getpid()) + "/root"
	full := dir + "/" + path
	for i := 0; i < b.N; i++ {
		if _, err := procfsroot.EvalSymlinks(full, root, procfsroot.EvalFullPath); err != nil {
			b.Fatal(err)
		}
	}
}
