package procroot

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"example.invalid/procroot/internal/capi"
)

// WalkOptions are the options of WalkDirWith; the zero value is WalkDir's behaviour.
type WalkOptions struct {
	// FollowLinks follows symlinks, resolved inside the root (an absolute target starts at
	// the root); a directory that is its own ancestor is an ELOOP error for that path.
	FollowLinks bool
	// CrossMounts enters directories on other mounts; by default they are passed to fn but
	// not entered (as find -xdev).
	CrossMounts bool
	// MaxDepth, when positive, is the deepest level entered below root (1: root's entries);
	// directories at that depth are passed to fn but not read. 0 is no limit.
	MaxDepth int
}

// WalkDir walks the tree at root inside the root directory r, calling fn for each file and
// directory, root included, as filepath.WalkDir does: in lexical order, paths made of root
// and the names below it, fs.SkipDir and SkipAll (fs.SkipAll from Go 1.20) honoured, a directory that cannot be read
// passed to fn a second time with its error. Unlike filepath.WalkDir it never leaves r:
// root is resolved inside r (a symlink there is followed inside r), every directory below it
// is opened by its parent's descriptor and its name without following symlinks, symlinks are
// passed to fn as symlinks and never followed, and directories on other mounts are passed to
// fn but not entered (see WalkDirWith). An error that is not about one entry (ELOOP of a
// followed cycle, a name that vanished) is passed to fn with a nil DirEntry.
//
// d.Info() reads the entry's metadata then, through the root (as os.DirEntry's Info reads it
// by path then); Type() and IsDir() are from the directory listing and cost nothing.
func (r *Root) WalkDir(root string, fn fs.WalkDirFunc) error {
	return r.WalkDirWith(root, WalkOptions{}, fn)
}

// WalkDirWith is WalkDir with options.
func (r *Root) WalkDirWith(root string, opts WalkOptions, fn fs.WalkDirFunc) error {
	flags := capi.WalkSort
	if opts.FollowLinks {
		flags |= capi.WalkFollowLinks
	}
	if opts.CrossMounts {
		flags |= capi.WalkCrossMounts
	}
	maxDepth := int64(-1)
	if opts.MaxDepth > 0 {
		maxDepth = int64(opts.MaxDepth)
	}
	var w *capi.Walk
	// The walk holds its own reference to the root: the lock is not held while fn runs, so fn
	// may use r (and a Close meanwhile does not free what the walk uses).
	err := r.use(func(c *capi.Root) (err error) {
		w, err = c.WalkOpen(root, flags, 0, maxDepth)
		return err
	})
	if err != nil {
		return skipped(fn(root, nil, err))
	}
	defer w.Free()
	start := ""
	var last *dirEntry
	for {
		e, ok, werr := w.Next()
		if !ok {
			return nil
		}
		if werr != nil {
			path := root
			if start != "" || e.Path != "" {
				path = goPath(root, start, e.Path)
			}
			var d fs.DirEntry
			if last != nil && last.path == e.Path {
				d = last
			}
			if err := fn(path, d, werr); err != nil {
				if err == fs.SkipDir {
					w.SkipCurrentDir()
					continue
				}
				return skipped(err)
			}
			continue
		}
		if e.Depth == 0 {
			start = e.Path
		}
		last = &dirEntry{r: r, path: e.Path, entry: e}
		if err := fn(goPath(root, start, e.Path), last, nil); err != nil {
			if err == fs.SkipDir {
				if e.Depth == 0 && e.Type == capi.TypeDir {
					return nil
				}
				w.SkipCurrentDir()
				continue
			}
			return skipped(err)
		}
	}
}

// skipped is fn's result as WalkDir returns it: SkipAll and SkipDir end the walk without error.
func skipped(err error) error {
	if err == SkipAll || err == fs.SkipDir {
		return nil
	}
	return err
}

// goPath is the path fn sees: root, then what entry (a path inside the root) adds to start
// (the path inside the root that root resolved to), as filepath.WalkDir joins names.
func goPath(root, start, entry string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(entry, start), "/")
	if rel == "" || start == "" {
		return root
	}
	return filepath.Join(root, rel)
}

// dirEntry is the fs.DirEntry WalkDir passes.
type dirEntry struct {
	r     *Root
	path  string // inside the root
	entry capi.WalkEntry
}

func (d *dirEntry) Name() string {
	if d.path == "/" {
		return "/"
	}
	return d.path[strings.LastIndexByte(d.path, '/')+1:]
}

func (d *dirEntry) IsDir() bool { return d.entry.Type == capi.TypeDir }

func (d *dirEntry) Type() fs.FileMode {
	switch d.entry.Type {
	case capi.TypeDir:
		return fs.ModeDir
	case capi.TypeSymlink:
		return fs.ModeSymlink
	case capi.TypeFifo:
		return fs.ModeNamedPipe
	case capi.TypeSocket:
		return fs.ModeSocket
	case capi.TypeCharDevice:
		return fs.ModeDevice | fs.ModeCharDevice
	case capi.TypeBlockDevice:
		return fs.ModeDevice
	case capi.TypeFile:
		return 0
	}
	return fs.ModeIrregular
}

// Info stats the entry through the root: the link itself, or for a followed link its target.
func (d *dirEntry) Info() (fs.FileInfo, error) {
	var f *os.File
	var err error
	if d.entry.IsFollowedLink {
		f, err = d.r.Resolve(d.path)
	} else {
		f, err = d.r.ResolveNoFollow(d.path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: d.path, Err: err}
	}
	return &fileInfo{name: d.Name(), st: st}, nil
}

// fileInfo is an fs.FileInfo from a Stat_t (os.FileInfo's Sys() is the *syscall.Stat_t too).
type fileInfo struct {
	name string
	st   syscall.Stat_t
}

func (fi *fileInfo) Name() string { return fi.name }
func (fi *fileInfo) Size() int64  { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode {
	mode := fs.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	}
	if fi.st.Mode&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if fi.st.Mode&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if fi.st.Mode&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Sec, fi.st.Mtim.Nsec) }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.st }
