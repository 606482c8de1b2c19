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
    // MAC addresses: any common spelling, unique once normalised
    (
        "[[targets]]\nid = \"a\"\nmac_address = \"nope\"\n",
        "targets[0].mac_address",
        Some(3),
    ),
    (
        "[[targets]]\nid = \"a\"\nmac_address = \"aa:bb:cc:00:11:22\"\n[[targets]]\nid = \"b\"\nmac_address = \"aa:bb:cc:00:11:22\"\n",
        "targets[1].mac_address",
        Some(6),
    ),
    (
        "[[targets]]\nid = \"a\"\nmac_address = \"aa:bb:cc:00:11:22\"\n[[targets]]\nid = \"b\"\n[[targets]]\nid = \"c\"\n[[targets]]\nid = \"d\"\nmac_address = \"AABB.CC00.1122\"\n",
        "targets[3].mac_address",
        Some(10),
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

/// `replay` validates without reading secrets: a file whose token, webhook
/// secret and Slack URL variables are all unset passes (where `validate`
/// refuses it), and everything else is still checked, the names of the
/// variables included.
#[test]
fn replay_validation_reads_no_secret_but_checks_the_rest() {
    let file = ConfigFile::parse("test.toml", EXAMPLE.to_owned()).unwrap();
    let unset = file.validate_with_env(&|_| None).unwrap_err();
    for field in [
        "tokens[0].env",
        "alerts.channels[1].secret_env",
        "alerts.channels[2].url_env",
    ] {
        assert!(unset.names_field(field), "{field}: {unset}");
    }
    let config = file
        .validate_without_secrets()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.targets.len(), 4);
    // whatever the process environment holds: nothing is read
    let postgres = ConfigFile::parse(
        "test.toml",
        "store = { kind = \"postgres\", url_env = \"HEALTHD_UNSET_DATABASE_URL\" }\n".to_owned(),
    )
    .unwrap();
    assert!(postgres.validate_with_env(&|_| None).is_err());
    postgres.validate_without_secrets().unwrap();

    for (text, field, line) in [
        // a check's shape, as always
        (
            "[[targets]]\nid = \"a\"\n[[targets.checks]]\nkind = \"tcp\"\nparams = { host = \"h\", port = 1 }\ninterval = \"10s\"\ntimeout = \"10s\"\n",
            "targets[0].checks[0].timeout",
            7,
        ),
        // a token still needs exactly one of env and sha256, and a name
        (
            "[[tokens]]\nname = \"ops\"\nadmin = true\n",
            "tokens[0].env",
            1,
        ),
        (
            "[[tokens]]\nname = \"ops\"\nadmin = true\nenv = \"\"\n",
            "tokens[0].env",
            4,
        ),
        // the webhook's URL written in the file goes through the egress guard
        (
            "[[alerts.channels]]\nkind = \"webhook\"\nurl = \"http://169.254.169.254/\"\nsecret_env = \"HEALTHD_UNSET_SECRET\"\n",
            "alerts.channels[0].url",
            3,
        ),
        (
            "[[alerts.channels]]\nkind = \"webhook\"\nurl = \"https://h.example.com/x\"\nsecret_env = \"A=B\"\n",
            "alerts.channels[0].secret_env",
            4,
        ),
        (
            "[[alerts.channels]]\nkind = \"slack\"\nurl_env = \"HEALTHD_UNSET_SLACK\"\naudience = \"dashboard\"\n",
            "alerts.channels[0].audience",
            4,
        ),
        (
            "store = { kind = \"postgres\", url = \"mysql://x\" }\n",
            "store.url",
            1,
        ),
    ] {
        let file = ConfigFile::parse("test.toml", text.to_owned()).unwrap();
        let errs = file
            .validate_without_secrets()
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        let e = errs
            .errors()
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error names {field}; got:\n{errs}"));
        assert_eq!(e.position.map(|p| p.line), Some(line), "{e}");
    }
}

/// The replay reports every dashboard-audience channel as `dashboard`, so a
/// route naming one (`log`) routes the replay's `dashboard` line.
#[test]
fn replay_routes_name_dashboard_channels_dashboard() {
    let text = "[[alerts.channels]]\nkind = \"log\"\n\n[[alerts.channels]]\nkind = \"log\"\nname = \"log-ext\"\naudience = \"external\"\n\n[[alerts.routes]]\nchannels = [\"log\", \"log-ext\"]\n";
    let file = ConfigFile::parse("test.toml", text.to_owned()).unwrap();
    let setup = file.validate_without_secrets().unwrap().replay_setup();
    assert_eq!(setup.external_channels, ["log-ext"]);
    assert_eq!(setup.channels[0].channels, ["dashboard", "log-ext"]);
}

/// MAC addresses are accepted in every spelling reports are (seed 001) and
/// normalised; a duplicate once normalised is refused, in `check-config`,
/// `serve` and `replay` alike.
#[test]
fn mac_addresses_in_any_spelling_are_normalised() {
    let text = "[[targets]]\nid = \"a\"\nmac_address = \"AA:BB:CC:00:11:22\"\n[[targets]]\nid = \"b\"\nmac_address = \"aa-bb-cc-00-11-33\"\n[[targets]]\nid = \"c\"\nmac_address = \"AABB.CC00.1144\"\n[[targets]]\nid = \"d\"\nmac_address = \"AABBCC001155\"\n";
    let plan = validate(text).unwrap_or_else(|e| panic!("{e}"));
    let macs: Vec<Option<String>> = plan
        .config
        .targets
        .iter()
        .map(|t| t.target().mac_address)
        .collect();
    assert_eq!(
        macs,
        [
            "aa:bb:cc:00:11:22",
            "aa:bb:cc:00:11:33",
            "aa:bb:cc:00:11:44",
            "aa:bb:cc:00:11:55"
        ]
        .map(|m| Some(m.to_owned()))
    );
    let file = ConfigFile::parse("test.toml", text.to_owned()).unwrap();
    let setup = file.validate_without_secrets().unwrap().replay_setup();
    assert_eq!(
        setup.targets[0].mac_address.as_deref(),
        Some("aa:bb:cc:00:11:22")
    );

    let dup = "[[targets]]\nid = \"a\"\nmac_address = \"aa:bb:cc:00:11:22\"\n[[targets]]\nid = \"b\"\nmac_address = \"AA-BB-CC-00-11-22\"\n";
    let file = ConfigFile::parse("test.toml", dup.to_owned()).unwrap();
    for errs in [
        validate(dup).unwrap_err(),
        file.validate_without_secrets().unwrap_err(),
    ] {
        assert_eq!(errs.errors().len(), 1, "{errs}");
        assert_eq!(
            errs.to_string(),
            "test.toml:6:15: targets[1].mac_address: duplicate MAC address aa:bb:cc:00:11:22: targets[0] (a) has it"
        );
    }
}
