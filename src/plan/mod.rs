//! Planning: from typed stages to what the executor runs. Owns the ARG rules (global ARGs before the first
//! FROM feed FROM lines and must be re-declared to be seen inside a stage; `--build-arg` overrides defaults;
//! predefined proxy and platform args), the expansion of FROM lines, stage names, and `--target`.
//!
//! It also builds the stage graph (`graph`): what each stage needs built first, cycles rejected before
//! anything runs. Nothing here touches the store or the filesystem: a base that is not `scratch` or another
//! stage is just an image reference for the executor to resolve.

pub mod args;
pub mod graph;

use crate::dockerfile::expand::Expander;
use crate::dockerfile::instructions::{Program, Stage, Step};
use crate::dockerfile::Location;
use crate::registry::Platform;
pub use args::{BuildArgs, Scope};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub location: Location,
    pub message: String,
}

fn err<T>(location: Location, message: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError { location, message: message.into() })
}

/// Where a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// Another stage of the Dockerfile, by index.
    Stage(usize),
    /// An image reference (expanded), to be found in the store.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    pub index: usize,
    /// Lower-cased stage name (`AS name`), if any.
    pub name: Option<String>,
    pub base: Base,
    /// `FROM --platform`, expanded and parsed.
    pub platform: Option<Platform>,
    pub location: Location,
    pub steps: Vec<Step>,
    /// The stages this one needs built first (see `graph`).
    pub deps: Vec<graph::Dep>,
}

impl PlannedStage {
    /// How the stage is named in progress output: its name, else its index.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub stages: Vec<PlannedStage>,
    /// The stage to build (`--target`, else the last one).
    pub target: usize,
    /// Global (meta) ARG values after `--build-arg`s: for re-declarations inside stages, and the only
    /// variables `COPY --from` may use (BuildKit keeps stage dependencies independent of stage state).
    pub meta_args: Scope,
    pub build_args: BuildArgs,
    pub escape: char,
    /// The platform asked for (`build --platform`); `None`: the host's, nothing asked.
    pub platform: Option<Platform>,
}

impl Plan {
    /// The platform stage `idx` is built for when one was asked for: its `FROM --platform`, else the
    /// build's `--platform`.
    pub fn stage_platform(&self, idx: usize) -> Option<&Platform> {
        self.stages[idx].platform.as_ref().or(self.platform.as_ref())
    }

    /// The stages the target needs (itself included), in index order: the others are never built.
    pub fn needed(&self) -> Vec<usize> {
        let mut needed = vec![false; self.stages.len()];
        let mut todo = vec![self.target];
        while let Some(i) = todo.pop() {
            if !std::mem::replace(&mut needed[i], true) {
                todo.extend(self.stages[i].deps.iter().map(|d| d.stage));
            }
        }
        (0..self.stages.len()).filter(|i| needed[*i]).collect()
    }

    /// Find a stage by `--from`/FROM reference: a stage name (case-insensitive) or a stage index.
    pub fn stage_by_ref(&self, reference: &str) -> Option<usize> {
        let lower = reference.to_ascii_lowercase();
        if let Some(s) = self.stages.iter().find(|s| s.name.as_deref() == Some(lower.as_str())) {
            return Some(s.index);
        }
        reference.parse::<usize>().ok().filter(|i| *i < self.stages.len())
    }
}

/// Stage names Docker accepts: a letter, then letters, digits, `-`, `_`, `.`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Resolve stages, their bases and the target, for the host's platform.
pub fn resolve(program: &Program, build_args: BuildArgs, target: Option<&str>) -> Result<Plan, PlanError> {
    resolve_for(program, build_args, target, None)
}

/// Resolve stages, their bases and the target stage for `platform` (`build --platform`; `None`: the
/// host's, with nothing asked for explicitly).
pub fn resolve_for(
    program: &Program,
    build_args: BuildArgs,
    target: Option<&str>,
    platform: Option<&Platform>,
) -> Result<Plan, PlanError> {
    let expander = Expander::new(program.escape);
    let meta = args::meta_scope(program, &build_args, &platform.cloned().unwrap_or_else(Platform::host), &expander)?;
    let mut stages: Vec<PlannedStage> = Vec::new();
    for stage in &program.stages {
        stages.push(plan_stage(stage, &stages, &meta, &expander)?);
    }
    graph::link(&mut stages, &meta, &expander)?;
    let target = match target {
        None => stages.len() - 1,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            match stages.iter().find(|s| s.name.as_deref() == Some(lower.as_str())) {
                Some(s) => s.index,
                None => {
                    let names: Vec<String> = stages.iter().filter_map(|s| s.name.clone()).collect();
                    let known = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                    return err(
                        Location::default(),
                        format!("target stage {t:?} could not be found (stages with names: {known})"),
                    );
                }
            }
        }
    };
    Ok(Plan { stages, target, meta_args: meta, build_args, escape: program.escape, platform: platform.cloned() })
}

fn plan_stage(
    stage: &Stage,
    earlier: &[PlannedStage],
    meta: &Scope,
    expander: &Expander,
) -> Result<PlannedStage, PlanError> {
    let loc = stage.location;
    let image = expander
        .word(&stage.from.image, meta)
        .map_err(|e| PlanError { location: loc, message: format!("FROM {}: {e}", stage.from.image) })?
        .value;
    if image.is_empty() {
        return err(loc, format!("base name ({}) should not be blank", stage.from.image));
    }
    let platform = match &stage.from.platform {
        Some(p) => {
            let value = expander
                .word(p, meta)
                .map_err(|e| PlanError { location: loc, message: format!("FROM --platform={p}: {e}") })?
                .value;
            let parsed = Platform::parse(&value)
                .map_err(|e| PlanError { location: loc, message: format!("FROM --platform={p}: {e}") })?;
            Some(parsed)
        }
        None => None,
    };
    let name = match &stage.from.name {
        None => None,
        Some(n) => {
            let lower = n.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return err(
                    loc,
                    format!("invalid name for build stage: {n:?}, name can't start with a number or contain symbols"),
                );
            }
            if earlier.iter().any(|s| s.name.as_deref() == Some(lower.as_str())) {
                return err(loc, format!("duplicate name {n:?}: stage names must be unique"));
            }
            if lower == "scratch" || lower == "context" {
                return err(loc, format!("{n:?} is a reserved name and can't be used as a stage name"));
            }
            Some(lower)
        }
    };
    // A name of another stage becomes `Base::Stage` in `graph::link`, once every stage's name is known.
    let base = if image.eq_ignore_ascii_case("scratch") { Base::Scratch } else { Base::Image(image) };
    Ok(PlannedStage {
        index: stage.index,
        name,
        base,
        platform,
        location: loc,
        steps: stage.steps.clone(),
        deps: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::instructions::{ArgDecl, From};

    fn stage(index: usize, image: &str, name: Option<&str>) -> Stage {
        Stage {
            index,
            from: From { image: image.into(), name: name.map(String::from), platform: None },
            location: Location { start_line: index + 1, end_line: index + 1 },
            steps: vec![],
        }
    }

    fn program(meta: &[(&str, Option<&str>)], stages: Vec<Stage>) -> Program {
        Program {
            meta_args: meta
                .iter()
                .map(|(n, d)| (ArgDecl { name: n.to_string(), default: d.map(String::from) }, Location::default()))
                .collect(),
            stages,
            escape: '\\',
        }
    }

    #[test]
    fn from_lines_expand_global_args_and_build_args_override() {
        let p = program(&[("BASE", Some("alpine")), ("TAG", Some("3"))], vec![stage(0, "${BASE}:$TAG", None)]);
        let plan = resolve(&p, BuildArgs::default(), None).unwrap();
        assert_eq!(plan.stages[0].base, Base::Image("alpine:3".into()));
        let args = BuildArgs::parse(&["TAG=4".to_string()]).unwrap();
        let plan = resolve(&p, args, None).unwrap();
        assert_eq!(plan.stages[0].base, Base::Image("alpine:4".into()));
    }

    #[test]
    fn stages_refer_to_earlier_stages_by_name_case_insensitively() {
        let p = program(&[], vec![stage(0, "scratch", Some("Build")), stage(1, "BUILD", None)]);
        let plan = resolve(&p, BuildArgs::default(), None).unwrap();
        assert_eq!(plan.stages[0].base, Base::Scratch);
        assert_eq!(plan.stages[1].base, Base::Stage(0));
        assert_eq!(plan.target, 1);
        assert_eq!(plan.stage_by_ref("build"), Some(0));
        assert_eq!(plan.stage_by_ref("1"), Some(1));
        assert_eq!(plan.stage_by_ref("2"), None);
    }

    #[test]
    fn target_selects_a_named_stage_or_fails_naming_the_known_ones() {
        let p = program(&[], vec![stage(0, "scratch", Some("a")), stage(1, "scratch", Some("b"))]);
        assert_eq!(resolve(&p, BuildArgs::default(), Some("A")).unwrap().target, 0);
        let e = resolve(&p, BuildArgs::default(), Some("c")).unwrap_err();
        assert!(e.message.contains("\"c\" could not be found") && e.message.contains("a, b"), "{}", e.message);
    }

    #[test]
    fn bad_stage_names_and_blank_bases_are_errors() {
        let dup = program(&[], vec![stage(0, "scratch", Some("a")), stage(1, "scratch", Some("A"))]);
        assert!(resolve(&dup, BuildArgs::default(), None).unwrap_err().message.contains("duplicate name"));
        let bad = program(&[], vec![stage(0, "scratch", Some("1abc"))]);
        assert!(resolve(&bad, BuildArgs::default(), None).unwrap_err().message.contains("invalid name"));
        let blank = program(&[("B", None)], vec![stage(0, "$B", None)]);
        assert!(resolve(&blank, BuildArgs::default(), None).unwrap_err().message.contains("should not be blank"));
    }
}
