//! `rbuild build`: turn flags into a `BuildRequest` and run it.

use super::{Globals, UsageError};
use crate::engine::output::{self, Output};
use crate::engine::{self, BuildRequest};
use crate::layer::Compression;
use crate::reference::ImageRef;
use crate::store::settings::LocalCompression;
use crate::store::Store;
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  rbuild build -t app:1.0 .\n  rbuild -t app:1.0 -f docker/Dockerfile --build-arg VERSION=2 .\n  \
SOURCE_DATE_EPOCH=0 rbuild build -t app:repro .   # same inputs, same image digest"
)]
pub struct BuildCommand {
    /// Build context directory
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,

    /// Name and optionally tag the image (name:tag); repeatable
    #[arg(value_parser = super::text(), short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,

    /// Dockerfile path (default: CONTEXT/Dockerfile; `-` reads it from stdin)
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Set a build-time variable (NAME=VALUE, or NAME to take it from the environment); repeatable
    #[arg(value_parser = super::text(), long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_args: Vec<String>,

    /// Expose a secret to `RUN --mount=type=secret`: id=ID,src=FILE or id=ID,env=VAR; repeatable
    #[arg(value_parser = super::text(), long = "secret", value_name = "id=ID,src=FILE|env=VAR")]
    pub secrets: Vec<String>,

    /// Forward an ssh agent to `RUN --mount=type=ssh`: ID (default: $SSH_AUTH_SOCK) or ID=SOCKET; repeatable
    #[arg(value_parser = super::text(), long = "ssh", value_name = "ID[=SOCKET]")]
    pub ssh: Vec<String>,

    /// Build this stage (by name) instead of the last one
    #[arg(value_parser = super::text(), long)]
    pub target: Option<String>,

    /// Set a label on the image (KEY=VALUE); repeatable
    #[arg(value_parser = super::text(), long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Write the image ID to this file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,

    /// Print nothing but the image ID (on stdout)
    #[arg(short, long)]
    pub quiet: bool,

    /// Compress the layers in the store: gzip or zstd (default: plain tars in the store, gzip-compressed
    /// once on push, save and --output; docs/layers.md)
    #[arg(long, value_enum)]
    pub compression: Option<CompressionArg>,

    /// Network for RUN steps: the host's, or none (only loopback); `RUN --network=` overrides it
    #[arg(long, value_enum, default_value = "host")]
    pub network: NetworkArg,

    /// Output: a live view on a terminal (tty), plain lines, or JSON events, one per line
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: crate::engine::progress::Mode,

    /// Do not use the step cache: run every step
    #[arg(long)]
    pub no_cache: bool,

    /// Build at most N independent stages at once (default: the number of CPUs)
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// When to pull the images FROM and COPY --from name: missing (from the store when there),
    /// always, or never
    #[arg(long, value_enum, value_name = "WHEN", default_value = "missing", num_args = 0..=1, require_equals = true,
        default_missing_value = "always")]
    pub pull: crate::engine::images::PullPolicy,

    /// Push every -t name to its registry after the build (the same as -o type=registry)
    #[arg(long)]
    pub push: bool,

    /// Export the build cache: type=registry,ref=NAME[:TAG][,mode=min|max][,mounts=ID1;ID2] or
    /// type=local,dest=DIR (an OCI layout); repeatable
    #[arg(value_parser = super::text(), long = "cache-to", value_name = "OPTIONS")]
    pub cache_to: Vec<String>,

    /// Use an exported build cache: NAME[:TAG], type=registry,ref=NAME[:TAG] or type=local,src=DIR;
    /// repeatable (a missing cache is a warning)
    #[arg(value_parser = super::text(), long = "cache-from", value_name = "OPTIONS")]
    pub cache_from: Vec<String>,

    /// Also write the image as: type=image[,name=N][,push=true] (the store, default), type=registry,
    /// type=oci,dest=FILE|DIR[,tar=false], type=docker,dest=FILE, type=tar,dest=FILE, type=local,dest=DIR;
    /// DIR alone is type=local, `-` a rootfs tar on stdout (dest=- too, for the tar types)
    #[arg(value_parser = super::text(), short = 'o', long = "output", value_name = "type=TYPE,KEY=VALUE|DIR|-")]
    pub output: Option<String>,

    /// Write the image's manifest digest (with --push: the pushed digest) to this file
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,

    #[command(flatten)]
    pub registry: super::pull::RegistryFlags,

    /// Lint the Dockerfile first (as `rbuild lint`) and stop before building if a rule reports an error
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub sandbox: super::sandbox_opts::SandboxOptions,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NetworkArg {
    Host,
    None,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

fn parse_labels(words: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    let mut out = BTreeMap::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            _ => return Err(UsageError(format!("malformed --label {w:?}: expected KEY=VALUE"))),
        }
    }
    Ok(out)
}

pub fn run(g: &Globals, a: BuildCommand) -> anyhow::Result<ExitCode> {
    let mut tags = a
        .tags
        .iter()
        .map(|t| ImageRef::parse(t).map_err(|e| UsageError(format!("invalid tag {t:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let (output, push) = output_of(&a, &mut tags)?;
    let build_args = crate::plan::BuildArgs::parse(&a.build_args).map_err(|e| UsageError(e.to_string()))?;
    let labels = parse_labels(&a.labels)?;
    let source_date_epoch = super::source_date_epoch(build_args.get("SOURCE_DATE_EPOCH"))?;
    let (seccomp, limits) = a.sandbox.resolve()?;
    let usage = |e: crate::cachex::CacheError| UsageError(e.to_string());
    let cache_to =
        a.cache_to.iter().map(|t| crate::cachex::spec::parse_to(t).map_err(usage)).collect::<Result<_, _>>()?;
    let cache_from =
        a.cache_from.iter().map(|t| crate::cachex::spec::parse_from(t).map_err(usage)).collect::<Result<_, _>>()?;
    if !a.context.is_dir() {
        return Err(UsageError(format!("build context {:?} is not a directory", a.context.display())).into());
    }
    let (dockerfile, dockerfile_text) = match &a.file {
        Some(p) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading the Dockerfile from stdin")?;
            (PathBuf::from("Dockerfile"), text)
        }
        Some(p) => (p.clone(), read_dockerfile(p)?),
        None => {
            let p = a.context.join("Dockerfile");
            let p = if !p.exists() && a.context.join("dockerfile").exists() { a.context.join("dockerfile") } else { p };
            (p.clone(), read_dockerfile(&p)?)
        }
    };
    if a.check && super::lint::check_before_build(&dockerfile, &dockerfile_text, &a.context)? {
        return Ok(ExitCode::from(1));
    }
    // Overlay mounts for COPY live in a mount namespace of our own: never seen by the host, gone when we
    // exit. Only root can make one; without it the build uses the copy backend.
    if nix::unistd::geteuid().is_root() {
        if let Err(e) = crate::snapshot::overlay::enter_private_mount_namespace() {
            if g.debug {
                eprintln!("debug: no private mount namespace: {e}");
            }
        }
    }
    let store = Store::open(&g.root)?;
    let req = BuildRequest {
        context_dir: a.context.clone(),
        dockerfile,
        dockerfile_text,
        tags,
        build_args,
        secrets: crate::engine::secrets::Secrets::parse(&a.secrets).map_err(|e| UsageError(e.to_string()))?,
        ssh: crate::engine::secrets::SshAgents::parse(&a.ssh).map_err(|e| UsageError(e.to_string()))?,
        target: a.target.clone(),
        labels,
        compression: match a.compression {
            Some(CompressionArg::Gzip) => Compression::Gzip,
            Some(CompressionArg::Zstd) => Compression::Zstd,
            None => match store.layer_compression()? {
                LocalCompression::None => Compression::None,
                LocalCompression::Gzip => Compression::Gzip,
                LocalCompression::Zstd => Compression::Zstd,
            },
        },
        source_date_epoch,
        network: match a.network {
            NetworkArg::Host => crate::sandbox::Network::Host,
            NetworkArg::None => crate::sandbox::Network::None,
        },
        seccomp,
        limits,
        no_cache: a.no_cache,
        progress: a.progress,
        quiet: a.quiet,
        debug: g.debug,
        pull: a.pull,
        registry: a.registry.options(),
        cache_to,
        cache_from,
        sandbox_init: None,
        jobs: a.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), usize::from),
    };
    if push && req.tags.is_empty() {
        return Err(UsageError("--push needs a name to push to: add -t REGISTRY/NAME[:TAG]".into()).into());
    }
    let out = engine::build(&store, &req)?;
    // Before the automatic gc: the output is written from the store.
    output::deliver(&store, &output, &out.manifest, &req.tags)?;
    super::builder::auto_gc(&store, a.quiet);
    if let Some(path) = &a.iidfile {
        std::fs::write(path, out.image_id.to_string())
            .with_context(|| format!("writing the image ID to {}", path.display()))?;
    }
    let mut digest = out.manifest.clone();
    if push {
        let progress = super::pull::transfer_progress(a.progress, a.quiet);
        for tag in &req.tags {
            digest = super::push::push_image(&store, &out.manifest, tag, &req.registry, &progress, None)
                .with_context(|| format!("the image was built ({}) but not pushed", out.image_id))?
                .digest;
        }
    }
    super::push::write_digestfile(a.digestfile.as_deref(), &digest)?;
    // Standard output carries the archive then: the ID is in --iidfile.
    if a.quiet && !output.to_stdout() {
        println!("{}", out.image_id);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `-o` output, checked before anything is built; its `name=`s join the tags. Whether to push.
fn output_of(a: &BuildCommand, tags: &mut Vec<ImageRef>) -> anyhow::Result<(Output, bool)> {
    let output = match &a.output {
        Some(spec) => {
            let output = Output::parse(spec).map_err(|e| UsageError(e.to_string()))?;
            output.preflight()?;
            output
        }
        None => Output::Image { names: Vec::new(), push: false },
    };
    if a.push && !matches!(output, Output::Image { .. }) {
        return Err(UsageError("--push is -o type=registry: give either --push or another -o, not both".into()).into());
    }
    if output.to_stdout() && std::io::stdout().is_terminal() {
        return Err(UsageError("refusing to write an archive to a terminal: give dest=FILE or redirect".into()).into());
    }
    let push = match &output {
        Output::Image { names, push } => {
            tags.extend(names.iter().cloned());
            a.push || *push
        }
        _ => false,
    };
    Ok((output, push))
}

fn read_dockerfile(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        anyhow::Error::new(UsageError(format!(
            "cannot read Dockerfile {}: {e} (use -f to name another file)",
            path.display()
        )))
    })
}
