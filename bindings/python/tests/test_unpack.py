"""Root.apply_layer: a container image layer applied through the C API, from a real file and
from any object with read() (through a pipe), never writing outside the root."""
import gzip
import io
import os
import tarfile

import pytest

import procroot


def _layer(sentinel):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(name, kind=tarfile.REGTYPE, data=b"", link=""):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.linkname = kind, 0o644, link
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data else None)
        add("etc", tarfile.DIRTYPE)
        add("etc/hostname", data=b"inside\n")
        add("etc/hostname2", tarfile.LNKTYPE, link="etc/hostname")
        add("host", tarfile.SYMTYPE, link=str(sentinel))
        add("../../escaped", data=b"x")
        add("host/planted", data=b"y")
    return buf.getvalue()


def _check(root_dir, sentinel, report):
    assert (root_dir / "etc/hostname").read_bytes() == b"inside\n"
    assert os.path.samefile(root_dir / "etc/hostname", root_dir / "etc/hostname2")
    # The symlink's target resolves inside the root, never to the host's sentinel.
    assert not (sentinel / "planted").exists()
    assert (root_dir / str(sentinel).lstrip("/") / "planted").exists()
    assert not (root_dir.parent.parent / "escaped").exists()
    assert (report.files, report.hardlinks, report.symlinks, report.skipped) == (2, 1, 1, 1)


def test_apply_layer_from_a_file_and_from_a_reader(tmp_path):
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    layer = _layer(sentinel)
    path = tmp_path / "layer.tar"
    path.write_bytes(layer)
    # The symlink's target, inside the root (a parent is never made through a symlink).
    a = tmp_path / "a" / "root"
    (a / str(sentinel).lstrip("/")).mkdir(parents=True)
    with procroot.Root(a) as root, open(path, "rb") as f:
        report = root.apply_layer(f, same_owner=False)
    assert report.compression == "none"
    _check(a, sentinel, report)
    # Any object with read(), gzip-compressed: through a pipe fed by a thread.
    b = tmp_path / "b" / "root"
    (b / str(sentinel).lstrip("/")).mkdir(parents=True)
    with procroot.Root(b) as root:
        report = root.apply_layer(io.BytesIO(gzip.compress(layer)), same_owner=False)
    assert report.compression == "gzip"
    _check(b, sentinel, report)
    assert sorted(os.listdir(sentinel)) == []


def test_a_failing_reader_is_the_error_raised(tmp_path):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            raise ValueError("the reader failed")

    with procroot.Root(tmp_path) as root:
        with pytest.raises(ValueError, match="the reader failed"):
            root.apply_layer(Broken())
        # A corrupt header: the library's error, an OSError with an errno.
        bad = bytearray(1024)
        bad[0:4] = b"file"
        bad[148:155] = b"1234567"
        with pytest.raises(procroot.ProcrootError) as e:
            root.apply_layer(io.BytesIO(bytes(bad)))
        assert e.value.errno
