//! Dockerfile text → syntax tree → typed instructions, the BuildKit dump and the linter: none may panic,
//! whatever the text. A file that parses must dump to JSON that serialises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild::dockerfile::{dump, instructions, parse};
use rbuild::lint;

fuzz_target!(|data: &[u8]| {
    // Dockerfiles are read as UTF-8 (a non-UTF-8 file is refused before parsing).
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(file) = parse(text) {
        let _ = dump::dump(&file);
        serde_json::to_vec(&dump::to_json(&file)).expect("the dump of a parsed file serialises");
        let _ = instructions::lower(&file);
    }
    // The linter parses again and then runs every rule (including its shell parser) over the model.
    let input = lint::Input { file: "Dockerfile", text, dockerignore: None };
    let _ = lint::lint(&input, &lint::Config::default());
});
