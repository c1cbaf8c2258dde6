//! Deterministic JSON: the same value always serialises to the same bytes, so configs and manifests
//! have stable digests.
//!
//! oci-spec keeps labels, annotations and port sets in `HashMap`s whose iteration order changes from run
//! to run; serialising through `serde_json::Value` and writing every object with its keys sorted removes
//! that randomness whatever map type serde_json was built with.

use serde::Serialize;
use serde_json::Value;

/// Serialise `value` compactly with object keys in byte order.
pub fn canonical<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::new();
    write_value(&value, &mut out)?;
    Ok(out)
}

/// Like [`canonical`] for an already built `Value`.
pub fn canonical_value(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                write_value(v, out)?;
            }
            out.push(b'}');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn maps_serialise_in_key_order_whatever_their_insertion_order() {
        let forward: HashMap<String, u32> = (0..64).map(|i| (format!("k{i}"), i)).collect();
        let backward: HashMap<String, u32> = (0..64).rev().map(|i| (format!("k{i}"), i)).collect();
        let a = canonical(&forward).unwrap();
        assert_eq!(a, canonical(&backward).unwrap());
        let text = String::from_utf8(a).unwrap();
        assert!(text.starts_with(r#"{"k0":0,"k1":1,"k10":10,"#), "{text}");
    }

    #[test]
    fn nested_values_and_escapes_round_trip() {
        let v = serde_json::json!({"b": [1, {"z": "q\"\n", "a": null}], "a": true});
        let bytes = canonical_value(&v).unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), r#"{"a":true,"b":[1,{"a":null,"z":"q\"\n"}]}"#);
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), v);
    }
}
