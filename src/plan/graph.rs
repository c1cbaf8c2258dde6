//! The stage graph: which stages each stage needs before it can run, known before anything executes.
//!
//! Edges come from a stage's base (`FROM other-stage`, earlier or later in the file, but never the stage
//! itself: `FROM alpine AS alpine` names the image), `COPY --from`, `RUN --mount from=`, and the ONBUILD
//! triggers of a base stage (they run in the stage built on it). `--from` values are expanded with the
//! global ARGs only, as BuildKit does, so the graph never depends on a stage's own state. A name that is
//! no stage is an image reference, as today; a stage *index* that does not exist is an error. Cycles are
//! errors naming every stage and line on the loop.

use super::{Base, PlanError, PlannedStage, Scope};
use crate::dockerfile::expand::Expander;
use crate::dockerfile::flags::Deferred;
use crate::dockerfile::instructions::{self, Command, Step};
use crate::dockerfile::{self, Location};

/// One edge: `stage` must be built first, because of the instruction at `location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub stage: usize,
    pub location: Location,
}

/// Resolve stage bases (including forward references) and every stage's dependencies, then reject
/// cycles.
pub(super) fn link(stages: &mut [PlannedStage], meta: &Scope, expander: &Expander) -> Result<(), PlanError> {
    let names: Vec<Option<String>> = stages.iter().map(|s| s.name.clone()).collect();
    let find = |reference: &str, me: usize| -> Option<usize> {
        let lower = reference.to_ascii_lowercase();
        names.iter().position(|n| n.as_deref() == Some(lower.as_str())).filter(|i| *i != me)
    };
    for (i, stage) in stages.iter_mut().enumerate() {
        if let Base::Image(image) = &stage.base {
            if let Some(b) = find(image, i) {
                stage.base = Base::Stage(b);
            }
        }
    }
    let count = stages.len();
    let mut all = Vec::with_capacity(count);
    for (i, stage) in stages.iter().enumerate() {
        let mut deps = Vec::new();
        let mut add = |dep: Option<usize>, location: Location| {
            if let Some(stage) = dep {
                if !deps.iter().any(|d: &Dep| d.stage == stage) {
                    deps.push(Dep { stage, location });
                }
            }
        };
        if let Base::Stage(b) = stage.base {
            add(Some(b), stage.location);
            // The base stage's ONBUILD triggers run here: their sources are this stage's too.
            for step in &stages[b].steps {
                if let Command::Onbuild(trigger) = &step.command {
                    for reference in trigger_sources(trigger) {
                        add(stage_ref(&reference, i, count, &find, meta, expander, stage.location)?, stage.location);
                    }
                }
            }
        }
        for step in &stage.steps {
            for reference in step_sources(step) {
                add(stage_ref(&reference, i, count, &find, meta, expander, step.location)?, step.location);
            }
        }
        all.push(deps);
    }
    for (stage, deps) in stages.iter_mut().zip(all) {
        stage.deps = deps;
    }
    check_acyclic(stages)
}

/// The `--from` references of a step, unexpanded.
fn step_sources(step: &Step) -> Vec<String> {
    command_sources(&step.command)
}

fn command_sources(command: &Command) -> Vec<String> {
    match command {
        Command::Copy(c) => c.from.iter().cloned().collect(),
        Command::Run(r) => r
            .mounts
            .iter()
            .filter_map(|m| match m {
                Deferred::Ready(m) => m.from().map(String::from),
                Deferred::Expand(text) => mount_from(text),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The `from=` field of a `RUN --mount` text that waits for expansion.
fn mount_from(text: &str) -> Option<String> {
    text.split(',').find_map(|f| f.trim().strip_prefix("from=").map(String::from))
}

/// The `--from` references of an ONBUILD trigger (checked when its ONBUILD line was lowered).
fn trigger_sources(trigger: &str) -> Vec<String> {
    let Ok(parsed) = dockerfile::parse(trigger) else { return Vec::new() };
    parsed
        .instructions
        .first()
        .and_then(|ins| instructions::lower_command(ins).ok())
        .map(|c| command_sources(&c))
        .unwrap_or_default()
}

/// The stage a `--from` names, `None` for an image; a missing stage index is an error.
fn stage_ref(
    reference: &str,
    me: usize,
    count: usize,
    find: &dyn Fn(&str, usize) -> Option<usize>,
    meta: &Scope,
    expander: &Expander,
    location: Location,
) -> Result<Option<usize>, PlanError> {
    let expanded = expander
        .word(reference, meta)
        .map_err(|e| PlanError { location, message: format!("--from={reference}: {e}") })?
        .value;
    if let Some(i) = find(&expanded, usize::MAX) {
        return Ok(Some(i));
    }
    match expanded.parse::<usize>() {
        Ok(i) if i < count => Ok(Some(i)),
        Ok(i) => Err(PlanError {
            location,
            message: format!(
                "--from={expanded}: there is no stage {i} (the Dockerfile has {count} stage(s), numbered from 0; \
                 stage {me} is this one)"
            ),
        }),
        Err(_) => Ok(None),
    }
}

/// Depth-first search; a back edge is a cycle, reported with every stage and line on it.
fn check_acyclic(stages: &[PlannedStage]) -> Result<(), PlanError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; stages.len()];
    for root in 0..stages.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // (stage, next dep to look at); the stack is the current path.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(dep) = stages[node].deps.get(*next) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match marks[dep.stage] {
                Mark::Done => {}
                Mark::New => {
                    marks[dep.stage] = Mark::OnPath;
                    path.push((dep.stage, 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|(s, _)| *s == dep.stage).unwrap_or(0);
                    let cycle: Vec<usize> = path[start..].iter().map(|(s, _)| *s).collect();
                    return Err(cycle_error(stages, &cycle));
                }
            }
        }
    }
    Ok(())
}

fn cycle_error(stages: &[PlannedStage], cycle: &[usize]) -> PlanError {
    let mut links = Vec::new();
    for (k, &s) in cycle.iter().enumerate() {
        let next = cycle[(k + 1) % cycle.len()];
        let line = stages[s].deps.iter().find(|d| d.stage == next).map_or(0, |d| d.location.start_line);
        links.push(format!(
            "stage {:?} needs stage {:?} (line {line})",
            stages[s].display_name(),
            stages[next].display_name()
        ));
    }
    let first = cycle[0];
    let location = stages[first]
        .deps
        .iter()
        .find(|d| d.stage == cycle[1 % cycle.len()])
        .map_or(stages[first].location, |d| d.location);
    PlanError { location, message: format!("circular dependency between build stages: {}", links.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::super::{resolve, BuildArgs, Plan};
    use super::*;

    fn plan(text: &str) -> Result<Plan, PlanError> {
        let parsed = dockerfile::parse(text).unwrap();
        let program = instructions::lower(&parsed).unwrap();
        resolve(&program, BuildArgs::default(), None)
    }

    fn deps(p: &Plan, i: usize) -> Vec<usize> {
        p.stages[i].deps.iter().map(|d| d.stage).collect()
    }

    #[test]
    fn edges_come_from_from_copy_from_mount_from_and_base_onbuild_triggers() {
        let p = plan(
            "ARG S=src\nFROM scratch AS src\nFROM scratch AS tool\nFROM scratch AS base\nONBUILD COPY --from=tool / /\n\
             FROM base AS app\nCOPY --from=$S / /\nRUN --mount=type=bind,from=1,target=/t true\nCOPY --from=alpine / /\n\
             FROM scratch AS unused\n",
        )
        .unwrap();
        assert_eq!(p.stages[3].base, Base::Stage(2));
        assert_eq!(deps(&p, 3), vec![2, 1, 0]);
        assert_eq!(p.stages[3].deps[1].location.start_line, 6, "the trigger's edge points at the FROM line");
        assert_eq!(p.stages[3].deps[2].location.start_line, 7);
        assert_eq!(p.target, 4);
        assert_eq!(p.needed(), vec![4]);
        let p = plan("FROM scratch AS a\nFROM scratch AS b\nFROM scratch\nCOPY --from=b / /\n").unwrap();
        assert_eq!(p.needed(), vec![1, 2], "a stage the target does not need is not built");
    }

    #[test]
    fn a_cycle_is_an_error_naming_its_stages_and_lines() {
        let e = plan("FROM a AS b\nFROM b AS a\n").unwrap_err();
        assert_eq!(e.location.start_line, 1);
        assert!(e.message.contains("circular dependency"), "{}", e.message);
        assert!(e.message.contains("\"b\" needs stage \"a\" (line 1)"), "{}", e.message);
        assert!(e.message.contains("\"a\" needs stage \"b\" (line 2)"), "{}", e.message);
        let e = plan("FROM scratch AS a\nCOPY --from=a / /\n").unwrap_err();
        assert!(e.message.contains("circular dependency") && e.location.start_line == 2, "{e:?}");
    }

    #[test]
    fn names_that_are_no_stage_are_images_but_missing_indexes_are_errors() {
        let p = plan("FROM alpine AS alpine\nCOPY --from=busybox / /\n").unwrap();
        assert_eq!(p.stages[0].base, Base::Image("alpine".into()), "FROM x AS x names the image x");
        assert!(p.stages[0].deps.is_empty());
        let e = plan("FROM scratch\nCOPY --from=3 / /\n").unwrap_err();
        assert_eq!(e.location.start_line, 2);
        assert!(e.message.contains("no stage 3"), "{}", e.message);
    }
}
