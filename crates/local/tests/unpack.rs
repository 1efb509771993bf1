//! Build-context validation: every refusal with its message, and good contexts (with links
//! inside the tree) accepted and extracted.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use satusky_local::unpack::{Limits, UnpackError, inspect, unpack};

/// One raw tar entry: the name is written as bytes, so `..` and absolute paths get through.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Fifo(&'a str),
    /// A GNU long-name extension header with `n` bytes of name.
    LongName(usize),
}

fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    let bytes = name.as_bytes();
    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    h
}

fn targz(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for e in entries {
        let (mut h, data): (tar::Header, Vec<u8>) = match e {
            E::File(n, d) => (
                header(n, tar::EntryType::Regular, d.len() as u64),
                d.to_vec(),
            ),
            E::Dir(n) => (header(n, tar::EntryType::Directory, 0), vec![]),
            E::Symlink(n, t) | E::HardLink(n, t) => {
                let kind = if matches!(e, E::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = header(n, kind, 0);
                h.set_link_name_literal(t).unwrap();
                (h, vec![])
            }
            E::Fifo(n) => (header(n, tar::EntryType::Fifo, 0), vec![]),
            E::LongName(len) => (
                header("././@LongLink", tar::EntryType::GNULongName, *len as u64),
                vec![b'a'; *len],
            ),
        };
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn refused(entries: &[E<'_>]) -> String {
    let err = inspect(&targz(entries), &Limits::default()).unwrap_err();
    err.to_string()
}

#[test]
fn traversal_absolute_and_links_out_are_refused_with_the_entry_named() {
    assert_eq!(
        refused(&[E::File("../x", b"x")]),
        r#"entry "../x" leaves the build context (paths must stay inside it)"#
    );
    assert_eq!(
        refused(&[E::File("a/../../x", b"x")]),
        r#"entry "a/../../x" leaves the build context (paths must stay inside it)"#
    );
    assert_eq!(
        refused(&[E::File("/abs", b"x")]),
        r#"entry "/abs" has an absolute path (paths must be relative to the build context)"#
    );
    assert_eq!(
        refused(&[E::Symlink("etc-link", "/etc")]),
        r#"entry "etc-link" is a symlink to /etc, outside the build context"#
    );
    assert_eq!(
        refused(&[E::Dir("sub/"), E::Symlink("sub/up", "../../etc")]),
        r#"entry "sub/up" is a symlink to ../../etc, outside the build context"#
    );
    assert_eq!(
        refused(&[E::File("f", b"x"), E::HardLink("h", "../outside")]),
        r#"entry "h" is a hard link to ../outside, outside the build context"#
    );
    assert_eq!(
        refused(&[E::HardLink("h", "/etc/passwd")]),
        r#"entry "h" is a hard link to /etc/passwd, outside the build context"#
    );
    assert!(refused(&[E::HardLink("h", "missing")]).contains("not a file earlier in the context"));
    assert_eq!(
        refused(&[E::Fifo("pipe")]),
        r#"entry "pipe" is a fifo; a build context may hold only files, folders and links"#
    );
}

#[test]
fn a_link_through_another_link_is_resolved_like_the_filesystem() {
    // Lexically `b -> a/..` stays inside, but `a -> .` makes it the parent of the context.
    let msg = refused(&[E::Symlink("a", "."), E::Symlink("b", "a/..")]);
    assert!(msg.contains(r#"entry "b" is a symlink to a/.."#), "{msg}");
    // Order in the archive must not matter.
    let msg = refused(&[E::Symlink("b", "a/.."), E::Symlink("a", ".")]);
    assert!(msg.contains(r#"entry "b""#), "{msg}");
    let msg = refused(&[E::Symlink("x", "y"), E::Symlink("y", "x")]);
    assert!(msg.contains("symlink loop"), "{msg}");
}

#[test]
fn size_and_entry_limits_count_real_bytes() {
    let small = Limits {
        max_compressed: 1024 * 1024,
        max_unpacked: 1024 * 1024,
        max_entries: 10,
    };
    // A gzip bomb: 64 MiB of zeros compresses to a few KiB.
    let zeros = vec![0u8; 64 * 1024 * 1024];
    let bomb = targz(&[E::File("zeros", &zeros)]);
    assert!(bomb.len() < 1024 * 1024);
    let err = inspect(&bomb, &small).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the context unpacks to more than 1 MiB; the limit is 1 MiB (add large files to .dockerignore)"
    );
    // Many files each under the limit, together over it.
    let half = vec![1u8; 600 * 1024];
    let err = inspect(&targz(&[E::File("a", &half), E::File("b", &half)]), &small).unwrap_err();
    assert!(matches!(err, UnpackError::UnpackedTooLarge { .. }), "{err}");
    // Bytes hidden in tar framing (a huge GNU long name) are capped too.
    let err = inspect(
        &targz(&[E::LongName(8 * 1024 * 1024), E::File("x", b"")]),
        &small,
    )
    .unwrap_err();
    assert!(matches!(err, UnpackError::UnpackedTooLarge { .. }), "{err}");
    // Too many entries.
    let names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let many: Vec<E<'_>> = names.iter().map(|n| E::File(n, b"")).collect();
    let err = inspect(&targz(&many), &small).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the context has more than 10 entries; the limit is 10 (add generated folders to .dockerignore)"
    );
    // Compressed size.
    let tight = Limits {
        max_compressed: 100,
        ..small
    };
    let err = inspect(&targz(&[E::File("a", &half)]), &tight).unwrap_err();
    assert!(err.to_string().starts_with("the context is "), "{err}");
    assert!(
        err.to_string()
            .contains("compressed; the limit is 100 bytes"),
        "{err}"
    );
    let big = Limits {
        max_compressed: 100 * 1024 * 1024,
        ..small
    };
    let err = UnpackError::CompressedTooLarge {
        size: 120 * 1024 * 1024,
        limit: big.max_compressed,
    };
    assert_eq!(
        err.to_string(),
        "the context is 120 MiB compressed; the limit is 100 MiB (add large files to .dockerignore)"
    );
}

#[test]
fn not_gzip_or_not_tar() {
    assert_eq!(
        inspect(b"plain text", &Limits::default()).unwrap_err(),
        UnpackError::NotGzip
    );
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&[7u8; 2048]).unwrap();
    let err = inspect(&gz.finish().unwrap(), &Limits::default()).unwrap_err();
    assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
}

#[test]
fn a_good_context_with_links_inside_is_accepted_and_extracted() {
    let bytes = targz(&[
        E::Dir("./"),
        E::Dir("./src/"),
        E::File("./src/main.sh", b"echo hi\n"),
        E::Symlink("./run", "src/main.sh"),
        E::Symlink("./src/self", "../src"),
        E::HardLink("./copy.sh", "src/main.sh"),
    ]);
    let summary = inspect(&bytes, &Limits::default()).unwrap();
    assert_eq!(summary.entries, 6);
    assert_eq!(summary.unpacked_bytes, 8);
    assert!(summary.digest.starts_with("sha256:") && summary.digest.len() == 71);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("ctx");
    let again = unpack(&bytes, &dest, &Limits::default()).unwrap();
    assert_eq!(again, summary);
    assert_eq!(
        std::fs::read_to_string(dest.join("run")).unwrap(),
        "echo hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("copy.sh")).unwrap(),
        "echo hi\n"
    );
    assert_eq!(
        std::fs::read_link(dest.join("src/self")).unwrap(),
        std::path::Path::new("../src")
    );
}

#[test]
fn unpack_refuses_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("ctx");
    let bytes = targz(&[E::File("ok", b"fine"), E::Symlink("etc-link", "/etc")]);
    assert!(unpack(&bytes, &dest, &Limits::default()).is_err());
    assert!(
        !dest.exists(),
        "nothing may be written for a refused context"
    );
}
