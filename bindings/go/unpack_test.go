package procroot_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"example.invalid/procroot"
)

// layerBytes is a tar layer: a directory, a file, a hard link to it, a symlink to the host's
// sentinel, an entry that climbs out of the root, and a file written through the symlink's name
// as a parent (which must land inside the root).
func layerBytes(t *testing.T, sentinel string) []byte {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	add := func(h *tar.Header, data string) {
		h.Size = int64(len(data))
		must(t, w.WriteHeader(h))
		if data != "" {
			_, err := w.Write([]byte(data))
			must(t, err)
		}
	}
	add(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644}, "inside\n")
	add(&tar.Header{Name: "etc/hostname2", Typeflag: tar.TypeLink, Linkname: "etc/hostname"}, "")
	add(&tar.Header{Name: "host", Typeflag: tar.TypeSymlink, Linkname: sentinel}, "")
	add(&tar.Header{Name: "../../escaped", Typeflag: tar.TypeReg, Mode: 0o644}, "x")
	add(&tar.Header{Name: "host/planted", Typeflag: tar.TypeReg, Mode: 0o644}, "y")
	must(t, w.Close())
	return buf.Bytes()
}

func checkLayer(t *testing.T, dir, sentinel string, rep procroot.LayerReport) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, "etc/hostname"))
	must(t, err)
	if string(got) != "inside\n" {
		t.Fatalf("etc/hostname = %q", got)
	}
	a, _ := os.Stat(filepath.Join(dir, "etc/hostname"))
	b, _ := os.Stat(filepath.Join(dir, "etc/hostname2"))
	if !os.SameFile(a, b) {
		t.Fatal("etc/hostname2 is not a hard link of etc/hostname")
	}
	// The symlink's target is resolved inside the root: planted lands at <root><sentinel>
	// (made before the layer: a parent is never made through a symlink).
	if _, err := os.Stat(filepath.Join(sentinel, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file was written through the symlink to the host: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, sentinel, "planted")); err != nil {
		t.Fatalf("the file under the symlink did not land inside the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(dir)), "escaped")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("../../escaped was written outside the root: %v", err)
	}
	if rep.Files != 2 || rep.Hardlinks != 1 || rep.Symlinks != 1 || rep.Skipped != 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestApplyLayerFromAFileAndFromAReader(t *testing.T) {
	sentinel := t.TempDir()
	layer := layerBytes(t, sentinel)
	opts := procroot.LayerOptions{NoSameOwner: true}

	// From an *os.File: read directly.
	dir := filepath.Join(t.TempDir(), "a", "root")
	must(t, os.MkdirAll(filepath.Join(dir, sentinel), 0o755))
	path := filepath.Join(t.TempDir(), "layer.tar")
	must(t, os.WriteFile(path, layer, 0o644))
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	root, err := procroot.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	rep, err := root.ApplyLayer(f, opts)
	must(t, err)
	if rep.Compression != "none" {
		t.Fatalf("compression %q", rep.Compression)
	}
	checkLayer(t, dir, sentinel, rep)

	// From any reader, gzip-compressed: through a pipe.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(layer)
	must(t, err)
	must(t, zw.Close())
	dir2 := filepath.Join(t.TempDir(), "b", "root")
	must(t, os.MkdirAll(filepath.Join(dir2, sentinel), 0o755))
	root2, err := procroot.OpenRoot(dir2)
	must(t, err)
	defer root2.Close()
	rep, err = root2.ApplyLayer(iotest.OneByteReader(bytes.NewReader(gz.Bytes())), opts)
	must(t, err)
	if rep.Compression != "gzip" {
		t.Fatalf("compression %q", rep.Compression)
	}
	checkLayer(t, dir2, sentinel, rep)
}

func TestApplyLayerReportsAReaderFailureAndACorruptLayer(t *testing.T) {
	dir := t.TempDir()
	root, err := procroot.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	boom := errors.New("the reader failed")
	_, err = root.ApplyLayer(iotest.ErrReader(boom), procroot.LayerOptions{})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the reader's error", err)
	}
	// A tar header with a wrong checksum: the library's error, with an errno.
	bad := make([]byte, 1024)
	copy(bad, "file")
	copy(bad[100:], "0000644")
	copy(bad[148:], "1234567")
	_, err = root.ApplyLayer(bytes.NewReader(bad), procroot.LayerOptions{})
	var perr *procroot.Error
	if !errors.As(err, &perr) || perr.Errno == 0 {
		t.Fatalf("got %v, want a procroot error", err)
	}
}
