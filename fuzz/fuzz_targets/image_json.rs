//! Image JSON as the store reads it: OCI manifests, indexes and configs (oci-spec), rbuild's own config
//! reader (`ImageState::from_json`, Docker extension fields) and digests. Errors are fine; panics are not.
//! What parses must serialise canonically, and a config rbuild read must write back out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use rbuild::image::{ConfigExtensions, ImageState};
use rbuild::store::{self, json};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ImageManifest>(data) {
        json::canonical(&m).expect("a parsed manifest serialises");
        let _ = store::from_oci_digest(m.config().digest());
        for layer in m.layers() {
            let _ = store::from_oci_digest(layer.digest());
        }
    }
    if let Ok(i) = serde_json::from_slice::<ImageIndex>(data) {
        json::canonical(&i).expect("a parsed index serialises");
        for d in i.manifests() {
            let _ = store::from_oci_digest(d.digest());
        }
    }
    if let Ok(c) = serde_json::from_slice::<ImageConfiguration>(data) {
        json::canonical(&c).expect("a parsed config serialises");
    }
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let ext = ConfigExtensions::from_config_json(&doc);
        let mut copy = doc.clone();
        let _ = ext.merge_into(&mut copy);
        let _ = json::canonical_value(&doc);
    }
    if let Ok(state) = ImageState::from_json(data) {
        let _ = state.to_json();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rbuild::digest::Digest::parse(text);
        let _ = rbuild::image::ImageRef::parse(text);
    }
});
