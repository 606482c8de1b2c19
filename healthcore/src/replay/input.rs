//! Reading one input line into an [`Input`], with errors that name the
//! field (dotted for nested objects: `ack.by`, `report.progress`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::alert::{AlertKind, MAX_ACK_BY_LEN};
use crate::model::{Outcome, TargetId};
use crate::report::{REPORT_FIELDS, ReportBody};

/// Longest accepted `message` or `by`, in bytes.
const MAX_TEXT: usize = 4096;
/// Longest accepted latency (one day), in milliseconds.
const MAX_LATENCY_MS: f64 = 86_400_000.0;

/// A refused line: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Whether the next heal of a target succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueuedResult {
    Success,
    Failed,
}

/// One parsed input line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    Observation {
        at: DateTime<Utc>,
        target: TargetId,
        check: Option<String>,
        outcome: Outcome,
        latency_ms: Option<f64>,
        message: Option<String>,
    },
    Report {
        at: DateTime<Utc>,
        body: Box<ReportBody>,
    },
    Ack {
        at: DateTime<Utc>,
        target: TargetId,
        kind: AlertKind,
        by: String,
    },
    HealResult {
        at: DateTime<Utc>,
        target: TargetId,
        result: QueuedResult,
    },
    Tick {
        at: DateTime<Utc>,
    },
}

impl Input {
    pub(crate) fn at(&self) -> DateTime<Utc> {
        match self {
            Input::Observation { at, .. }
            | Input::Report { at, .. }
            | Input::Ack { at, .. }
            | Input::HealResult { at, .. }
            | Input::Tick { at } => *at,
        }
    }
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Refuses keys outside `allowed`.
fn only(obj: &Map<String, Value>, prefix: &str, allowed: &[&str]) -> Result<(), FieldError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(FieldError::new(
            join(prefix, k),
            format!("unknown field; expected one of {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn string<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<&'a str>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldError::new(join(prefix, key), "must be a string")),
    }
}

fn required<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a str, FieldError> {
    string(obj, prefix, key)?.ok_or_else(|| FieldError::new(join(prefix, key), "is required"))
}

fn target(obj: &Map<String, Value>, prefix: &str) -> Result<TargetId, FieldError> {
    let s = required(obj, prefix, "target")?;
    TargetId::new(s).map_err(|e| FieldError::new(join(prefix, "target"), e.rule().to_owned()))
}

fn text(obj: &Map<String, Value>, prefix: &str, key: &str) -> Result<Option<String>, FieldError> {
    match string(obj, prefix, key)? {
        Some(s) if s.len() > MAX_TEXT => Err(FieldError::new(
            join(prefix, key),
            format!("must be at most {MAX_TEXT} bytes"),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, FieldError> {
    v.as_object()
        .ok_or_else(|| FieldError::new(field, "must be a JSON object"))
}

/// Parses one non-blank line.
pub(crate) fn parse(line: &str) -> Result<Input, FieldError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| FieldError::new("line", format!("malformed JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| FieldError::new("line", "must be a JSON object"))?;
    let at_text = required(obj, "", "at")?;
    let at = DateTime::parse_from_rfc3339(at_text)
        .map_err(|e| FieldError::new("at", format!("must be an RFC 3339 time: {e}")))?
        .with_timezone(&Utc);

    if let Some(v) = obj.get("report") {
        only(obj, "", &["at", "report"])?;
        return Ok(Input::Report {
            at,
            body: Box::new(report_body(v)?),
        });
    }
    if let Some(v) = obj.get("ack") {
        only(obj, "", &["at", "ack"])?;
        let a = object(v, "ack")?;
        only(a, "ack", &["target", "type", "by"])?;
        let target = target(a, "ack")?;
        let kind = AlertKind::parse(required(a, "ack", "type")?)
            .map_err(|e| FieldError::new("ack.type", e.rule().to_owned()))?;
        let by = text(a, "ack", "by")?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| FieldError::new("ack.by", "is required"))?;
        // the rule the engine and the API acknowledge by, whether or not
        // there is an alert to acknowledge
        if by.chars().count() > MAX_ACK_BY_LEN || by.chars().any(char::is_control) {
            return Err(FieldError::new(
                "ack.by",
                format!("must be 1..={MAX_ACK_BY_LEN} characters with no control characters"),
            ));
        }
        return Ok(Input::Ack {
            at,
            target,
            kind,
            by,
        });
    }
    if let Some(v) = obj.get("heal_result") {
        only(obj, "", &["at", "heal_result"])?;
        let h = object(v, "heal_result")?;
        only(h, "heal_result", &["target", "result"])?;
        let target = target(h, "heal_result")?;
        let result = match string(h, "heal_result", "result")? {
            None | Some("success") => QueuedResult::Success,
            Some("failed") => QueuedResult::Failed,
            Some(_) => {
                return Err(FieldError::new(
                    "heal_result.result",
                    "must be success or failed",
                ));
            }
        };
        return Ok(Input::HealResult { at, target, result });
    }
    if obj.len() == 1 {
        return Ok(Input::Tick { at });
    }
    only(
        obj,
        "",
        &["at", "target", "check", "outcome", "latency_ms", "message"],
    )?;
    let target = target(obj, "")?;
    let check = string(obj, "", "check")?.map(str::to_owned);
    let outcome_text = required(obj, "", "outcome")?;
    let outcome = Outcome::parse(outcome_text).ok_or_else(|| {
        FieldError::new(
            "outcome",
            "must be one of pass, warn, fail, unreachable, unknown",
        )
    })?;
    let latency_ms = match obj.get("latency_ms") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(ms) if ms.is_finite() && (0.0..=MAX_LATENCY_MS).contains(&ms) => Some(ms),
            _ => {
                return Err(FieldError::new(
                    "latency_ms",
                    "must be a number of milliseconds between 0 and 86400000",
                ));
            }
        },
    };
    let message = text(obj, "", "message")?;
    Ok(Input::Observation {
        at,
        target,
        check,
        outcome,
        latency_ms,
        message,
    })
}

/// The report body, with unknown keys and wrongly typed values named.
fn report_body(v: &Value) -> Result<ReportBody, FieldError> {
    let obj = object(v, "report")?;
    only(obj, "report", REPORT_FIELDS)?;
    if !obj.contains_key("mac_address") {
        return Err(FieldError::new("report.mac_address", "is required"));
    }
    match serde_json::from_value::<ReportBody>(v.clone()) {
        Ok(b) => Ok(b),
        Err(e) => {
            // find the field whose value does not fit its type
            for (k, val) in obj {
                let mut probe = Map::new();
                probe.insert("mac_address".to_owned(), Value::String(String::new()));
                probe.insert(k.clone(), val.clone());
                if let Err(e) = serde_json::from_value::<ReportBody>(Value::Object(probe)) {
                    return Err(FieldError::new(join("report", k), e.to_string()));
                }
            }
            Err(FieldError::new("report", e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> FieldError {
        parse(line).unwrap_err()
    }

    #[test]
    fn kinds() {
        assert!(matches!(
            parse(r#"{"at":"2026-01-01T00:00:00Z"}"#).unwrap(),
            Input::Tick { .. }
        ));
        let o = parse(
            r#"{"at":"2026-01-01T00:00:00+01:00","target":"web","check":"http","outcome":"fail","latency_ms":12.5,"message":"500"}"#,
        )
        .unwrap();
        match o {
            Input::Observation {
                at,
                check,
                outcome,
                latency_ms,
                ..
            } => {
                assert_eq!(at.to_rfc3339(), "2025-12-31T23:00:00+00:00");
                assert_eq!(check.as_deref(), Some("http"));
                assert_eq!(outcome, Outcome::Fail);
                assert_eq!(latency_ms, Some(12.5));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(
                r#"{"at":"2026-01-01T00:00:00Z","ack":{"target":"web","type":"down","by":"al"}}"#
            )
            .unwrap(),
            Input::Ack { .. }
        ));
        assert!(matches!(
            parse(r#"{"at":"2026-01-01T00:00:00Z","heal_result":{"target":"web"}}"#).unwrap(),
            Input::HealResult {
                result: QueuedResult::Success,
                ..
            }
        ));
        assert!(matches!(
            parse(r#"{"at":"2026-01-01T00:00:00Z","report":{"mac_address":"aa:bb:cc:00:11:22"}}"#)
                .unwrap(),
            Input::Report { .. }
        ));
    }

    #[test]
    fn errors_name_the_field() {
        let t = r#""at":"2026-01-01T00:00:00Z""#;
        for (line, field) in [
            ("{nope".to_owned(), "line"),
            ("[1]".to_owned(), "line"),
            (r#"{"target":"w"}"#.to_owned(), "at"),
            (r#"{"at":"yesterday"}"#.to_owned(), "at"),
            (r#"{"at":5}"#.to_owned(), "at"),
            (
                format!(r#"{{{t},"target":"w","outcome":"meh"}}"#),
                "outcome",
            ),
            (format!(r#"{{{t},"target":"w"}}"#), "outcome"),
            (format!(r#"{{{t},"outcome":"pass"}}"#), "target"),
            (format!(r#"{{{t},"target":"","outcome":"pass"}}"#), "target"),
            (
                format!(r#"{{{t},"target":"w","outcome":"pass","colour":1}}"#),
                "colour",
            ),
            (
                format!(r#"{{{t},"target":"w","outcome":"pass","latency_ms":-1}}"#),
                "latency_ms",
            ),
            (
                format!(r#"{{{t},"target":"w","outcome":"pass","check":3}}"#),
                "check",
            ),
            (
                format!(r#"{{{t},"ack":{{"target":"w","type":"down"}}}}"#),
                "ack.by",
            ),
            (
                format!(r#"{{{t},"ack":{{"target":"w","type":"nope nope","by":"a"}}}}"#),
                "ack.type",
            ),
            (
                format!(
                    r#"{{{t},"ack":{{"target":"w","type":"down","by":"{}"}}}}"#,
                    "a".repeat(101)
                ),
                "ack.by",
            ),
            (
                format!(r#"{{{t},"ack":{{"target":"w","type":"down","by":"a\tb"}}}}"#),
                "ack.by",
            ),
            (
                format!(r#"{{{t},"ack":{{"target":"w","type":"down","by":"a","x":1}}}}"#),
                "ack.x",
            ),
            (format!(r#"{{{t},"ack":1}}"#), "ack"),
            (
                format!(r#"{{{t},"ack":{{"target":"w","type":"down","by":"a"}},"x":1}}"#),
                "x",
            ),
            (
                format!(r#"{{{t},"heal_result":{{"target":"w","result":"meh"}}}}"#),
                "heal_result.result",
            ),
            (
                format!(r#"{{{t},"report":{{"mac_address":"aa:bb:cc:00:11:22","colour":1}}}}"#),
                "report.colour",
            ),
            (
                format!(r#"{{{t},"report":{{"mac_address":"aa:bb:cc:00:11:22","progress":"x"}}}}"#),
                "report.progress",
            ),
            (
                format!(r#"{{{t},"report":{{"event":"heartbeat"}}}}"#),
                "report.mac_address",
            ),
        ] {
            assert_eq!(err(&line).field, field, "{line}");
        }
    }
}
