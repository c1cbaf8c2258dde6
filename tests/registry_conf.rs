//! The `registries` setting (issue 8, item 1): containers' registries.conf read by rbuild as by podman
//! and skopeo. A TLS registry whose CA is not installed shows that the file is what decides: marked
//! `insecure = false` it fails verification, `insecure = true` it pulls; `blocked` refuses pulls and pushes.

mod common;
#[path = "registry/mod.rs"]
mod reg;

use common::TestContext;
use reg::{image_id, ok, out, rb, rb_tls, store_state, Options, Registry};

fn conf(t: &TestContext, text: &str) {
    std::fs::write(t.dir.path().join("registries.conf"), text).unwrap();
}

fn pull(t: &TestContext, name: &str, extra: &[&str]) -> (i32, String, String) {
    let mut c = rb(t);
    c.arg("pull").args(extra).arg(name);
    out(c)
}

#[test]
fn registries_conf_insecure_decides_tls_for_a_registry_whose_ca_is_not_installed() {
    let registry = Registry::start(Options { tls: true, ..Options::default() });
    let src = TestContext::new();
    src.write("Dockerfile", "FROM scratch\nCOPY a /a\n");
    src.write("a", "alpha");
    src.build("app:1", &[]);
    let name = format!("{}/conf/app:1", registry.host);
    let mut c = rb_tls(&src, &registry);
    c.args(["push", "--tls-verify=true", "app:1", &name]);
    ok(c);

    let t = TestContext::new();
    conf(&t, &format!("[[registry]]\nlocation = \"{}\"\ninsecure = false\n", registry.host));
    let mut c = rb(&t);
    c.arg("images");
    ok(c);
    let before = store_state(&t.root());
    let (code, _, stderr) = pull(&t, &name, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "a TLS verification error: {stderr}");
    assert_eq!(store_state(&t.root()), before);

    conf(
        &t,
        &format!("# shared with podman and skopeo\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n", registry.host),
    );
    let (code, _, stderr) = pull(&t, &name, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(image_id(&t, &name), image_id(&src, "app:1"));
    // The command line wins over the file.
    let (code, _, stderr) = pull(&t, &name, &["--tls-verify=true"]);
    assert_eq!(code, 1, "{stderr}");
}

#[test]
fn registries_conf_blocked_refuses_pull_and_push_and_a_broken_file_names_its_line() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY a /a\n");
    t.write("a", "alpha");
    t.build("app:1", &[]);
    let blocked = format!("{}/private/app:1", registry.host);
    let open = format!("{}/public/app:1", registry.host);
    conf(
        &t,
        &format!("[[registry]]\nprefix = \"{0}/private\"\nlocation = \"{0}/private\"\nblocked = true\n", registry.host),
    );
    let mut c = rb(&t);
    c.args(["push", "app:1", &blocked]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is blocked by") && stderr.contains("registries.conf"), "{stderr}");
    let mut c = rb(&t);
    c.args(["push", "app:1", &open]);
    ok(c);
    let (code, _, stderr) = pull(&t, &blocked, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is blocked by"), "{stderr}");

    conf(&t, "[[registry]]\nlocation = \n");
    let (code, _, stderr) = pull(&t, &open, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("registries.conf") && stderr.contains("line 2"), "{stderr}");
}
