package procroot

import (
	"errors"
	"io"
	"os"
	"syscall"

	"example.invalid/procroot/internal/capi"
)

// LayerOptions are the options of ApplyLayer. The zero value is what `tar -xp` does as root,
// with the safe choices: owners from the archive, device nodes skipped, symlinked parents
// followed inside the root, directories never replaced by non-directories.
type LayerOptions struct {
	// NoSameOwner gives entries the caller's owner, not the archive's (set-ID bits dropped).
	NoSameOwner bool
	// SpecialFiles makes device nodes (needs CAP_MKNOD); otherwise they are skipped.
	SpecialFiles bool
	// NoDirlinks skips an entry whose parent path crosses a symlink.
	NoDirlinks bool
	// OverwriteDirs lets a non-directory entry replace an existing directory (removed with
	// its tree, on this mount only).
	OverwriteDirs bool
}

// LayerReport is what ApplyLayer did.
type LayerReport struct {
	// Entries made, by type (directories: made or updated).
	Files, Dirs, Symlinks, Hardlinks, FIFOs, CharDevices, BlockDevices uint64
	// BytesWritten is the file data written.
	BytesWritten uint64
	// Whiteouts and OpaqueDirs count the whiteouts and opaque markers applied.
	Whiteouts, OpaqueDirs uint64
	// Skipped counts the entries (or attributes) skipped or refused: a name above the root, a
	// hard link out of it, a device node without SpecialFiles...
	Skipped uint64
	// Compression is "none", "gzip" or "zstd", from the layer's first bytes.
	Compression string
}

// ApplyLayer applies one container image layer (a tar stream, plain, gzip or zstd) read from
// layer to the root, with the OCI image-spec's layer semantics, never writing outside the root:
// names are paths inside the root, parent directories are resolved inside it, nothing is
// written through a symlink, hard links and whiteouts stay inside it. A refused entry is
// skipped and counted; any other failure stops the layer, and what was applied stays applied.
//
// An *os.File is read directly, from its current offset; any other reader is copied to the
// library through a pipe by a goroutine, which ends with the call.
func (r *Root) ApplyLayer(layer io.Reader, opts LayerOptions) (LayerReport, error) {
	var flags uint32
	if opts.NoSameOwner {
		flags |= capi.LayerNoSameOwner
	}
	if opts.SpecialFiles {
		flags |= capi.LayerSpecialFiles
	}
	if opts.NoDirlinks {
		flags |= capi.LayerNoDirlinks
	}
	if opts.OverwriteDirs {
		flags |= capi.LayerOverwriteDirs
	}
	var raw capi.LayerReport
	apply := func(fd int) error {
		return r.use(func(c *capi.Root) error {
			var err error
			raw, err = c.ApplyLayer(fd, flags)
			return err
		})
	}
	var err error
	if f, ok := layer.(*os.File); ok && f != nil && isRegular(f) {
		err = capi.WithFile(f, "layer", apply)
	} else {
		// A pipe, socket or terminal *os.File is non-blocking under Go's poller, which a C
		// read(2) would see as EAGAIN: it is copied through a pipe of our own, as any reader.
		err = applyThroughPipe(layer, apply)
	}
	if err != nil {
		return LayerReport{}, err
	}
	compression := map[int]string{capi.CompressionNone: "none", capi.CompressionGzip: "gzip",
		capi.CompressionZstd: "zstd"}[raw.Compression]
	return LayerReport{
		Files: raw.Files, Dirs: raw.Dirs, Symlinks: raw.Symlinks, Hardlinks: raw.Hardlinks,
		FIFOs: raw.FIFOs, CharDevices: raw.CharDevices, BlockDevices: raw.BlockDevices,
		BytesWritten: raw.BytesWritten, Whiteouts: raw.Whiteouts, OpaqueDirs: raw.OpaqueDirs,
		Skipped: raw.Skipped, Compression: compression,
	}, nil
}

func isRegular(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

// applyThroughPipe runs apply on the read end of a pipe that a goroutine fills from layer. A
// failure to read layer is the error (the library then saw a truncated stream); the library
// stopping early ends the copy (EPIPE on the write end), which is not. The read end is a raw,
// blocking fd, never under Go's poller (which would make it non-blocking).
func applyThroughPipe(layer io.Reader, apply func(fd int) error) error {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	pw := os.NewFile(uintptr(fds[1]), "layer pipe")
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(pw, layer)
		pw.Close()
		copied <- err
	}()
	applyErr := apply(fds[0])
	syscall.Close(fds[0]) // a copy still writing gets EPIPE and ends
	copyErr := <-copied
	if copyErr != nil && !errors.Is(copyErr, syscall.EPIPE) {
		return copyErr
	}
	return applyErr
}
