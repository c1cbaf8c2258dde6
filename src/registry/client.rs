//! One registry's HTTP conversation: scheme choice, authentication and retries.
//!
//! Authentication is driven by the registry's `WWW-Authenticate` challenge, as docker does it: a request
//! goes out anonymously (or with what the last challenge asked for); on a 401 the challenge is read —
//! `Basic` sends the credential, `Bearer realm=…,service=…` fetches a token for the request's scope
//! (`repository:NAME:pull[,push]`) from the realm, with the credential as basic auth when there is one —
//! and the request is sent again. Tokens are cached per scope for the life of the client. Requests that
//! fail with 429, a 5xx or a broken connection are retried with exponential backoff; request bodies come
//! from a source that can be replayed, so a retried upload sends the same bytes again.

use super::auth::{self, Credential};
use super::{tls, RegistryError};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::{self, Method, Response};
use ureq::{Body, SendBody};

/// Attempts for one request (the first plus retries) when the registry is busy or the link drops.
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Error bodies are only ever shown in messages; cap what is read of them.
const ERROR_BODY_LIMIT: u64 = 4096;

/// How to reach registries, from the command line.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `Some(false)`: any registry may be plain http or have an unverifiable certificate;
    /// `Some(true)`: always verify, loopback included; `None`: docker's default (loopback insecure).
    pub tls_verify: Option<bool>,
}

/// What a 401 asked for.
#[derive(Debug, Clone)]
enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

#[derive(Debug, Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Bearer tokens by scope.
    tokens: HashMap<String, String>,
}

/// A request body that can be sent more than once.
pub enum Payload<'a, 'r> {
    Empty,
    Bytes(&'a [u8]),
    /// A reader factory and the byte count; called again for every attempt.
    Stream {
        len: u64,
        open: &'a (dyn Fn() -> std::io::Result<Box<dyn Read + 'r>> + Sync),
    },
}

/// A client for one registry. `Sync`: layer transfers share it across threads.
pub struct Client {
    registry: String,
    base: String,
    agent: ureq::Agent,
    credential: Option<Credential>,
    auth: Mutex<AuthState>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.base)
    }
}

/// The API host of a registry: Docker Hub's references say `docker.io`, its API lives elsewhere.
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// The `repository:NAME:ACTIONS` scope a request needs.
pub fn scope(path: &str, push: bool) -> String {
    format!("repository:{path}:{}", if push { "pull,push" } else { "pull" })
}

impl Client {
    /// A client with the credential the auth files hold for `registry` (if any).
    pub fn connect(registry: &str, opts: &ClientOptions) -> Result<Client, RegistryError> {
        let credential = auth::lookup(registry)?;
        Client::with_credential(registry, opts, credential)
    }

    /// A client for the registry of `image`, refused when registries.conf blocks the image's name.
    pub fn for_image(image: &crate::reference::ImageRef, opts: &ClientOptions) -> Result<Client, RegistryError> {
        super::conf::Registries::load()?.check_blocked(&format!("{}/{}", image.domain(), image.path()))?;
        Client::connect(image.domain(), opts)
    }

    /// A client with an explicit credential (`login` verifies one before saving it).
    pub fn with_credential(
        registry: &str,
        opts: &ClientOptions,
        credential: Option<Credential>,
    ) -> Result<Client, RegistryError> {
        let host = api_host(registry);
        let conf = super::conf::Registries::load()?;
        conf.check_blocked(registry)?;
        // The command line wins over registries.conf, which wins over docker's loopback default.
        let insecure = conf.insecure(registry).unwrap_or_else(|| tls::insecure_by_default(registry));
        let verify = opts.tls_verify.unwrap_or(!insecure);
        let agent = tls::agent(registry, verify)?;
        let mut client = Client {
            registry: registry.to_string(),
            base: format!("https://{host}"),
            agent,
            credential,
            auth: Mutex::new(AuthState::default()),
        };
        if !verify {
            // Insecure registries: HTTPS when it answers at all, else plain HTTP (docker's fallback).
            let probe = client.agent.get(format!("{}/v2/", client.base)).call();
            if probe.is_err() {
                client.base = format!("http://{host}");
            }
        }
        Ok(client)
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `https://host/v2/<rest>`.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/v2/{rest}", self.base)
    }

    /// Resolve a `Location` header (absolute, or relative to the registry) into a URL.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }

    /// `GET /v2/` with the credential: does the registry accept it?
    pub fn ping(&self) -> Result<(), RegistryError> {
        let url = self.url("");
        // Some registries only challenge with a scope-less token; an empty scope asks for just that.
        let resp = self.send(Method::GET, &url, "", &[], &Payload::Empty)?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            s @ (401 | 403) => Err(RegistryError::LoginFailed { registry: self.registry.clone(), status: s }),
            _ => Err(self.status_error(&url, resp)),
        }
    }

    /// The error for an unexpected answer, with the start of its body (the registry's error JSON).
    pub fn status_error(&self, url: &str, resp: Response<Body>) -> RegistryError {
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return RegistryError::Unauthorized { registry: self.registry.clone(), status };
        }
        let body = resp.into_body().with_config().limit(ERROR_BODY_LIMIT).read_to_string().unwrap_or_default();
        RegistryError::Status { url: url.to_string(), status, body: body.trim().to_string() }
    }

    /// Send a request with authentication and retries. Any HTTP status comes back as a response; only
    /// transport failures that outlast the retries are errors.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        payload: &Payload<'_, '_>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut authed_once = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.send_once(method.clone(), url, scope, headers, payload);
            let retry = match &result {
                Ok(resp) => {
                    let s = resp.status().as_u16();
                    if s == 401 && !authed_once {
                        authed_once = true;
                        let challenge = resp
                            .headers()
                            .get("www-authenticate")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        if self.answer_challenge(&challenge, scope)? {
                            attempt -= 1;
                            continue;
                        }
                    }
                    s == 429 || (500..=599).contains(&s)
                }
                Err(_) => true,
            };
            if !retry || attempt >= ATTEMPTS {
                return result.map_err(|e| self.unreachable(url, e));
            }
            std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1));
        }
    }

    fn unreachable(&self, url: &str, e: ureq::Error) -> RegistryError {
        RegistryError::Unreachable { registry: self.registry.clone(), url: url.to_string(), source: Box::new(e) }
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        payload: &Payload<'_, '_>,
    ) -> Result<Response<Body>, ureq::Error> {
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(value) = self.authorization(scope) {
            b = b.header("authorization", value);
        }
        match payload {
            Payload::Empty => self.agent.run(b.body(())?),
            Payload::Bytes(bytes) => self.agent.run(b.header("content-length", bytes.len().to_string()).body(*bytes)?),
            Payload::Stream { len, open } => {
                let mut reader = open().map_err(ureq::Error::Io)?;
                let body = SendBody::from_reader(&mut reader);
                self.agent.run(b.header("content-length", len.to_string()).body(body)?)
            }
        }
    }

    /// The `Authorization` header the last challenge asked for, if we can answer it.
    fn authorization(&self, scope: &str) -> Option<String> {
        let state = self.auth.lock().unwrap_or_else(|e| e.into_inner());
        match state.challenge.as_ref()? {
            Challenge::Basic => self.credential.as_ref().map(|c| format!("Basic {}", c.basic())),
            Challenge::Bearer { .. } => state.tokens.get(scope).map(|t| format!("Bearer {t}")),
        }
    }

    /// Learn from a 401's challenge; whether sending again can help.
    fn answer_challenge(&self, header: &str, scope: &str) -> Result<bool, RegistryError> {
        let challenge = parse_challenge(header).ok_or_else(|| RegistryError::Challenge {
            registry: self.registry.clone(),
            challenge: header.to_string(),
        })?;
        let retry = match &challenge {
            Challenge::Basic => self.credential.is_some(),
            Challenge::Bearer { realm, service } => {
                let token = self.fetch_token(realm, service.as_deref(), scope)?;
                let mut state = self.auth.lock().unwrap_or_else(|e| e.into_inner());
                state.tokens.insert(scope.to_string(), token);
                true
            }
        };
        self.auth.lock().unwrap_or_else(|e| e.into_inner()).challenge = Some(challenge);
        Ok(retry)
    }

    /// Ask the token realm for a token for `scope`: with an identity token, the OAuth2 refresh-token
    /// grant (a form POST, as docker sends it); otherwise docker's token protocol (GET, basic auth).
    fn fetch_token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String, RegistryError> {
        if let Some(refresh) = self.credential.as_ref().and_then(Credential::identity_token) {
            let mut form = vec![
                "grant_type=refresh_token".to_string(),
                format!("refresh_token={}", encode(refresh)),
                "client_id=rbuild".to_string(),
            ];
            if let Some(s) = service {
                form.push(format!("service={}", encode(s)));
            }
            form.push(format!("scope={}", encode(scope.trim())));
            let req = self.agent.post(realm).header("content-type", "application/x-www-form-urlencoded");
            let resp = req.send(form.join("&")).map_err(|e| self.unreachable(realm, e))?;
            return self.read_token(realm, resp);
        }
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode(s)));
        }
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            query.push(format!("scope={}", encode(s)));
        }
        let url = if query.is_empty() { realm.to_string() } else { format!("{realm}?{}", query.join("&")) };
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.credential {
            req = req.header("authorization", format!("Basic {}", c.basic()));
        }
        let resp = req.call().map_err(|e| self.unreachable(&url, e))?;
        self.read_token(&url, resp)
    }

    /// The token of a realm's answer; a refusal of our credential is a failed login.
    fn read_token(&self, url: &str, resp: Response<Body>) -> Result<String, RegistryError> {
        let realm = url.split('?').next().unwrap_or(url);
        match resp.status().as_u16() {
            200..=299 => {}
            // An OAuth server refuses a bad refresh token with 400 invalid_grant.
            s @ (400 | 401 | 403) if self.credential.is_some() => {
                return Err(RegistryError::LoginFailed { registry: self.registry.clone(), status: s })
            }
            _ => return Err(self.status_error(url, resp)),
        }
        let body = resp.into_body().with_config().limit(1 << 20).read_to_vec().map_err(|e| self.unreachable(url, e))?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|source| RegistryError::Json { what: format!("token from {realm}"), source })?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(String::from)
            .ok_or_else(|| RegistryError::Malformed {
                what: format!("token from {realm}"),
                detail: "no token in the answer".into(),
            })
    }
}

/// Percent-encode a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Basic realm="x"` or `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            Some(Challenge::Bearer { realm: params.get("realm")?.clone(), service: params.get("service").cloned() })
        }
        _ => None,
    }
}

/// `k="v", k2=v2` (quoted values may hold commas).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a:pull""#,
        );
        match c {
            Some(Challenge::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.example/token");
                assert_eq!(service.as_deref(), Some("reg,istry"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic)));
        assert!(parse_challenge("Negotiate").is_none());
        assert!(parse_challenge("Bearer service=x").is_none(), "a bearer challenge needs a realm");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
