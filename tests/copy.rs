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

/// `rbuild build --progress=plain` of the context with `-f FILE` and `env`; (stderr, layer digests).
fn build_plain(t: &TestContext, tag: &str, file: &str, env: &[(&str, &std::path::Path)]) -> (String, Vec<String>) {
    let out = t
        .rbuild()
        .envs(env.iter().copied())
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
    build_plain(&t, "base:2", "base2.Dockerfile", &[]);
    t.ok(&["tag", "busybox:latest", "base:cur"]);
    t.write(
        "Dockerfile",
        "FROM base:cur\n\
         COPY --link app.txt /srv/app/\n\
         COPY app.txt /plain/\n\
         RUN cat /srv/app/app.txt /proc/sys/kernel/random/uuid > /seen\n",
    );
    let (first, l1) = build_plain(&t, "app:1", "Dockerfile", &[]);
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
    let (second, l2) = build_plain(&t, "app:2", "Dockerfile", &[]);
    assert_eq!(l2.len(), 5);
    assert!(cached(&second, "COPY --link app.txt"), "{second}");
    assert_eq!(l2[2], l1[1], "the --link layer is reused as is on the new base");
    assert!(!cached(&second, "COPY app.txt /plain/"), "a plain COPY depends on its base:\n{second}");
    assert!(!cached(&second, "RUN cat"), "later steps rerun on the new base:\n{second}");
    assert_ne!(l2[4], l1[3]);

    // Same base again: everything is cached, and the chain after the --link step is found again.
    let (third, l3) = build_plain(&t, "app:3", "Dockerfile", &[]);
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

/// A git repository (`repos/repo.git`, bare) served by `git daemon` on a free 127.0.0.1 port; the daemon
/// is killed on drop.
struct GitServer {
    repos: std::path::PathBuf,
    work: std::path::PathBuf,
    port: u16,
    daemon: std::process::Child,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = common::tool("git");
    cmd.arg("-C").arg(dir).args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]);
    cmd.env("GIT_COMMITTER_DATE", "@1700000000 +0000").env("GIT_AUTHOR_DATE", "@1700000000 +0000");
    common::run_tool(cmd.args(args)).trim().to_string()
}

impl GitServer {
    /// v1 (annotated tag): a.txt, sub/x.txt, run.sh (0755), link -> a.txt; main: one more commit on top.
    fn start(t: &TestContext) -> GitServer {
        let work = t.path("work");
        let repos = t.path("repos");
        std::fs::create_dir_all(work.join("sub")).unwrap();
        std::fs::create_dir_all(&repos).unwrap();
        git(&work, &["init", "-q"]);
        std::fs::write(work.join("a.txt"), "v1").unwrap();
        std::fs::write(work.join("sub/x.txt"), "x1").unwrap();
        std::fs::write(work.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(work.join("run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a.txt", work.join("link")).unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "one"]);
        git(&work, &["tag", "-a", "v1", "-m", "v1"]);
        std::fs::write(work.join("sub/x.txt"), "x2").unwrap();
        git(&work, &["commit", "-qam", "two"]);
        git(&repos, &["clone", "-q", "--bare", work.to_str().unwrap(), "repo.git"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // git-daemon itself, not `git daemon`: the wrapper would leave it running when killed.
        let exec_path = common::run_tool(common::tool("git").arg("--exec-path")).trim().to_string();
        let daemon = std::process::Command::new(std::path::Path::new(&exec_path).join("git-daemon"))
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", repos.display()))
            .arg(&repos)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = GitServer { repos, work, port, daemon };
        common::wait_until("git daemon", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        server
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/repo.git", self.port)
    }

    fn commit(&self, rev: &str) -> String {
        git(&self.work, &["rev-parse", &format!("{rev}^{{commit}}")])
    }

    /// One more commit on main, pushed to the served repository.
    fn push_change(&self) {
        std::fs::write(self.work.join("sub/x.txt"), "x3").unwrap();
        git(&self.work, &["commit", "-qam", "three"]);
        git(&self.work, &["push", "-q", self.repos.join("repo.git").to_str().unwrap(), "main"]);
    }
}

#[test]
fn add_git_checks_out_a_ref_or_subdir_and_caches_on_the_commit() {
    let t = TestContext::busybox();
    let server = GitServer::start(&t);
    let url = server.url();
    let file_url = format!("file://{}", server.repos.join("repo.git").display());
    let v1 = server.commit("v1");
    t.write(
        "Dockerfile",
        &format!(
            "FROM scratch\n\
             ADD {url}#v1 /v1/\n\
             ADD {url}#main:sub /sub\n\
             ADD --keep-git-dir=true {file_url} /kept/\n\
             ADD --checksum={v1} {url}#{v1} /pinned/\n"
        ),
    );
    let (first, l1) = build_plain(&t, "git:1", "Dockerfile", &[]);
    assert!(!first.contains("CACHED"), "{first}");
    let tag = t.layer("git:1", 0);
    assert_eq!(tag["v1/a.txt"].data, b"v1");
    assert_eq!(tag["v1/sub/x.txt"].data, b"x1", "the tag's tree, not main's");
    assert_eq!(tag["v1/run.sh"].mode, 0o755);
    assert_eq!((tag["v1/link"].kind, tag["v1/link"].link.as_deref()), ('l', Some("a.txt")));
    assert!(!tag.keys().any(|k| k.contains(".git")), "no .git unless --keep-git-dir: {:?}", tag.keys());
    let times: Vec<_> = tag.iter().filter(|(k, _)| k.starts_with("v1/")).map(|(k, e)| (k, e.mtime)).collect();
    assert!(times.iter().all(|(_, t)| *t == 1_700_000_000), "every mtime is the commit time: {times:?}");
    assert_eq!(files(&t.layer("git:1", 1)), BTreeMap::from([("sub/x.txt".into(), "x2".into())]));
    let kept = t.layer("git:1", 2);
    assert_eq!(kept["kept/sub/x.txt"].data, b"x2", "the remote's HEAD");
    assert!(kept.contains_key("kept/.git/HEAD"), "{:?}", kept.keys());
    assert_eq!(files(&t.layer("git:1", 3))["pinned/sub/x.txt"], "x1");

    // Unchanged refs: every step is a hit after ls-remote. A new commit on main reruns only its steps.
    let (second, l2) = build_plain(&t, "git:2", "Dockerfile", &[]);
    assert_eq!(second.lines().filter(|l| l.ends_with("CACHED")).count(), 4, "{second}");
    assert_eq!(l1, l2);
    // Built from a git hook: GIT_DIR names the user's repository, which the checkout must not touch.
    server.push_change();
    let head = server.commit("HEAD");
    let (third, l3) = build_plain(&t, "git:3", "Dockerfile", &[("GIT_DIR", &server.work.join(".git"))]);
    assert_eq!(server.commit("HEAD"), head, "the user's repository is untouched");
    assert!(git(&server.work, &["status", "--porcelain"]).is_empty());
    assert!(cached(&third, "#v1 /v1/"), "{third}");
    assert!(!cached(&third, "#main:sub"), "{third}");
    assert!(!cached(&third, "keep-git-dir"), "{third}");
    assert_eq!(l3[0], l1[0]);
    assert_eq!(files(&t.layer("git:3", 1))["sub/x.txt"], "x3");
}

#[test]
fn add_git_errors_name_the_line_and_the_url_without_credentials() {
    let t = TestContext::busybox();
    let server = GitServer::start(&t);
    let url = server.url();
    let fails = |dockerfile: String, words: &[&str]| {
        t.write("Dockerfile", &dockerfile);
        let err = t.fails(&["build", "--build-arg", "TOKEN=s3cret", "-t", "bad:1", t.ctx().to_str().unwrap()], 1);
        for w in words {
            assert!(err.contains(w), "{w:?} missing from:\n{err}");
        }
        assert!(!err.contains("s3cret"), "credentials leaked:\n{err}");
        err
    };
    fails(format!("FROM scratch\nADD {url}#nope /x/\n"), &["Dockerfile:2", &url, "\"nope\""]);
    let wrong = "0".repeat(40);
    fails(
        format!("FROM scratch\nADD --checksum={wrong} {url}#v1 /x/\n"),
        &["Dockerfile:2", &url, &wrong, &server.commit("v1")],
    );
    // A closed loopback port: unreachable, and the token in the URL (from a build arg, as tokens should
    // come: the Dockerfile line itself is shown as written) is never printed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = fails(
        format!("FROM scratch\nARG TOKEN\nADD https://me:${{TOKEN}}@127.0.0.1:{dead}/repo.git#main /x/\n"),
        &["Dockerfile:3", &format!("https://***@127.0.0.1:{dead}/repo.git")],
    );
    assert!(err.contains("ls-remote"), "{err}");
    fails(format!("FROM scratch\nADD {url}#v1:missing /x/\n"), &["Dockerfile:2", "\"missing\""]);
    assert!(t.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| { m["annotations"]["org.opencontainers.image.ref.name"] != "bad:1" }));
}

/// The layer digests of image `tag` in the store of `t`.
fn layer_digests(t: &TestContext, tag: &str) -> Vec<String> {
    t.manifest(tag)["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().into()).collect()
}

#[test]
fn copy_rebuild_links_unchanged_files_and_gives_a_cold_builds_layer() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestContext::busybox();
    t.write("keep.txt", "keep");
    t.write("sub/a.txt", "a");
    t.write("sub/gone.txt", "gone");
    t.write("change.txt", "old");
    t.write("run.sh", "echo hi");
    std::os::unix::fs::symlink("keep.txt", t.ctx().join("ln")).unwrap();
    // The RUN writes through one of the files the next build links: the snapshots must not see it.
    t.write("Dockerfile", "FROM busybox:latest\nCOPY . /app/\nRUN echo more >> /app/keep.txt\n");
    let build = |tag: &str| {
        let out = t.rbuild().args(["build", "--debug", "-t", tag]).arg(t.ctx()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        err
    };
    let first = build("re:1");
    assert!(first.contains("COPY: 0 files linked from the previous result"), "{first}");

    t.write("change.txt", "new content");
    std::fs::remove_file(t.ctx().join("sub/gone.txt")).unwrap();
    std::fs::set_permissions(t.ctx().join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let second = build("re:2");
    // keep.txt, sub/a.txt and the Dockerfile; not the changed file nor the one whose mode changed.
    assert!(second.contains("COPY: 3 files linked from the previous result"), "{second}");

    let layer = t.layer("re:2", 1);
    assert!(!layer.contains_key("app/sub/gone.txt"), "a deleted file is gone");
    assert_eq!(layer["app/change.txt"].data, b"new content");
    assert_eq!(layer["app/run.sh"].mode & 0o7777, 0o755, "a changed mode is kept");
    assert_eq!((layer["app/keep.txt"].kind, &layer["app/keep.txt"].data[..]), ('f', &b"keep"[..]), "no hardlink entry");
    assert_eq!(layer["app/ln"].link.as_deref(), Some("keep.txt"));
    assert_eq!(t.layer("re:2", 2)["app/keep.txt"].data, b"keepmore\n");

    // A cold build of the edited context in a fresh store makes the very same COPY layer.
    let cold = TestContext::busybox();
    let out = cold.rbuild().args(["build", "-t", "re:cold"]).arg(t.ctx()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(layer_digests(&t, "re:2")[..2], layer_digests(&cold, "re:cold")[..2]);

    // The RUN's append went into its own layer: every snapshot still matches its layer.
    let check = t.rbuild().args(["system", "check"]).output().unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
