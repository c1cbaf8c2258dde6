//! Running another architecture's binaries: whether the kernel's binfmt_misc has a handler (Debian's
//! `qemu-user-static` registers `qemu-<arch>`) that will run an ELF of a given architecture, found by
//! matching each registered magic/mask against that architecture's ELF header, as the kernel does.
//!
//! Nothing is set up here: RUN just execs the image's binary, and the kernel hands it to the emulator.
//! That works inside the sandbox's mount namespace only if the handler has the F (fix binary) flag: the
//! kernel then opened the interpreter when it was registered; without F it looks the path up in the
//! image's rootfs, where there is no qemu. Debian registers with F (`fix_binary yes`).
//!
//! `RBUILD_BINFMT_DIR` (test-only) points the lookup at another directory laid out as
//! `/proc/sys/fs/binfmt_misc`, so tests can see both a registered handler and none.

use std::path::{Path, PathBuf};

/// Where binfmt_misc is mounted on every distribution.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// What to install, named in every error that lacks a handler.
const INSTALL: &str = "install qemu-user-static and binfmt-support (apt-get install qemu-user-static \
                       binfmt-support), mount binfmt_misc (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc) \
                       and enable the handlers (update-binfmts --enable)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulationError {
    #[error("rbuild does not know the ELF machine of architecture {arch:?}, so it cannot emulate it")]
    UnknownArch { arch: String },
    #[error("binfmt_misc is not mounted at {}: {INSTALL}", dir.display())]
    NotMounted { dir: PathBuf },
    #[error("binfmt_misc is disabled ({}/status): `echo 1 > {}/status`, or {INSTALL}", dir.display(), dir.display())]
    Disabled { dir: PathBuf },
    #[error("no binfmt_misc handler runs {arch} binaries here (none registered in {}): {INSTALL}", dir.display())]
    NoHandler { arch: String, dir: PathBuf },
    #[error(
        "the binfmt_misc handler {name} for {arch} lacks the F (fix binary) flag, so its interpreter {interpreter} \
         would be looked up inside the image: re-register it with F (Debian's qemu-user-static does: \
         update-binfmts --enable {name})"
    )]
    NotFixed { name: String, arch: String, interpreter: String },
}

/// A registered handler that runs an architecture's binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// Its name in binfmt_misc (`qemu-aarch64`).
    pub name: String,
    pub interpreter: String,
}

/// The binfmt_misc directory to read: `RBUILD_BINFMT_DIR` (test-only), else [`BINFMT_DIR`].
fn binfmt_dir() -> PathBuf {
    std::env::var_os("RBUILD_BINFMT_DIR").map_or_else(|| PathBuf::from(BINFMT_DIR), PathBuf::from)
}

/// The host's architecture in OCI (Go) naming: `amd64`, `arm64`, `386`, `ppc64le`, ...
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        other => other,
    }
}

/// Whether this host runs `arch` (an OCI architecture name) binaries itself.
pub fn native(arch: &str, host_arch: &str) -> bool {
    arch == host_arch || (host_arch == "amd64" && arch == "386")
}

/// The enabled handler that runs `arch` binaries, or why there is none.
pub fn handler_for(arch: &str) -> Result<Handler, EmulationError> {
    handler_in(&binfmt_dir(), arch)
}

fn handler_in(dir: &Path, arch: &str) -> Result<Handler, EmulationError> {
    let header = elf_header(arch).ok_or_else(|| EmulationError::UnknownArch { arch: arch.to_string() })?;
    let status = std::fs::read_to_string(dir.join("status"))
        .map_err(|_| EmulationError::NotMounted { dir: dir.to_path_buf() })?;
    if status.trim() != "enabled" {
        return Err(EmulationError::Disabled { dir: dir.to_path_buf() });
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|_| EmulationError::NotMounted { dir: dir.to_path_buf() })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !matches!(p.file_name().and_then(|n| n.to_str()), Some("status" | "register")))
        .collect();
    entries.sort();
    let mut unfixed = None;
    for path in entries {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let Some(entry) = Entry::parse(&text) else { continue };
        if !entry.enabled || !entry.matches(&header) {
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if entry.fix_binary {
            return Ok(Handler { name, interpreter: entry.interpreter });
        }
        unfixed.get_or_insert(EmulationError::NotFixed {
            name,
            arch: arch.to_string(),
            interpreter: entry.interpreter,
        });
    }
    Err(unfixed.unwrap_or_else(|| EmulationError::NoHandler { arch: arch.to_string(), dir: dir.to_path_buf() }))
}

/// One magic-based entry of binfmt_misc, as the kernel shows it.
struct Entry {
    enabled: bool,
    interpreter: String,
    fix_binary: bool,
    offset: usize,
    magic: Vec<u8>,
    mask: Option<Vec<u8>>,
}

impl Entry {
    /// `None` for what is not a magic entry (an `extension` entry, or text we do not understand).
    fn parse(text: &str) -> Option<Entry> {
        let mut lines = text.lines();
        let enabled = lines.next()? == "enabled";
        let (mut interpreter, mut flags, mut offset, mut magic, mut mask) = (None, "", 0, None, None);
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            match key {
                "interpreter" => interpreter = Some(value.to_string()),
                "flags:" => flags = value,
                "offset" => offset = value.parse().ok()?,
                "magic" => magic = Some(unhex(value)?),
                "mask" => mask = Some(unhex(value)?),
                _ => {}
            }
        }
        Some(Entry { enabled, interpreter: interpreter?, fix_binary: flags.contains('F'), offset, magic: magic?, mask })
    }

    /// Whether the kernel would hand a file starting with `header` to this entry.
    fn matches(&self, header: &[u8]) -> bool {
        self.magic.iter().enumerate().all(|(i, m)| {
            let mask = self.mask.as_ref().and_then(|k| k.get(i)).copied().unwrap_or(0xff);
            header.get(self.offset + i).is_some_and(|b| b & mask == m & mask)
        })
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The first 20 bytes of an executable of `arch` (OCI name): ELF magic, class, byte order, version,
/// type ET_EXEC, machine.
fn elf_header(arch: &str) -> Option<[u8; 20]> {
    // (64-bit, little-endian, e_machine)
    let (wide, little, machine): (bool, bool, u16) = match arch {
        "amd64" => (true, true, 62),
        "386" => (false, true, 3),
        "arm64" => (true, true, 183),
        "arm" => (false, true, 40),
        "riscv64" => (true, true, 243),
        "ppc64le" => (true, true, 21),
        "ppc64" => (true, false, 21),
        "s390x" => (true, false, 22),
        "mips64le" => (true, true, 8),
        "mips64" => (true, false, 8),
        "mipsle" => (false, true, 8),
        "mips" => (false, false, 8),
        "loong64" => (true, true, 258),
        _ => return None,
    };
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = if wide { 2 } else { 1 };
    h[5] = if little { 1 } else { 2 };
    h[6] = 1;
    let (etype, mach) =
        if little { (2u16.to_le_bytes(), machine.to_le_bytes()) } else { (2u16.to_be_bytes(), machine.to_be_bytes()) };
    h[16..18].copy_from_slice(&etype);
    h[18..20].copy_from_slice(&mach);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian bookworm's qemu-aarch64 entry, as /proc shows it.
    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n\
                           magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

    fn dir_with(entries: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("status"), "enabled\n").unwrap();
        std::fs::write(d.path().join("register"), "").unwrap();
        for (name, text) in entries {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn the_debian_aarch64_entry_runs_arm64_and_nothing_else() {
        let d = dir_with(&[
            ("qemu-aarch64", AARCH64),
            ("jar", "enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n"),
        ]);
        let h = handler_in(d.path(), "arm64").unwrap();
        assert_eq!(h.name, "qemu-aarch64");
        assert!(matches!(handler_in(d.path(), "s390x"), Err(EmulationError::NoHandler { .. })));
        assert!(matches!(handler_in(d.path(), "arm"), Err(EmulationError::NoHandler { .. })));
        assert!(matches!(handler_in(d.path(), "sparc9"), Err(EmulationError::UnknownArch { .. })));
    }

    #[test]
    fn disabled_unfixed_and_unmounted_handlers_are_told_apart() {
        let d = dir_with(&[("qemu-aarch64", &AARCH64.replacen("enabled", "disabled", 1))]);
        assert!(matches!(handler_in(d.path(), "arm64"), Err(EmulationError::NoHandler { .. })));
        let d = dir_with(&[("qemu-aarch64", &AARCH64.replace("flags: PF", "flags: P"))]);
        let e = handler_in(d.path(), "arm64").unwrap_err();
        assert!(matches!(e, EmulationError::NotFixed { .. }) && e.to_string().contains("F (fix binary)"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = handler_in(empty.path(), "arm64").unwrap_err();
        assert!(matches!(e, EmulationError::NotMounted { .. }) && e.to_string().contains("qemu-user-static"), "{e}");
    }

    #[test]
    fn big_endian_headers_match_their_own_entries() {
        let s390x = "enabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\nflags: PF\noffset 0\n\
                     magic 7f454c4602020100000000000000000000020016\nmask fffffffffffffffcfffffffffffffffffffeffff\n";
        let d = dir_with(&[("qemu-s390x", s390x)]);
        assert_eq!(handler_in(d.path(), "s390x").unwrap().name, "qemu-s390x");
        assert!(handler_in(d.path(), "arm64").is_err());
    }
}
