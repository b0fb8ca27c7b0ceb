//! `WalkEntry::statx` (issue 24: what `find --json` and `audit` stat each entry with): the same
//! answer as `WalkEntry::metadata`, a symlink described itself unless the walk followed it.

use std::os::unix::fs::MetadataExt;

use procroot::Root;
use procroot_testutil::Tree;

#[test]
fn statx_is_metadata_and_never_follows_unless_the_walk_does() {
    let tree = Tree::new("file d/f hello\nsymlink d/l f\ndir d/e");
    let root = Root::open(tree.path()).unwrap();
    for follow in [false, true] {
        let mut seen = 0;
        for entry in root.walk("/").follow_links(follow) {
            let entry = entry.unwrap();
            let st = entry.statx().unwrap();
            let md = entry.metadata().unwrap();
            let path = entry.path().to_str().unwrap().to_owned();
            assert_eq!(u32::from(st.stx_mode), md.mode(), "{path} follow={follow}");
            assert_eq!(st.stx_ino, md.ino(), "{path}");
            assert_eq!(st.stx_size, md.size(), "{path}");
            assert_eq!(
                (st.stx_mtime.tv_sec, i64::from(st.stx_mtime.tv_nsec)),
                (md.mtime(), md.mtime_nsec()),
                "{path}"
            );
            assert_eq!(
                rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
                md.dev(),
                "{path}"
            );
            let is_link = st.stx_mode as u32 & libc::S_IFMT == libc::S_IFLNK;
            if path == "/d/l" {
                // Not followed: the link itself; followed: the file it names.
                assert_eq!(is_link, !follow, "{path}");
                seen += 1;
            }
        }
        assert_eq!(seen, 1, "follow={follow}");
    }
}
