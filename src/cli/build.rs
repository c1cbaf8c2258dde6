//! `rbuild build`: turn flags into a `BuildRequest` and run it.

use super::sandbox_opts::add_host_line;
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
    /// Build context directory, or `-`: a tar archive (plain or compressed) or a lone Dockerfile on stdin
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

    /// An extra named context for FROM NAME, COPY --from=NAME and RUN --mount from=NAME (before stages and
    /// images of that name): NAME=DIR or NAME=docker-image://REF; repeatable
    #[arg(value_parser = super::text(), long = "build-context", value_name = "NAME=DIR|docker-image://REF")]
    pub build_contexts: Vec<String>,

    /// Build this stage (by name) instead of the last one
    #[arg(value_parser = super::text(), long)]
    pub target: Option<String>,

    /// Build for this platform, os/arch[/variant] (default: the host's), or for several at once
    /// (comma-separated: the tags name an OCI image index); RUN steps of another architecture run under
    /// qemu-user emulation (binfmt_misc)
    #[arg(value_parser = super::text(), long, value_name = "PLATFORM")]
    pub platform: Option<String>,

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

    /// Add a line to RUN steps' /etc/hosts: HOST:IP (IP `host-gateway` is the host, 127.0.0.1 on the
    /// host network); repeatable
    #[arg(value_parser = super::text(), long = "add-host", value_name = "HOST:IP")]
    pub add_hosts: Vec<String>,

    /// Output: a live view on a terminal (tty), plain lines, or JSON events, one per line
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: crate::engine::progress::Mode,

    /// Do not use the step cache: run every step
    #[arg(long)]
    pub no_cache: bool,

    /// Do not use the step cache for these stages (by name): STAGE[,STAGE]; repeatable
    #[arg(value_parser = super::text(), long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,

    /// Squash the layers this build adds into one, on top of the base image's layers
    #[arg(long)]
    pub squash: bool,

    /// Annotate the image manifest: KEY=VALUE or manifest:KEY=VALUE; repeatable
    #[arg(value_parser = super::text(), long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// Write the build's result as JSON (containerimage.digest, containerimage.config.digest, image.name,
    /// as buildx does) to this file
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

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
    // The store opens after `--check` (a lint error stops the build before it touches the store), unless
    // a context on stdin must be unpacked into it first.
    let mut store = None;
    let stdin_context = if a.context.as_os_str() == "-" {
        if a.file.as_deref().is_some_and(|f| f.as_os_str() == "-") {
            return Err(
                UsageError("the context and the Dockerfile cannot both come from stdin: drop -f -".into()).into()
            );
        }
        let opened = store.insert(Store::open(&g.root)?);
        Some(super::build_stdin::read(opened, std::io::stdin().lock())?)
    } else {
        None
    };
    let context = stdin_context.as_ref().map_or_else(|| a.context.clone(), |s| s.root());
    if !context.is_dir() {
        return Err(UsageError(format!("build context {:?} is not a directory", a.context.display())).into());
    }
    let (dockerfile, dockerfile_text) = match (&a.file, stdin_context.as_ref().and_then(|s| s.dockerfile_text.clone()))
    {
        // `rbuild build - < Dockerfile`: that is the Dockerfile, the context is empty.
        (_, Some(text)) => (PathBuf::from("Dockerfile"), text),
        (Some(p), None) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading the Dockerfile from stdin")?;
            (PathBuf::from("Dockerfile"), text)
        }
        // In an archive on stdin, -f names a file inside it (as docker).
        (Some(p), None) if stdin_context.is_some() => (context.join(p), read_dockerfile(&context.join(p))?),
        (Some(p), None) => (p.clone(), read_dockerfile(p)?),
        (None, None) => {
            let p = context.join("Dockerfile");
            let p = if !p.exists() && context.join("dockerfile").exists() { context.join("dockerfile") } else { p };
            (p.clone(), read_dockerfile(&p)?)
        }
    };
    if a.check && super::lint::check_before_build(&dockerfile, &dockerfile_text, &context)? {
        return Ok(ExitCode::from(1));
    }
    let store = match store {
        Some(store) => store,
        None => Store::open(&g.root)?,
    };
    // Overlay mounts for COPY live in a mount namespace of our own: never seen by the host, gone when we
    // exit. Only root can make one; without it the build uses the copy backend.
    if nix::unistd::geteuid().is_root() {
        if let Err(e) = crate::snapshot::overlay::enter_private_mount_namespace() {
            if g.debug {
                eprintln!("debug: no private mount namespace: {e}");
            }
        }
    }
    let platforms = parse_platforms(a.platform.as_deref())?;
    if platforms.len() > 1 && !matches!(output, Output::Image { .. }) {
        return Err(UsageError(
            "-o with several platforms: only the store (type=image) and --push take an index yet".into(),
        )
        .into());
    }
    let req = BuildRequest {
        context_dir: context,
        dockerfile,
        dockerfile_text,
        tags,
        build_args,
        secrets: crate::engine::secrets::Secrets::parse(&a.secrets).map_err(|e| UsageError(e.to_string()))?,
        ssh: crate::engine::secrets::SshAgents::parse(&a.ssh).map_err(|e| UsageError(e.to_string()))?,
        target: a.target.clone(),
        platform: platforms.first().cloned(),
        build_contexts: crate::engine::named::NamedContexts::parse(&a.build_contexts)
            .map_err(|e| UsageError(e.to_string()))?,
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
        // A build's RUN shares the host's network (or none): host-gateway is the host's loopback.
        extra_hosts: a
            .add_hosts
            .iter()
            .map(|h| add_host_line(h, Ok("127.0.0.1")).map(|(line, _)| line))
            .collect::<Result<_, _>>()?,
        seccomp,
        limits,
        no_cache: a.no_cache,
        no_cache_filter: a.no_cache_filter.clone(),
        squash: a.squash,
        annotations: parse_annotations(&a.annotations)?,
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
    let out = match platforms.as_slice() {
        [_, _, ..] => engine::multi::build_platforms(&store, &req, &platforms)?,
        _ => engine::build(&store, &req)?,
    };
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
    if let Some(path) = &a.metadata_file {
        write_metadata(&store, path, &out, &req.tags)?;
    }
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

/// `--platform`: one platform, or several comma-separated (each once, in the order given).
fn parse_platforms(value: Option<&str>) -> anyhow::Result<Vec<crate::registry::Platform>> {
    let mut out = Vec::new();
    for word in value.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
        let p = crate::registry::Platform::parse(word).map_err(|e| UsageError(e.to_string()))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// `--annotation KEY=VALUE` (or `manifest:KEY=VALUE`): rbuild builds a manifest, no index.
fn parse_annotations(words: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    let mut out = BTreeMap::new();
    for w in words {
        let (key, value) = w
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| UsageError(format!("malformed --annotation {w:?}: expected KEY=VALUE")))?;
        let key = match key.split_once(':') {
            Some(("manifest", k)) => k,
            Some((kind @ ("index" | "manifest-descriptor" | "index-descriptor"), _)) => {
                return Err(UsageError(format!(
                    "--annotation {w:?}: {kind} annotations need an image index, which a single-platform build \
                     does not make: use KEY=VALUE (the manifest)"
                )))
            }
            _ => key,
        };
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// `--metadata-file`: what buildx writes for an image build.
fn write_metadata(
    store: &Store,
    path: &std::path::Path,
    out: &engine::BuildOutput,
    tags: &[ImageRef],
) -> anyhow::Result<()> {
    let size = std::fs::metadata(store.blob_path(&out.manifest)).context("reading the manifest's size")?.len();
    let mut meta = serde_json::json!({
        "containerimage.digest": out.manifest.to_string(),
        "containerimage.config.digest": out.image_id.to_string(),
        "containerimage.descriptor": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": out.manifest.to_string(),
            "size": size,
        },
    });
    if !tags.is_empty() {
        meta["image.name"] = tags.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",").into();
    }
    let text = serde_json::to_string_pretty(&meta).context("encoding the metadata")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing the metadata file {}", path.display()))
}

fn read_dockerfile(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        anyhow::Error::new(UsageError(format!(
            "cannot read Dockerfile {}: {e} (use -f to name another file)",
            path.display()
        )))
    })
}
