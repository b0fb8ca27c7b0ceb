package procroot_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"example.invalid/procroot"
)

// inPrivateMountNS runs f on a thread of its own with private mount and UTS namespaces, and
// lets that thread die afterwards, so nothing reaches the host's mounts or the other threads.
func inPrivateMountNS(t *testing.T, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := syscall.Unshare(syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		f()
	}()
	<-done
}

func TestContainerLayer(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"proc", "ro", "mdir"} {
		must(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644))
	must(t, os.Symlink("proc", filepath.Join(dir, "proc-link")))
	inPrivateMountNS(t, func() {
		root, err := procroot.OpenRoot(dir)
		if err != nil {
			t.Error(err)
			return
		}
		defer root.Close()
		res, err := root.MaskPaths("secret", "missing", "mdir")
		if err != nil || res[0] != nil || res[1] != procroot.ErrSkipped || res[2] != nil {
			t.Errorf("mask: %v %v", res, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "secret")); len(b) != 0 {
			t.Errorf("masked file reads %q", b)
		}
		res, err = root.MakeReadonly("ro")
		if err != nil || res[0] != nil {
			t.Errorf("readonly: %v %v", res, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ro/x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
			t.Errorf("write in read-only: %v", err)
		}
		if err := root.MountProcfs("proc", procroot.ProcfsMountOptions{}); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "proc/self/stat")); err != nil {
			t.Errorf("procfs not mounted: %v", err)
		}
		err = root.MountProcfs("proc-link", procroot.ProcfsMountOptions{})
		var perr *procroot.Error
		if !errors.Is(err, syscall.ELOOP) || !errors.As(err, &perr) || perr.Kind != procroot.KindSafetyViolation {
			t.Errorf("mount on a symlink: %v", err)
		}
		if err := root.MountProcfs("proc", procroot.ProcfsMountOptions{HidePid: "bogus"}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("bad hidepid: %v", err)
		}
		if err := procroot.WriteSysctl("kernel.hostname", "go-capi"); err != nil {
			t.Error(err)
		}
		if h, _ := os.Hostname(); h != "go-capi" {
			t.Errorf("hostname %q", h)
		}
		if err := procroot.WriteSysctl("../x", "1"); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("bad sysctl name: %v", err)
		}
	})
}
