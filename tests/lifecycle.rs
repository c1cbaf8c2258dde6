//! Image lifecycle end to end (issue 9): no-op rebuilds, garbage collection, prune commands, system df and
//! check, driven through the real binary over temp stores.

mod common;

use common::{require_root, TestContext};
use serde_json::Value;

const DOCKERFILE: &str = "FROM busybox\nENV A=1\nCOPY a.txt /a.txt\nRUN echo hi > /x\nCOPY b.txt /b.txt\nLABEL l=v\nCMD [\"sh\"]\n";

/// Manifests in index.json that carry no name: `<none>:<none>` images.
fn dangling(t: &TestContext) -> Vec<Value> {
    let index = t.index();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"].is_null())
        .cloned()
        .collect()
}

fn manifest_digest(t: &TestContext, name: &str) -> String {
    let index = t.index();
    let m = index["manifests"].as_array().unwrap().iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name);
    m.unwrap()["digest"].as_str().unwrap().to_string()
}

#[test]
fn defect1_fully_cached_rebuilds_give_one_image_and_no_dangling_one() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", DOCKERFILE);
    t.write("a.txt", "a");
    t.write("b.txt", "one");
    let first = t.build("app:1", &[]);
    let manifest = manifest_digest(&t, "app:1");
    for _ in 0..3 {
        assert_eq!(t.build("app:1", &[]), first, "a fully cached rebuild gives the same image ID");
        assert_eq!(manifest_digest(&t, "app:1"), manifest, "and the same manifest");
        assert!(dangling(&t).is_empty(), "and leaves no <none> image: {}", t.index());
    }
    let history = t.config("app:1")["history"].clone();
    t.write("b.txt", "two");
    let second = t.build("app:1", &[]);
    assert_ne!(second, first);
    assert_eq!(dangling(&t).len(), 1, "one change, one <none> image: {}", t.index());
    // The layer steps before the change kept the time of their first build (COPY a.txt, RUN), the
    // changed one has a new one.
    let now = t.config("app:1")["history"].clone();
    let n = history.as_array().unwrap().len();
    assert_eq!(now[n - 5]["created"], history[n - 5]["created"]);
    assert_eq!(now[n - 4]["created"], history[n - 4]["created"]);
    assert_ne!(now[n - 3]["created"], history[n - 3]["created"]);
    assert_eq!(t.build("app:1", &[]), second);
    assert_eq!(dangling(&t).len(), 1);
}
