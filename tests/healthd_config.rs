//! healthd's configuration: good files pass and build every part; each bad
//! file is refused with an error that names the field (and, where the
//! file writes it, the line).

use std::collections::HashMap;

use healthcore_http::Scope;
use healthcore_suite::healthd::config::ConfigFile;
use healthcore_suite::healthd::error::ConfigErrors;

const EXAMPLE: &str = include_str!("../examples/healthd.example.toml");

fn env() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("HEALTHD_ADMIN_TOKEN", "an-admin-token-of-some-length"),
        (
            "HEALTHD_WEBHOOK_SECRET",
            "a-webhook-secret-of-24-bytes-or-more",
        ),
        (
            "HEALTHD_SLACK_URL",
            "https://hooks.slack.com/services/T000/B000/XXXX",
        ),
    ])
}

fn validate(text: &str) -> Result<healthcore_suite::healthd::build::Plan, ConfigErrors> {
    let vars = env();
    let file = ConfigFile::parse("test.toml", text.to_owned())?;
    file.validate_with_env(&|v| vars.get(v).map(|s| (*s).to_owned()))
}

fn errors(text: &str) -> ConfigErrors {
    match validate(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn the_example_file_passes_and_builds_every_part() {
    let plan = validate(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let c = &plan.config;
    assert_eq!(c.targets.len(), 4);
    assert_eq!(c.checks().len(), 5);
    assert_eq!(plan.notifiers.len(), 3);
    let names: Vec<&str> = plan.notifiers.iter().map(|n| n.name()).collect();
    assert_eq!(names, ["log", "ops-hook", "slack"]);
    assert!(plan.healer.has_action("restart") && plan.healer.has_action("page-oncall"));
    // the env token is admin; the digest (sha256 of "password") is acme's
    let admin = plan
        .auth
        .authenticate(Some("Bearer an-admin-token-of-some-length"))
        .unwrap();
    assert!(admin.is_admin());
    let acme = plan.auth.authenticate(Some("Bearer password")).unwrap();
    assert_eq!(acme.scope, Scope::Tenant("acme".parse().unwrap()));
    assert!(plan.auth.authenticate(Some("Bearer nope")).is_none());
    // public_reports makes POST /report public
    assert!(plan.auth.is_public(&axum::http::Method::POST, "/report"));
    // the replay setup carries the external channels by name
    let setup = c.replay_setup();
    assert_eq!(setup.external_channels, ["ops-hook", "slack"]);
    assert_eq!(setup.targets.len(), 4);
    // two targets name a log source (a file, a command); the others none
    let logs = healthcore_suite::healthd::build::log_sources(c).unwrap();
    for (id, has) in [("db-1", true), ("web-1", true), ("disk-root", false)] {
        assert_eq!(logs.has_target(&id.parse().unwrap()), has, "{id}");
    }
}

#[test]
fn an_empty_file_is_the_default_config() {
    let plan = validate("").unwrap();
    assert_eq!(plan.config.server.listen.to_string(), "127.0.0.1:8080");
    assert!(plan.config.targets.is_empty());
}

/// (config, field the error must name, line it must name if any)
const BAD: &[(&str, &str, Option<usize>)] = &[
    // parse-level: unknown field, bad duration, bad type, syntax
    (
        "[[targets]]\nid = \"a\"\nbogus = 1\n",
        "targets[0].bogus",
        Some(3),
    ),
    (
        "[[targets]]\nid = \"a\"\n[[targets.checks]]\nkind = \"tcp\"\ninterval = \"10 parsecs\"\n",
        "targets[0].checks[0].interval",
        Some(5),
    ),
    (
        "[server]\nlisten = \"not an address\"\n",
        "server.listen",
        Some(2),
    ),
    ("[server\nlisten = 1\n", "(syntax)", Some(1)),
    (
        "[engine.limits]\nmax_concurency = 3\n",
        "engine.limits.max_concurency",
        Some(2),
    ),
    // log sources: one of file or argv, known placeholders, known fields
    (
        "[[targets]]\nid = \"a\"\nlogs = { file = \"/x\", argv = [\"cat\"] }\n",
        "targets[0].logs.argv",
        Some(3),
    ),
    (
        "[[targets]]\nid = \"a\"\nlogs = { argv = [\"tail\", \"{nope}\"] }\n",
        "targets[0].logs.argv[1]",
        Some(3),
    ),
    (
        "[[targets]]\nid = \"a\"\nlogs = { path = \"/x\" }\n",
        "targets[0].logs.path",
        Some(3),
    ),
    // semantic: thresholds and timeouts
    (
        "[[targets]]\nid = \"a\"\n[[targets.checks]]\nkind = \"tcp\"\nparams = { host = \"h\", port = 1 }\ninterval = \"10s\"\ntimeout = \"10s\"\n",
        "targets[0].checks[0].timeout",
        Some(7),
    ),
    (
        "[[targets]]\nid = \"a\"\n[[targets.checks]]\nkind = \"tcp\"\nparams = { host = \"h\", port = 1 }\nfailure_threshold = 0\n",
        "targets[0].checks[0].failure_threshold",
        Some(6),
    ),
    // probe params, checked by the probe of that kind
    (
        "[[targets]]\nid = \"a\"\n[[targets.checks]]\nkind = \"tcp\"\nparams = { host = \"h\", port = 0 }\n",
        "targets[0].checks[0].params.port",
        Some(5),
    ),
    (
        "[[targets]]\nid = \"a\"\n[[targets.checks]]\nkind = \"http\"\nparams = { url = \"http://127.0.0.1/\" }\n",
        "targets[0].checks[0].params.url",
        None,
    ),
    (
        "[[targets]]\nid = \"a\"\n[[targets.checks]]\nkind = \"gopher\"\n",
        "targets[0].checks[0].kind",
        Some(4),
    ),
    // ids, parents, tenants
    (
        "[[targets]]\nid = \"a\"\n[[targets]]\nid = \"a\"\n",
        "targets[1].id",
        Some(4),
    ),
    (
        "[[targets]]\nid = \"a\"\nparents = [\"ghost\"]\n",
        "targets[0].parents[0]",
        Some(3),
    ),
    (
        "[[targets]]\nid = \"a\"\nparents = [\"b\"]\n[[targets]]\nid = \"b\"\nparents = [\"a\"]\n",
        "targets[0].parents",
        Some(3),
    ),
    (
        "[[targets]]\nid = \"a\"\ntenant = \"globex\"\n",
        "targets[0].tenant",
        Some(3),
    ),
    (
        "[[targets]]\nid = \"a\"\nslo = { objective = 1.5 }\n",
        "targets[0].slo.objective",
        Some(3),
    ),
    // heal actions and policies
    (
        "[[heal_policies]]\nid = \"p\"\nname = \"p\"\naction = \"reboot\"\n",
        "heal_policies[0].action",
        Some(4),
    ),
    (
        "[[heal_policies]]\nid = \"p\"\nname = \"p\"\n",
        "heal_policies[0].action",
        None,
    ),
    (
        "[[actions]]\nname = \"restart\"\nargv = [\"systemctl\", \"restart\", \"{target.secret}\"]\n",
        "actions[0].argv[2]",
        Some(3),
    ),
    (
        "[[actions]]\nname = \"restart\"\nargv = []\n",
        "actions[0].argv",
        Some(3),
    ),
    (
        "[[actions]]\nname = \"restart\"\nargv = [\"a\"]\n[[actions]]\nname = \"restart\"\nargv = [\"b\"]\n",
        "actions[1].name",
        Some(5),
    ),
    // tokens
    (
        "[[tokens]]\nname = \"ops\"\nadmin = true\nenv = \"HEALTHD_UNSET_VARIABLE\"\n",
        "tokens[0].env",
        Some(4),
    ),
    (
        "[[tokens]]\nname = \"ops\"\nadmin = true\nsha256 = \"abc\"\n",
        "tokens[0].sha256",
        Some(4),
    ),
    (
        "[[tokens]]\nname = \"ops\"\nsha256 = \"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"\n",
        "tokens[0].admin",
        None,
    ),
    // alerts
    (
        "[[alerts.channels]]\nkind = \"webhook\"\nurl = \"https://h.example.com/x\"\nsecret_env = \"HEALTHD_UNSET_SECRET\"\n",
        "alerts.channels[0].secret_env",
        Some(4),
    ),
    (
        "[[alerts.channels]]\nkind = \"webhook\"\nurl = \"http://169.254.169.254/\"\nsecret_env = \"HEALTHD_WEBHOOK_SECRET\"\n",
        "alerts.channels[0].url",
        Some(3),
    ),
    (
        "[[alerts.routes]]\nchannels = [\"pager\"]\n",
        "alerts.routes[0].channels[0]",
        Some(2),
    ),
    // maintenance, checklist, reporters, store, engine rules
    (
        "[[maintenance]]\nid = \"m\"\nname = \"m\"\nschedule = { type = \"one_off\", start = \"2026-01-02T00:00:00Z\", end = \"2026-01-01T00:00:00Z\" }\nselector = { labels = { a = \"b\" } }\n",
        "maintenance[0].schedule.end",
        Some(4),
    ),
    (
        "[[checklist]]\nname = \"db\"\ncheck = { kind = \"heartbeat\" }\n",
        "checklist[0].check.kind",
        Some(3),
    ),
    (
        "[[reporters]]\ntarget = \"ghost\"\n",
        "reporters[0].target",
        Some(2),
    ),
    ("store = { kind = \"postgres\" }\n", "store.url", Some(1)),
    ("store = { kind = \"mysql\" }\n", "store.kind", Some(1)),
    (
        "[engine.rules.breaker]\nfailure_threshold = 0\n",
        "engine.rules.breaker.failure_threshold",
        Some(2),
    ),
];

#[test]
fn each_bad_config_names_its_field_and_line() {
    for (text, field, line) in BAD {
        let errs = errors(text);
        let e = errs
            .errors()
            .iter()
            .find(|e| e.field == *field)
            .unwrap_or_else(|| panic!("no error names {field}; got:\n{errs}\nfor:\n{text}"));
        assert!(!e.message.is_empty());
        if let Some(line) = line {
            assert_eq!(
                e.position.map(|p| p.line),
                Some(*line),
                "line of {field}: {e}"
            );
            // the rendered message carries file, line and field
            assert!(
                e.to_string().starts_with(&format!("test.toml:{line}:")),
                "{e}"
            );
        }
        assert!(e.to_string().contains(field), "{e}");
    }
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let text = "[[targets]]\nid = \"a\"\nparents = [\"ghost\"]\n\n[[targets.checks]]\nkind = \"tcp\"\nparams = { host = \"h\", port = 1 }\ninterval = \"5s\"\ntimeout = \"6s\"\n\n[[heal_policies]]\nid = \"p\"\nname = \"p\"\naction = \"reboot\"\n";
    let errs = errors(text);
    let fields: Vec<&str> = errs.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "targets[0].parents[0]",
            "targets[0].checks[0].timeout",
            "heal_policies[0].action"
        ]
    );
    let lines: Vec<usize> = errs
        .errors()
        .iter()
        .map(|e| e.position.unwrap().line)
        .collect();
    assert_eq!(lines, [3, 9, 14]);
}

#[test]
fn the_demo_config_is_valid() {
    let file = healthcore_suite::healthd::demo::config(
        "127.0.0.1:8080".parse().unwrap(),
        std::path::Path::new("/tmp/healthd-demo/healthd.db"),
    )
    .unwrap();
    let plan = file.validate_with_env(&|_| None).unwrap();
    let ids: Vec<&str> = plan.config.targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "healthd-port",
            "healthd-api",
            "local-disk",
            "demo-node",
            "local-command"
        ]
    );
}

#[test]
fn the_reference_embeds_the_example_file_verbatim() {
    let doc = include_str!("../docs/healthd.md");
    let block = format!("```toml\n{EXAMPLE}```");
    assert!(
        doc.contains(&block),
        "docs/healthd.md's complete example differs from examples/healthd.example.toml"
    );
}
