//! `RUN --mount` as a user writes it: bind sources with a relative context path, `from=` a stage or an
//! image, real tmpfs mounts, and build secrets (`--secret` / `type=secret`). Runs as root, busybox base.

mod common;

use common::TestContext;

#[test]
fn defect11_bind_source_resolves_against_a_relative_context() {
    let t = TestContext::busybox();
    t.write("f", "from the context\n");
    t.write("Dockerfile", "FROM busybox\nRUN --mount=type=bind,source=f,target=/x cp /x /copied\n");
    // `rbuild build .` from inside the context, and `rbuild build ctx` from its parent.
    let out = t.rbuild().current_dir(t.ctx()).args(["build", "-q", "-t", "rel:dot", "."]).output().unwrap();
    assert!(out.status.success(), "build . failed: {}", String::from_utf8_lossy(&out.stderr));
    t.ok(&["build", "-q", "-t", "rel:parent", "ctx"]);
    for tag in ["rel:dot", "rel:parent"] {
        let layer = t.layer(tag, 1);
        assert!(layer.contains_key("copied"), "{tag}: {:?}", layer.keys());
    }
}

#[test]
fn bind_from_a_stage_and_from_an_image() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox AS tools\nRUN echo built > /made\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=tools,source=/made,target=/m cp /m /from-stage\n\
         RUN --mount=type=bind,from=busybox,source=/bin/busybox,target=/bb test -x /bb && echo ok > /from-image\n",
    );
    t.build("from:1", &[]);
    assert_eq!(t.layer("from:1", 1)["from-stage"].data, b"built\n");
    assert_eq!(t.layer("from:1", 2)["from-image"].data, b"ok\n");
}

#[test]
fn defect11_tmpfs_mount_is_a_real_tmpfs_and_leaves_nothing_in_the_layer() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox\n\
         RUN --mount=type=tmpfs,target=/x,size=8m grep ' /x tmpfs' /proc/mounts > /seen \
         && grep -q 'size=8192k' /seen && echo scratch > /x/junk\n",
    );
    t.build("tmpfs:1", &[]);
    let layer = t.layer("tmpfs:1", 1);
    assert!(String::from_utf8_lossy(&layer["seen"].data).contains(" /x tmpfs "), "{:?}", layer["seen"]);
    assert!(layer.keys().all(|k| !k.starts_with("x")), "tmpfs contents leaked: {:?}", layer.keys());
}
