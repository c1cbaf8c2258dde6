//! docker config's `identitytoken` (issue 8, item 1): an OAuth2 refresh token, traded at the token realm
//! with the refresh-token grant (a form POST), never sent as a password.

mod common;
#[path = "registry/mod.rs"]
mod reg;

use common::TestContext;
use reg::{ok, out, rb, token::REFRESH_TOKEN, Options, Registry};
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
