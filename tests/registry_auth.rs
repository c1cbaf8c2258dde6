//! Registry authentication end-to-end: htpasswd basic auth over TLS with a CA the test makes, a
//! token-auth registry with a loopback token server, credential helpers, and the files docker and
//! podman share (config.json, auth.json), all through the real `rbuild` against `docker-registry`.

mod common;
#[path = "registry/mod.rs"]
mod reg;

use common::TestContext;
use reg::{busybox_source, image_id, ok, out, rb, rb_tls, Options, Registry};
use serde_json::{json, Value};

#[test]
fn basic_auth_over_tls_works_through_login_and_through_a_hand_written_config_json() {
    let (user, pass) = ("ci-user", "s3cret-Passw0rd");
    let registry = Registry::start(Options { tls: true, user: Some((user.into(), pass.into())), ..Options::default() });
    let src = TestContext::new();
    registry.skopeo_copy(&busybox_source(&src), "private/bb:1", &[&format!("--dest-creds={user}:{pass}")]);
    let name = format!("{}/private/bb:1", registry.host);

    let t = TestContext::new();
    // Anonymous: refused, and the error says what to do.
    let (code, _, stderr) = out({
        let mut c = rb_tls(&t, &registry);
        c.args(["pull", "--tls-verify", &name]);
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&registry.host) && stderr.contains("rbuild login"), "{stderr}");

    // The CA is what makes TLS work: without it, verification fails.
    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["login", "--tls-verify", "-u", user, "--password-stdin", &registry.host]).write_stdin(pass);
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot reach registry") && !stderr.contains(pass), "{stderr}");

    // Wrong password: exit 1, names the registry, saves nothing, prints no secret.
    let config = t.dir.path().join("docker/config.json");
    let (code, stdout, stderr) = out({
        let mut c = rb_tls(&t, &registry);
        c.args(["login", "--tls-verify", "-u", user, "--password-stdin", &registry.host]).write_stdin("wrong-pass\n");
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&registry.host) && stderr.contains("wrong username or password"), "{stderr}");
    assert!(!stderr.contains("wrong-pass") && !stdout.contains("wrong-pass"));
    assert!(!config.exists(), "a failed login wrote {}", config.display());

    // Right password: saved in docker's format, never printed.
    let (code, stdout, stderr) = out({
        let mut c = rb_tls(&t, &registry);
        c.args(["login", "--tls-verify", "-u", user, "--password-stdin", &registry.host])
            .write_stdin(format!("{pass}\n"));
        c
    });
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Login Succeeded"));
    assert!(!stdout.contains(pass) && !stderr.contains(pass));
    let saved: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    assert_eq!(saved["auths"][registry.host.as_str()]["auth"], auth.as_str());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o077, 0, "config.json readable by others");

    let mut c = rb_tls(&t, &registry);
    c.args(["pull", "--tls-verify", &name]);
    ok(c);
    assert_eq!(image_id(&t, &name), image_id(&src, "busybox:latest"));

    // Logout forgets it; pulling is refused again.
    let mut c = rb(&t);
    c.args(["logout", &registry.host]);
    ok(c);
    let saved: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(saved["auths"].get(registry.host.as_str()).is_none(), "{saved}");

    // A config.json written by hand (as docker or a CI secret would) is read the same way.
    let u = TestContext::new();
    reg::write(
        &u.dir.path().join("docker"),
        "config.json",
        json!({"auths": {format!("https://{}", registry.host): {"auth": auth}}}).to_string().as_bytes(),
    );
    let mut c = rb_tls(&u, &registry);
    c.args(["pull", "--tls-verify", &name]);
    ok(c);
    // And so is a containers auth.json named by REGISTRY_AUTH_FILE.
    let v = TestContext::new();
    let auth_file = reg::write(
        v.dir.path(),
        "auth.json",
        json!({"auths": {registry.host.as_str(): {"auth": auth}}}).to_string().as_bytes(),
    );
    let mut c = rb_tls(&v, &registry);
    c.env("REGISTRY_AUTH_FILE", &auth_file).args(["pull", "--tls-verify", &name]);
    ok(c);
}

#[test]
fn a_credential_helper_named_by_creds_store_supplies_and_stores_logins() {
    let (user, pass) = ("helper-user", "helper-pass");
    let registry = Registry::start(Options { tls: true, user: Some((user.into(), pass.into())), ..Options::default() });
    let t = TestContext::new();
    // A docker-credential-<name> program speaking the helper protocol, keeping its secrets in a file.
    let bin = t.dir.path().join("bin");
    let store = t.dir.path().join("helper-store.json");
    let script = format!(
        "#!/bin/sh\nset -e\nS={}\ncase \"$1\" in\n  store) cat > \"$S\" ;;\n  get) cat > /dev/null; [ -f \"$S\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}; cat \"$S\" ;;\n  erase) rm -f \"$S\" ;;\nesac\n",
        store.display()
    );
    let helper = reg::write(&bin, "docker-credential-testhelper", script.as_bytes());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    reg::write(&t.dir.path().join("docker"), "config.json", br#"{"credsStore": "testhelper"}"#);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    let mut c = rb_tls(&t, &registry);
    c.env("PATH", &path)
        .args(["login", "--tls-verify", "-u", user, "--password-stdin", &registry.host])
        .write_stdin(pass);
    ok(c);
    let stored: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(stored["Username"], user);
    assert_eq!(stored["Secret"], pass);
    let config = std::fs::read_to_string(t.dir.path().join("docker/config.json")).unwrap();
    assert!(!config.contains(pass), "the secret went to config.json: {config}");

    let src = TestContext::new();
    registry.skopeo_copy(&busybox_source(&src), "h/bb:1", &[&format!("--dest-creds={user}:{pass}")]);
    let mut c = rb_tls(&t, &registry);
    c.env("PATH", &path).args(["pull", "--tls-verify", &format!("{}/h/bb:1", registry.host)]);
    ok(c);
}

#[test]
fn push_without_credentials_names_the_registry_and_says_rbuild_login() {
    let registry = Registry::start(Options { tls: true, user: Some(("u".into(), "p".into())), ..Options::default() });
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nENV A=1\n");
    t.build("local:1", &[]);
    let (code, _, stderr) = out({
        let mut c = rb_tls(&t, &registry);
        c.args(["push", "--tls-verify", "local:1", &format!("{}/x:1", registry.host)]);
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&registry.host) && stderr.contains("rbuild login"), "{stderr}");
    // An image ID has no registry to go to.
    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["push", &image_id(&t, "local:1")[7..19]]);
        c
    });
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_token_auth_registry_works_through_login_and_config_json_and_refuses_a_wrong_password() {
    let (user, pass) = ("tok-user", "tok-pass");
    let registry = Registry::start(Options { token: Some((user.into(), pass.into())), ..Options::default() });
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    t.write("f", "token-protected");

    // Anonymous push: the token server refuses; the error names the registry and says rbuild login.
    let name = format!("{}/sec/app:1", registry.host);
    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["build", "--push", "-t", &name]).arg(t.ctx());
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&registry.host) && stderr.contains("rbuild login"), "{stderr}");

    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["login", "-u", user, "--password-stdin", &registry.host]).write_stdin("nope");
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("wrong username or password") && stderr.contains(&registry.host), "{stderr}");

    let mut c = rb(&t);
    c.args(["login", "-u", user, "--password-stdin", &registry.host]).write_stdin(pass);
    ok(c);
    let mut c = rb(&t);
    c.args(["push", &name]);
    let pushed = ok(c);

    // A fresh machine with only a config.json pulls it back, through the bearer flow.
    let u = TestContext::new();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    reg::write(
        &u.dir.path().join("docker"),
        "config.json",
        json!({"auths": {registry.host.as_str(): {"auth": auth}}}).to_string().as_bytes(),
    );
    let mut c = rb(&u);
    c.args(["pull", &name]);
    ok(c);
    assert_eq!(u.index()["manifests"][0]["digest"].as_str().unwrap(), pushed.trim());
    let seen = registry.token_server.as_ref().unwrap().seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s == "auth repository:sec/app:pull,push"), "{seen:?}");
    assert!(seen.iter().any(|s| s == "auth repository:sec/app:pull"), "{seen:?}");
}
