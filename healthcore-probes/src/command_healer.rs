//! [`CommandHealer`]: carries out heal actions by running operator-configured
//! commands, given as argv (never a shell string), with the `command`
//! probe's process handling: its own process group, output captured and
//! capped at [`MAX_OUTPUT`](crate::command::MAX_OUTPUT) bytes, the whole
//! group killed at the deadline and swept after exit.
//!
//! Each action name (`restart`, `stop`, `migrate` or a custom name such as
//! `restart-web`) maps to one [`HealCommand`]. The API and the heal
//! policies can only *name* an action; what it runs comes from here
//! (DESIGN §7).
//!
//! Placeholders in argv entries and env values are replaced per entry
//! (a value is never split into several arguments, and nothing is
//! interpreted by a shell):
//!
//! | placeholder | value |
//! | --- | --- |
//! | `{target.id}` | the target's id |
//! | `{target.name}` | its display name |
//! | `{target.kind}` | its kind (`service`, `node`, …) |
//! | `{target.tenant}` | its tenant |
//! | `{target.mac_address}` | its MAC address, or empty |
//! | `{target.labels.KEY}` | the value of label `KEY`, or empty |
//! | `{action}` | the action's name |
//! | `{{` / `}}` | a literal `{` / `}` |
//!
//! Exit code 0 is a success; any other code, a signal, a timeout or a
//! program that cannot be started is a failure whose message carries the
//! first line of output.
//!
//! ```
//! use healthcore_probes::command_healer::{CommandHealer, HealCommand};
//! let healer = CommandHealer::new()
//!     .action("restart-web", HealCommand::new(["systemctl", "restart", "{target.name}"]))
//!     .unwrap();
//! assert!(healer.has_action("restart-web"));
//! let bad = HealCommand::new(["echo", "{target.secret}"]);
//! assert_eq!(bad.validate().unwrap_err().field(), "argv[1]");
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::heal::{HealAction, HealOutcome};
use healthcore::healer::Healer;
use healthcore::model::Target;
use serde::{Deserialize, Serialize};

use crate::command::{
    CommandParams, MAX_ARGS, ProcessEnd, ProcessRun, humantime_short, run_process,
};
use crate::common;

/// Default deadline for one heal command.
pub const DEFAULT_HEAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Characters of output put in the outcome's message.
const MESSAGE_CHARS: usize = 200;

/// The command one heal action runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealCommand {
    /// Program and arguments, with placeholders; `argv[0]` is looked up in
    /// `PATH` when it has no slash.
    pub argv: Vec<String>,
    /// Working directory (the daemon's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Variables added to the inherited environment (values may hold
    /// placeholders).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Deadline for one run; the process group is killed after it.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    DEFAULT_HEAL_TIMEOUT
}

impl HealCommand {
    /// A command with the default timeout, no env and no cwd.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: None,
            env: BTreeMap::new(),
            timeout: DEFAULT_HEAL_TIMEOUT,
        }
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks argv, env, cwd, timeout and every placeholder; the error
    /// names the field (`argv[2]`, `env.KEY`, `timeout`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let params = CommandParams {
            argv: self.argv.clone(),
            cwd: self.cwd.clone(),
            env: self.env.clone(),
        };
        params.validate().map_err(|e| {
            let field = e.field().strip_prefix("params.").unwrap_or(e.field());
            ValidationError::new(field.to_owned(), e.rule().to_owned())
        })?;
        if self.argv.len() > MAX_ARGS {
            return Err(ValidationError::new("argv", "at most 256 entries"));
        }
        for (i, a) in self.argv.iter().enumerate() {
            check_template(a).map_err(|rule| ValidationError::new(format!("argv[{i}]"), rule))?;
        }
        for (k, v) in &self.env {
            check_template(v).map_err(|rule| ValidationError::new(format!("env.{k}"), rule))?;
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::new("timeout", "must be greater than 0"));
        }
        Ok(())
    }

    /// The argv with placeholders filled in for `target` and `action`.
    pub fn expand_argv(&self, target: &Target, action: &HealAction) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| expand(a, target, action))
            .collect()
    }
}

/// One `{…}` placeholder's value, or `None` when it is not one we know.
pub(crate) fn placeholder(
    name: &str,
    target: Option<&Target>,
    action: Option<&HealAction>,
) -> Option<String> {
    let t = |f: fn(&Target) -> String| target.map(f).unwrap_or_default();
    match name {
        "target.id" => Some(t(|t| t.id.to_string())),
        "target.name" => Some(t(|t| t.name.clone())),
        "target.kind" => Some(t(|t| t.kind.clone())),
        "target.tenant" => Some(t(|t| t.tenant.to_string())),
        "target.mac_address" => Some(t(|t| t.mac_address.clone().unwrap_or_default())),
        "action" => Some(action.map(|a| a.as_str().to_owned()).unwrap_or_default()),
        other => {
            let key = other.strip_prefix("target.labels.")?;
            if key.is_empty() {
                return None;
            }
            Some(
                target
                    .and_then(|t| t.labels.get(key).cloned())
                    .unwrap_or_default(),
            )
        }
    }
}

/// Walks a template: literal text and placeholders, in order.
pub(crate) fn walk(
    template: &str,
    mut on_text: impl FnMut(&str),
    mut on_placeholder: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{{") {
            on_text("{");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("}}") {
            on_text("}");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err("has a '{' without its '}' (write '{{' for a literal brace)".into());
            };
            let (name, after) = r.split_at(end);
            on_placeholder(name)?;
            rest = after.get(1..).unwrap_or_default();
        } else if rest.starts_with('}') {
            return Err("has a '}' without its '{' (write '}}' for a literal brace)".into());
        } else {
            let next = rest.find(['{', '}']).unwrap_or(rest.len());
            let (text, after) = rest.split_at(next);
            on_text(text);
            rest = after;
        }
    }
    Ok(())
}

fn check_template(template: &str) -> Result<(), String> {
    walk(
        template,
        |_| {},
        |name| match placeholder(name, None, None) {
            Some(_) => Ok(()),
            None => Err(format!(
                "unknown placeholder {{{name}}}; known: {{target.id}}, {{target.name}}, {{target.kind}}, \
                 {{target.tenant}}, {{target.mac_address}}, {{target.labels.KEY}}, {{action}}"
            )),
        },
    )
}

fn expand(template: &str, target: &Target, action: &HealAction) -> String {
    let mut out = String::with_capacity(template.len());
    let out_cell = std::cell::RefCell::new(&mut out);
    // validated at configuration; an unknown placeholder expands to nothing
    let _ = walk(
        template,
        |text| out_cell.borrow_mut().push_str(text),
        |name| {
            if let Some(v) = placeholder(name, Some(target), Some(action)) {
                out_cell.borrow_mut().push_str(&v);
            }
            Ok(())
        },
    );
    out
}

/// A [`Healer`] that runs one configured [`HealCommand`] per action name.
#[derive(Debug, Clone, Default)]
pub struct CommandHealer {
    actions: BTreeMap<String, HealCommand>,
}

impl CommandHealer {
    /// A healer with no action (every heal fails with "not configured",
    /// except `notify_only`, which has nothing to run).
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps action `name` (a built-in name or a custom one) to `command`;
    /// the error names `name` or the command's field.
    pub fn action(mut self, name: &str, command: HealCommand) -> Result<Self, ValidationError> {
        let action = HealAction::parse(name)
            .map_err(|e| ValidationError::new("name", e.rule().to_owned()))?;
        if action == HealAction::NotifyOnly {
            return Err(ValidationError::new(
                "name",
                "notify_only runs nothing and cannot be mapped to a command",
            ));
        }
        command.validate()?;
        self.actions.insert(name.to_owned(), command);
        Ok(self)
    }

    /// Whether an action of this name is configured.
    pub fn has_action(&self, name: &str) -> bool {
        self.actions.contains_key(name)
    }

    /// The configured action names.
    pub fn action_names(&self) -> impl Iterator<Item = &str> {
        self.actions.keys().map(String::as_str)
    }
}

#[async_trait]
impl Healer for CommandHealer {
    fn action_names(&self) -> Option<Vec<String>> {
        let mut names: Vec<String> = self.actions.keys().cloned().collect();
        names.sort();
        Some(names)
    }

    async fn heal(&self, target: &Target, action: &HealAction) -> HealOutcome {
        let Some(cmd) = self.actions.get(action.as_str()) else {
            if *action == HealAction::NotifyOnly {
                return HealOutcome::Success {
                    message: Some("notify only: nothing to run".into()),
                };
            }
            return HealOutcome::failed(format!(
                "no command is configured for heal action {action}"
            ));
        };
        let params = CommandParams {
            argv: cmd.expand_argv(target, action),
            cwd: cmd.cwd.clone(),
            env: cmd
                .env
                .iter()
                .map(|(k, v)| (k.clone(), expand(v, target, action)))
                .collect(),
        };
        let program = params.argv.first().cloned().unwrap_or_default();
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + cmd.timeout;
        let ProcessRun { end, output, .. } = run_process(&params, deadline).await;
        let line = common::first_line(&output, MESSAGE_CHARS);
        let with_line = |head: String| {
            if line.is_empty() {
                head
            } else {
                format!("{head}: {line}")
            }
        };
        match end {
            ProcessEnd::SpawnFailed(e) => {
                HealOutcome::failed(format!("could not start {program}: {e}"))
            }
            ProcessEnd::TimedOut => HealOutcome::failed(with_line(format!(
                "{program} timed out after {} and was killed",
                humantime_short(cmd.timeout)
            ))),
            ProcessEnd::WaitFailed(e) => {
                HealOutcome::failed(format!("could not wait for {program}: {e}"))
            }
            ProcessEnd::Exited(status) => match status.code() {
                Some(0) => HealOutcome::Success {
                    message: Some(with_line(format!(
                        "{program} exited 0 in {}ms",
                        started.elapsed().as_millis()
                    ))),
                },
                Some(code) => HealOutcome::failed(with_line(format!("{program} exited {code}"))),
                None => HealOutcome::failed(with_line(format!(
                    "{program} ended without an exit code ({status})"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use healthcore::model::TargetId;

    fn target() -> Target {
        let mut t = Target::new(TargetId::new("web-1").unwrap(), "Web one; rm -rf /");
        t.labels.insert("unit".into(), "nginx.service".into());
        t
    }

    #[test]
    fn placeholders_are_checked() {
        for ok in [
            "{target.id}",
            "x-{target.name}-y",
            "{target.labels.unit}",
            "{{literal}}",
            "{action}",
            "",
        ] {
            check_template(ok).unwrap();
        }
        for bad in ["{target}", "{target.labels.}", "{x", "x}", "{HOME}"] {
            assert!(check_template(bad).is_err(), "{bad}");
        }
        let cmd = HealCommand {
            env: [("UNIT".to_owned(), "{nope}".to_owned())].into(),
            ..HealCommand::new(["true"])
        };
        assert_eq!(cmd.validate().unwrap_err().field(), "env.UNIT");
        assert_eq!(
            HealCommand::new(Vec::<String>::new())
                .validate()
                .unwrap_err()
                .field(),
            "argv"
        );
        assert_eq!(
            HealCommand::new(["true"])
                .with_timeout(Duration::ZERO)
                .validate()
                .unwrap_err()
                .field(),
            "timeout"
        );
    }

    #[test]
    fn expansion_keeps_each_entry_one_argument() {
        let cmd = HealCommand::new([
            "systemctl",
            "restart",
            "{target.labels.unit}",
            "--name={target.name}",
            "{{{action}}}",
            "{target.labels.missing}",
        ]);
        let argv = cmd.expand_argv(&target(), &HealAction::Restart);
        assert_eq!(
            argv,
            [
                "systemctl",
                "restart",
                "nginx.service",
                "--name=Web one; rm -rf /",
                "{restart}",
                ""
            ]
        );
    }

    #[test]
    fn names_are_checked() {
        let cmd = HealCommand::new(["true"]);
        assert_eq!(
            CommandHealer::new()
                .action("Bad Name", cmd.clone())
                .unwrap_err()
                .field(),
            "name"
        );
        assert_eq!(
            CommandHealer::new()
                .action("notify_only", cmd.clone())
                .unwrap_err()
                .field(),
            "name"
        );
        let h = CommandHealer::new().action("restart", cmd).unwrap();
        assert_eq!(h.action_names().collect::<Vec<_>>(), ["restart"]);
    }

    #[tokio::test]
    async fn runs_the_command_with_the_target() {
        let dir = std::env::temp_dir().join(format!("hc-healer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.txt");
        let healer = CommandHealer::new()
            .action(
                "restart-web",
                HealCommand::new([
                    "/bin/sh",
                    "-c",
                    "printf '%s|%s' \"$1\" \"$2\" > \"$3\"; echo restarted",
                    "sh",
                    "{target.name}",
                    "{action}",
                    out.to_str().unwrap(),
                ]),
            )
            .unwrap();
        let o = healer
            .heal(&target(), &HealAction::custom("restart-web").unwrap())
            .await;
        match o {
            HealOutcome::Success { message } => {
                let m = message.unwrap();
                assert!(m.contains("exited 0") && m.ends_with("restarted"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "Web one; rm -rf /|restart-web"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn failures_say_why() {
        let healer = CommandHealer::new()
            .action(
                "stop",
                HealCommand::new(["/bin/sh", "-c", "echo no such unit >&2; exit 5"]),
            )
            .unwrap()
            .action(
                "migrate",
                HealCommand::new(["/bin/sh", "-c", "sleep 30"])
                    .with_timeout(Duration::from_millis(300)),
            )
            .unwrap()
            .action(
                "restart",
                HealCommand::new(["/nonexistent/healthcore-heal"]),
            )
            .unwrap();
        let t = target();
        let err = |o: HealOutcome| match o {
            HealOutcome::Failed { error } => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(healer.heal(&t, &HealAction::Stop).await),
            "/bin/sh exited 5: no such unit"
        );
        let started = std::time::Instant::now();
        assert!(err(healer.heal(&t, &HealAction::Migrate).await).contains("timed out"));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err(healer.heal(&t, &HealAction::Restart).await).contains("could not start"));
        assert!(
            err(healer.heal(&t, &HealAction::custom("drain").unwrap()).await)
                .contains("no command is configured")
        );
        assert!(matches!(
            healer.heal(&t, &HealAction::NotifyOnly).await,
            HealOutcome::Success { .. }
        ));
    }
}
