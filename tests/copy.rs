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
