//! `--ulimit NAME=SOFT[:HARD]`: resource limits (`setrlimit`) of the sandboxed command, under Docker's
//! names. Kept in a fixed table so [`Ulimits`] stays `Copy` like the rest of [`super::Limits`]; the
//! sandbox's init sets them while it still has `CAP_SYS_RESOURCE` (raising a hard limit needs it).

use serde::{Deserialize, Serialize};

/// Docker's `--ulimit` names and their resources.
const NAMES: [(&str, u32); 16] = [
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// Soft and hard limit per entry of `NAMES`; `None` leaves the inherited limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimits([Option<(u64, u64)>; NAMES.len()]);

impl Ulimits {
    /// Parse `--ulimit` words: `nofile=1024:2048`, `nproc=512` (soft = hard), `-1` for unlimited.
    pub fn parse(words: &[String]) -> Result<Ulimits, String> {
        let mut out = Ulimits::default();
        for w in words {
            let bad = |why: &str| format!("invalid --ulimit {w:?}: {why}");
            let (name, value) =
                w.split_once('=').ok_or_else(|| bad("expected NAME=SOFT[:HARD], e.g. nofile=1024:2048"))?;
            let index = NAMES.iter().position(|(n, _)| *n == name).ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                bad(&format!("unknown limit; use one of {}", names.join(", ")))
            })?;
            let number = |s: &str| match s.trim() {
                "-1" => Ok(libc::RLIM_INFINITY),
                s => s.parse::<u64>().map_err(|_| bad("limits are whole numbers (or -1 for unlimited)")),
            };
            let (soft, hard) = match value.split_once(':') {
                Some((s, h)) => (number(s)?, number(h)?),
                None => (number(value)?, number(value)?),
            };
            if soft > hard {
                return Err(bad("the soft limit must not exceed the hard limit"));
            }
            out.0[index] = Some((soft, hard));
        }
        Ok(out)
    }

    /// `(name, resource, soft, hard)` of each limit set.
    pub fn set(&self) -> impl Iterator<Item = (&'static str, u32, u64, u64)> + '_ {
        self.0.iter().zip(NAMES).filter_map(|(l, (name, resource))| l.map(|(soft, hard)| (name, resource, soft, hard)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_syntax_and_refuses_the_rest() {
        let u = Ulimits::parse(&["nofile=1024:2048".into(), "nproc=-1".into()]).unwrap();
        let set: Vec<_> = u.set().map(|(_, r, s, h)| (r, s, h)).collect();
        assert_eq!(
            set,
            vec![(libc::RLIMIT_NOFILE, 1024, 2048), (libc::RLIMIT_NPROC, libc::RLIM_INFINITY, libc::RLIM_INFINITY)]
        );
        for bad in ["nofile", "files=1", "nofile=2:1", "nofile=x"] {
            assert!(Ulimits::parse(&[bad.into()]).unwrap_err().contains("--ulimit"), "{bad}");
        }
    }
}
