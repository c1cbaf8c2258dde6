//! A resolved seccomp [`Filter`] compiled once to the kernel's BPF program and loaded by the sandbox child
//! with one `seccomp(2)` call.
//!
//! libseccomp builds the program from the rules on every load, and for Docker's default profile that is
//! ~9 ms of CPU in the child, a third of a whole `rbuild run --rm busybox true`. The program depends only
//! on the filter, the architecture and the libseccomp that compiled it, so rbuild compiles it on its side
//! (libseccomp's own `seccomp_export_bpf`) and keeps it in the store's `cache/seccomp/` under the sha256 of
//! those inputs ([`set_cache_dir`]; without one it is compiled each time). The child gets the program's
//! bytes in its spec and installs it as libseccomp's `seccomp_load` would with the default attributes: no
//! flags, after `no_new_privs` (which the setup has already set).

use super::seccomp::Filter;
use super::SandboxError;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One BPF instruction (`struct sock_filter`) is 8 bytes; the kernel takes at most `BPF_MAXINSNS`.
const INSN: usize = 8;
const MAX_INSNS: usize = 4096;

static CACHE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Keep compiled programs in `dir` (the store's `cache/seccomp`), created when first needed. Set once
/// per process, by the CLI once it knows the store; later calls are ignored.
pub fn set_cache_dir(dir: PathBuf) {
    let _ = CACHE_DIR.set(dir);
}

/// A seccomp filter as the kernel runs it: `struct sock_filter` instructions in native byte order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Program(#[serde(with = "hex::serde")] Vec<u8>);

impl Program {
    /// The program for `filter`: from the cache when compiled before, else compiled (and cached).
    pub(crate) fn of(filter: &Filter) -> Result<Program, SandboxError> {
        let Some(dir) = CACHE_DIR.get() else { return compile(filter) };
        let path = dir.join(format!("{}.bpf", cache_key(filter)?));
        if let Some(program) = std::fs::read(&path).ok().and_then(Program::checked) {
            return Ok(program);
        }
        let program = compile(filter)?;
        // A cache that cannot be written costs the next run a compile, nothing more.
        let _ = store(dir, &path, &program);
        Ok(program)
    }

    /// Bytes that are a plausible program: whole instructions, at least one, at most the kernel's limit.
    fn checked(bytes: Vec<u8>) -> Option<Program> {
        (!bytes.is_empty() && bytes.len() % INSN == 0 && bytes.len() / INSN <= MAX_INSNS).then_some(Program(bytes))
    }

    /// Install the program on the calling thread (the sandbox child, right before `execve`). The setup
    /// set `no_new_privs` when it took the command's user, which the kernel requires of an unprivileged
    /// caller.
    pub(crate) fn load(&self) -> Result<(), SandboxError> {
        let fail = |reason: String| SandboxError::Seccomp { what: "loading the filter".into(), reason };
        let len = u16::try_from(self.0.len() / INSN).map_err(|_| fail("the program is too long".into()))?;
        // The instructions, copied into properly aligned `sock_filter`s.
        let insns: Vec<libc::sock_filter> = self
            .0
            .chunks_exact(INSN)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let prog = libc::sock_fprog { len, filter: insns.as_ptr().cast_mut() };
        // SAFETY: `prog` points at `len` initialised instructions that outlive the call; the kernel copies
        // the program before returning.
        let rc = unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog as *const libc::sock_fprog)
        };
        if rc < 0 {
            return Err(fail(std::io::Error::last_os_error().to_string()));
        }
        Ok(())
    }
}

/// What the compiled program depends on: the filter, the architecture and libseccomp's version.
fn cache_key(filter: &Filter) -> Result<String, SandboxError> {
    let json = serde_json::to_vec(filter).map_err(SandboxError::Protocol)?;
    let version =
        libseccomp::ScmpVersion::current().map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro)).unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update(format!("rbuild-seccomp-bpf-1\0{}\0{version}\0", std::env::consts::ARCH));
    hash.update(&json);
    Ok(hex::encode(hash.finalize()))
}

/// Compile `filter` with libseccomp and read back the program it exports.
fn compile(filter: &Filter) -> Result<Program, SandboxError> {
    let fail = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| SandboxError::Seccomp { what, reason: e.to_string() }
    };
    let ctx = filter.context()?;
    let mut file = tempfile::tempfile().map_err(fail("creating a temporary file for the program"))?;
    ctx.export_bpf(&file)
        .map_err(|e| SandboxError::Seccomp { what: "exporting the program".into(), reason: e.to_string() })?;
    let mut bytes = Vec::new();
    file.rewind().and_then(|()| file.read_to_end(&mut bytes)).map_err(fail("reading the exported program"))?;
    Program::checked(bytes).ok_or_else(|| SandboxError::Seccomp {
        what: "exporting the program".into(),
        reason: "libseccomp exported no whole program".into(),
    })
}

/// Write `program` to `path` in `dir` whole or not at all (a temp file renamed into place).
fn store(dir: &Path, path: &Path, program: &Program) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&program.0)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_program_is_the_compiled_one_and_garbage_is_not_taken_for_one() {
        let filter = super::super::seccomp::default_filter_for_tests();
        let compiled = compile(&filter).unwrap();
        assert_eq!(compiled.0.len() % INSN, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bpf");
        store(dir.path(), &path, &compiled).unwrap();
        assert_eq!(Program::checked(std::fs::read(&path).unwrap()), Some(compiled.clone()));
        assert_eq!(Program::checked(vec![0; 7]), None);
        assert_eq!(Program::checked(Vec::new()), None);
        assert_eq!(Program::checked(vec![0; INSN * (MAX_INSNS + 1)]), None);
        // The key follows the filter: a different rule set is a different program.
        let mut other = filter.clone();
        other.rules.truncate(1);
        assert_ne!(cache_key(&filter).unwrap(), cache_key(&other).unwrap());
        assert_ne!(compile(&other).unwrap(), compiled);
    }
}
