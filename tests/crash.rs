//! The crash harness, short: `scripts/crash 10` (ten random SIGKILLs across build/import/tag/rmi/prune,
//! then `rbuild system check`, a leaked-process check, and a rebuild that must give the digest of an
//! uninterrupted build). `scripts/crash 100` is the long run.

mod common;

#[test]
fn crash_harness_ten_sigkills_leave_a_consistent_store() {
    common::require_root();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/crash");
    let out = std::process::Command::new(script)
        .arg("10")
        .env("RBUILD", env!("CARGO_BIN_EXE_rbuild"))
        // Small inputs keep the ten rounds well under a minute with a debug binary.
        .env("CRASH_COPY_MIB", "1")
        .env("CRASH_IMPORT_MIB", "2")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/crash 10 found problems:\n{text}");
    assert!(text.contains("problems: 0"), "{text}");
}
