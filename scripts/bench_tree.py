"""The test tree scripts/bench-cp.py and scripts/bench-coreutils.py copy and remove (issue 20):
DIRS directories of FILES files of 1 KiB, every 10th with an access ACL and a `user.*` xattr,
every 10th a second name (a hard link in the next directory), and SPARSE sparse files of 64 MiB
with three 4 KiB extents, so that the copy's ACL, xattr, hard-link and hole paths all run."""
import os
import struct

# u::rw-,u:65534:---,g::r--,m::r--,o::r--
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, uid)
    for tag, perm, uid in [(1, 6, 0xFFFFFFFF), (2, 0, 65534), (4, 4, 0xFFFFFFFF),
                           (0x10, 4, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF)])


def build(top, dirs, files, sparse):
    """Makes the tree at `top` (which must not exist)."""
    os.makedirs(top)
    block = os.urandom(1024)
    n = 0
    for d in range(dirs):
        dd = os.path.join(top, f"d{d}")
        os.makedirs(dd, exist_ok=True)
        for f in range(files):
            p = os.path.join(dd, f"f{f}")
            with open(p, "wb") as fh:
                fh.write(block)
            if n % 10 == 0:
                os.setxattr(p, "system.posix_acl_access", ACL)
                os.setxattr(p, "user.origin", b"bench")
            if n % 10 == 5 and d + 1 < dirs:
                os.makedirs(os.path.join(top, f"d{d + 1}"), exist_ok=True)
                os.link(p, os.path.join(top, f"d{d + 1}", f"link{f}"))
            n += 1
    sp = os.path.join(top, "sparse")
    os.mkdir(sp)
    for i in range(sparse):
        with open(os.path.join(sp, f"s{i}"), "wb") as fh:
            fh.truncate(64 << 20)
            for at in (0, 32 << 20, (64 << 20) - 4096):
                fh.seek(at)
                fh.write(os.urandom(4096))
