//! Client credentials beyond passwords (issue 8, item 1): docker config's `identitytoken`, an OAuth2
//! refresh token traded at the token realm with the refresh-token grant (a form POST), never sent as a
//! password; and a client certificate for mutual TLS from certs.d (`NAME.cert` + `NAME.key`).

mod common;
#[path = "registry/mod.rs"]
mod reg;

use common::TestContext;
use reg::{image_id, ok, out, rb, rb_tls, token::REFRESH_TOKEN, Options, Registry};
use serde_json::json;

fn config_with_identity_token(t: &TestContext, host: &str, token: &str) {
    use base64::Engine;
    // What `docker login` leaves for an OAuth registry: `<token>` as the user, the refresh token beside it.
    let auth = base64::engine::general_purpose::STANDARD.encode("<token>:");
    let doc = json!({"auths": {host: {"auth": auth, "identitytoken": token}}});
    reg::write(&t.dir.path().join("docker"), "config.json", doc.to_string().as_bytes());
}

#[test]
fn an_identity_token_in_config_json_is_exchanged_with_the_refresh_token_grant() {
    let registry = Registry::start(Options { token: Some(("user".into(), "pass".into())), ..Options::default() });
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    t.write("f", "oauth");
    t.build("app:1", &[]);
    let name = format!("{}/oauth/app:1", registry.host);

    config_with_identity_token(&t, &registry.host, "not-the-token");
    let mut c = rb(&t);
    c.args(["push", "app:1", &name]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&registry.host) && stderr.contains("rbuild login"), "{stderr}");

    config_with_identity_token(&t, &registry.host, REFRESH_TOKEN);
    let mut c = rb(&t);
    c.args(["push", "app:1", &name]);
    ok(c);
    let fresh = TestContext::new();
    config_with_identity_token(&fresh, &registry.host, REFRESH_TOKEN);
    let mut c = rb(&fresh);
    c.args(["pull", &name]);
    ok(c);
    let seen = registry.token_server.as_ref().unwrap().seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s == "refresh repository:oauth/app:pull,push"), "{seen:?}");
    assert!(seen.iter().any(|s| s == "refresh repository:oauth/app:pull"), "{seen:?}");
    assert!(!seen.iter().any(|s| s.starts_with("auth")), "no basic auth was sent: {seen:?}");
}

#[test]
fn a_client_certificate_in_certs_d_is_sent_to_a_registry_that_demands_one() {
    let registry = Registry::start(Options { tls: true, client_certs: true, ..Options::default() });
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    t.write("f", "mtls");
    t.build("app:1", &[]);
    let name = format!("{}/mtls/app:1", registry.host);
    // The CA is trusted but no client certificate is offered: the handshake is refused.
    let mut c = rb_tls(&t, &registry);
    c.args(["push", "--tls-verify=true", "app:1", &name]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&registry.host), "{stderr}");

    let dir = registry.certs_d().join(&registry.host);
    std::fs::copy(registry.dir.path().join("client.cert"), dir.join("client.cert")).unwrap();
    // A certificate without its key is a clear error naming the file.
    let mut c = rb_tls(&t, &registry);
    c.args(["push", "--tls-verify=true", "app:1", &name]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("client.cert") && stderr.contains("without its key"), "{stderr}");

    std::fs::copy(registry.dir.path().join("client.key"), dir.join("client.key")).unwrap();
    let mut c = rb_tls(&t, &registry);
    c.args(["push", "--tls-verify=true", "app:1", &name]);
    ok(c);
    let fresh = TestContext::new();
    let mut c = rb_tls(&fresh, &registry);
    c.args(["pull", "--tls-verify=true", &name]);
    ok(c);
    assert_eq!(image_id(&fresh, &name), image_id(&t, "app:1"));
}
