//! COPY and ADD beyond the basics (tests/build.rs has those): `--parents` with and without a `/./`
//! pivot, globs, `--from`; `--exclude`; `--link` layers that survive a change of base; ADD of git
//! repositories served on loopback. Every build writes files owned by root, so every test needs root.

mod common;

use common::{require_root, TestContext};
use std::collections::BTreeMap;

/// Paths of the regular files in a layer, with their contents as text.
fn files(layer: &BTreeMap<String, common::TarEntry>) -> BTreeMap<String, String> {
    layer
        .iter()
        .filter(|(_, e)| e.kind == 'f')
        .map(|(p, e)| (p.clone(), String::from_utf8_lossy(&e.data).into_owned()))
        .collect()
}

fn paths(layer: &BTreeMap<String, common::TarEntry>) -> Vec<String> {
    files(layer).into_keys().collect()
}

#[test]
fn copy_parents_keeps_the_source_paths_as_the_dockerfile_reference_shows() {
    require_root();
    let t = TestContext::new();
    t.write("x/a.txt", "xa");
    t.write("y/a.txt", "ya");
    t.write("x/y/a.txt", "xya");
    t.write("x/y/b.txt", "xyb");
    t.write("src/app/x.go", "go");
    t.write("dir/sub/deep.txt", "deep");
    t.write(
        "Dockerfile",
        "FROM scratch\n\
         COPY ./x/a.txt ./y/a.txt /no_parents/\n\
         COPY --parents ./x/a.txt ./y/a.txt /parents/\n\
         COPY --parents ./x/./y/*.txt /pivot/\n\
         COPY --parents ./src/./app/x.go /dst/\n\
         COPY --parents dir/sub /tree/\n\
         ADD --parents x/y/a.txt /added\n",
    );
    t.build("parents:1", &[]);
    assert_eq!(files(&t.layer("parents:1", 0)), BTreeMap::from([("no_parents/a.txt".into(), "ya".into())]));
    assert_eq!(paths(&t.layer("parents:1", 1)), ["parents/x/a.txt", "parents/y/a.txt"]);
    assert_eq!(paths(&t.layer("parents:1", 2)), ["pivot/y/a.txt", "pivot/y/b.txt"], "only what follows ./ is kept");
    assert_eq!(paths(&t.layer("parents:1", 3)), ["dst/app/x.go"]);
    assert_eq!(paths(&t.layer("parents:1", 4)), ["tree/dir/sub/deep.txt"], "a directory keeps its own path");
    assert_eq!(paths(&t.layer("parents:1", 5)), ["added/x/y/a.txt"], "ADD --parents too; the destination is a dir");
}

#[test]
fn copy_parents_with_double_star_globs_and_from_a_stage() {
    require_root();
    let t = TestContext::new();
    t.write("package.json", "root");
    t.write("packages/foo/package.json", "foo");
    t.write("apps/baz/package.json", "baz");
    t.write("apps/baz/index.js", "js");
    t.write(
        "Dockerfile",
        "FROM scratch AS build\n\
         COPY . /out/\n\
         FROM scratch\n\
         COPY --parents **/package.json /app/\n\
         COPY --parents packages/*/package.json apps/*/package.json /mono/\n\
         COPY --from=build --parents /out/./apps/**/*.js /opt/\n",
    );
    t.build("parents:2", &[]);
    assert_eq!(
        paths(&t.layer("parents:2", 0)),
        ["app/apps/baz/package.json", "app/package.json", "app/packages/foo/package.json"]
    );
    assert_eq!(paths(&t.layer("parents:2", 1)), ["mono/apps/baz/package.json", "mono/packages/foo/package.json"]);
    assert_eq!(files(&t.layer("parents:2", 2)), BTreeMap::from([("opt/apps/baz/index.js".into(), "js".into())]));

    // A changed file deep under a ** pattern is a new input: the step runs again, not CACHED.
    t.write("packages/foo/package.json", "foo2");
    let out = t.rbuild().args(["build", "--progress=plain", "-t", "parents:3"]).arg(t.ctx()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let line = err.lines().find(|l| l.contains("COPY --parents **/package.json")).unwrap_or_default();
    assert!(!line.contains("CACHED"), "{err}");
    assert_eq!(files(&t.layer("parents:3", 0))["app/packages/foo/package.json"], "foo2");
}

#[test]
fn exclude_drops_glob_matches_and_files_under_a_copied_dir() {
    require_root();
    let t = TestContext::new();
    t.write("home.txt", "t");
    t.write("homer.md", "m");
    t.write("homes.bin", "b");
    t.write("dir/keep.c", "c");
    t.write("dir/notes.md", "n");
    t.write("dir/sub/x.c", "x");
    t.write(
        "Dockerfile",
        "FROM scratch\n\
         COPY --exclude=*.txt hom* /mydir/\n\
         COPY --exclude=*.txt --exclude=*.md hom* /two/\n\
         COPY --exclude=*.md --exclude=sub dir /d/\n\
         ADD --exclude=keep.c dir /a/\n",
    );
    t.build("ex:1", &[]);
    assert_eq!(paths(&t.layer("ex:1", 0)), ["mydir/homer.md", "mydir/homes.bin"]);
    assert_eq!(paths(&t.layer("ex:1", 1)), ["two/homes.bin"]);
    assert_eq!(paths(&t.layer("ex:1", 2)), ["d/keep.c"]);
    assert_eq!(paths(&t.layer("ex:1", 3)), ["a/notes.md", "a/sub/x.c"]);
}

/// `rbuild build --progress=plain` of the context with `-f FILE`; (stderr, layer digests).
fn build_plain(t: &TestContext, tag: &str, file: &str) -> (String, Vec<String>) {
    let out = t
        .rbuild()
        .args(["build", "--progress=plain", "-t", tag, "-f"])
        .arg(t.ctx().join(file))
        .arg(t.ctx())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let layers =
        t.manifest(tag)["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().into()).collect();
    (err, layers)
}

/// Whether the progress line of the step whose text contains `step` says CACHED.
fn cached(stderr: &str, step: &str) -> bool {
    let line = stderr.lines().find(|l| l.contains(step) && l.ends_with("CACHED"));
    line.is_some()
}

#[test]
fn copy_link_layers_are_reused_on_a_new_base_while_later_steps_rerun() {
    let t = TestContext::busybox();
    t.write("extra.txt", "extra");
    t.write("app.txt", "app");
    t.write("base2.Dockerfile", "FROM busybox:latest\nCOPY extra.txt /extra.txt\n");
    build_plain(&t, "base:2", "base2.Dockerfile");
    t.ok(&["tag", "busybox:latest", "base:cur"]);
    t.write(
        "Dockerfile",
        "FROM base:cur\n\
         COPY --link app.txt /srv/app/\n\
         COPY app.txt /plain/\n\
         RUN cat /srv/app/app.txt /proc/sys/kernel/random/uuid > /seen\n",
    );
    let (first, l1) = build_plain(&t, "app:1", "Dockerfile");
    assert!(!cached(&first, "COPY --link"), "{first}");
    assert_eq!(l1.len(), 4);
    let link = t.layer("app:1", 1);
    assert_eq!(link["srv/app/app.txt"].data, b"app");
    assert_eq!(
        link.keys().collect::<Vec<_>>(),
        ["srv", "srv/app", "srv/app/app.txt"],
        "the parents are created in the empty tree"
    );
    assert!(t.layer("app:1", 3)["seen"].data.starts_with(b"app"), "a later RUN sees the linked files");

    // The base changes (one more layer): the --link step is a hit with the very same blob; the rest reruns.
    t.ok(&["tag", "base:2", "base:cur"]);
    let (second, l2) = build_plain(&t, "app:2", "Dockerfile");
    assert_eq!(l2.len(), 5);
    assert!(cached(&second, "COPY --link app.txt"), "{second}");
    assert_eq!(l2[2], l1[1], "the --link layer is reused as is on the new base");
    assert!(!cached(&second, "COPY app.txt /plain/"), "a plain COPY depends on its base:\n{second}");
    assert!(!cached(&second, "RUN cat"), "later steps rerun on the new base:\n{second}");
    assert_ne!(l2[4], l1[3]);

    // Same base again: everything is cached, and the chain after the --link step is found again.
    let (third, l3) = build_plain(&t, "app:3", "Dockerfile");
    assert!(cached(&third, "RUN cat"), "{third}");
    assert_eq!(l3, l2);
}

#[test]
fn copy_link_never_follows_a_symlink_of_the_base_on_either_backend() {
    let t = TestContext::busybox();
    t.write("f.txt", "f");
    t.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN mkdir /real /real2 && echo old > /real/old && ln -s real /link && ln -s real2 /link2\n\
         COPY --link f.txt /link/\n\
         COPY f.txt /link2/\n\
         RUN test -d /link && ! test -L /link && test -f /link/f.txt && ! test -e /link/old \
             && test -f /real/old && ! test -e /real/f.txt \
             && test -L /link2 && test -f /real2/f.txt\n",
    );
    for backend in ["overlay", "copy"] {
        let tag = format!("sym:{backend}");
        let out = t
            .rbuild()
            .env("RBUILD_SNAPSHOTTER", backend)
            .args(["build", "--no-cache", "-t", &tag])
            .arg(t.ctx())
            .output();
        let out = out.unwrap();
        assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
        let link = t.layer(&tag, 2);
        assert_eq!(link["link"].kind, 'd', "with --link the destination path holds only directories");
        assert_eq!(link["link/f.txt"].data, b"f");
    }
}
