//! The wire body of a node report (seed 001's `POST /report`), parsed and
//! validated once for every ingress: the HTTP route and `healthd replay`.
//!
//! A body comes in the event form (`event`, `status`, `message`,
//! `event_metadata`), the legacy form (`installation_status`,
//! `installation_progress`, `installation_error`) or, with neither, as a
//! heartbeat. Unknown fields are refused. [`ReportBody::mac`] gives the
//! node's normalised MAC address (how the node is found) and
//! [`ReportBody::into_report`] the validated [`LifecycleReport`]; every
//! error names the field.
//!
//! ```
//! use healthcore::report::ReportBody;
//! let body: ReportBody = serde_json::from_str(
//!     r#"{"mac_address": "AA-BB-CC-00-11-22", "event": "install_progress", "progress": 40}"#,
//! ).unwrap();
//! assert_eq!(body.mac().unwrap(), "aa:bb:cc:00:11:22");
//! let report = body.into_report(Some("10.0.0.5".into())).unwrap();
//! assert_eq!(report.progress(), Some(40));
//! assert_eq!(report.client_ip(), Some("10.0.0.5"));
//!
//! let bad: ReportBody = serde_json::from_str(
//!     r#"{"mac_address": "aa:bb:cc:00:11:22", "ip_address": "nope"}"#,
//! ).unwrap();
//! assert_eq!(bad.into_report(None).unwrap_err().field(), "ip_address");
//! ```

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ValidationError;
use crate::lifecycle::{EventStatus, LegacyInstallationStatus, LifecycleReport};
use crate::model::normalize_mac;

/// Longest accepted text field, in bytes.
pub const MAX_REPORT_TEXT: usize = 4096;

/// The names of every field [`ReportBody`] accepts, in declaration order
/// (for documentation mirrors such as the HTTP adapter's OpenAPI schema).
pub const REPORT_FIELDS: &[&str] = &[
    "mac_address",
    "event",
    "status",
    "message",
    "event_metadata",
    "progress",
    "ip_address",
    "hostname",
    "vendor",
    "model",
    "serial_number",
    "system_uuid",
    "installation_status",
    "installation_progress",
    "installation_error",
];

/// Seed 001's node report body. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// The node's MAC address, any common form.
    pub mac_address: String,
    /// `boot_started`, `install_started`, `install_progress`,
    /// `install_complete`, `install_failed`, `first_boot` or `heartbeat`.
    #[serde(default)]
    pub event: Option<String>,
    /// `success` (default), `failed` or `in_progress`.
    #[serde(default)]
    pub status: Option<String>,
    /// A message from the node.
    #[serde(default)]
    pub message: Option<String>,
    /// Metadata (OS version, kernel, …); a JSON object.
    #[serde(default)]
    pub event_metadata: Option<Value>,
    /// Install progress 0..=100 (also `installation_progress`).
    #[serde(default)]
    pub progress: Option<i64>,
    /// The node's own IP address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// Host name, kept in the event's metadata.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Hardware vendor, kept in the event's metadata.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Hardware model, kept in the event's metadata.
    #[serde(default)]
    pub model: Option<String>,
    /// Serial number, kept in the event's metadata.
    #[serde(default)]
    pub serial_number: Option<String>,
    /// System UUID, kept in the event's metadata.
    #[serde(default)]
    pub system_uuid: Option<String>,
    /// Legacy: `started`, `progress`, `complete` or `failed`.
    #[serde(default)]
    pub installation_status: Option<String>,
    /// Legacy progress 0..=100.
    #[serde(default)]
    pub installation_progress: Option<i64>,
    /// Legacy error message.
    #[serde(default)]
    pub installation_error: Option<String>,
}

fn short(field: &'static str, v: &Option<String>) -> Result<(), ValidationError> {
    match v {
        Some(s) if s.len() > MAX_REPORT_TEXT => Err(ValidationError::new(
            field,
            format!("must be at most {MAX_REPORT_TEXT} bytes"),
        )),
        _ => Ok(()),
    }
}

impl ReportBody {
    /// The normalised MAC address (error on field `mac_address`).
    pub fn mac(&self) -> Result<String, ValidationError> {
        normalize_mac(&self.mac_address)
            .ok_or_else(|| ValidationError::new("mac_address", "not a valid MAC address"))
    }

    /// Validates the body into a [`LifecycleReport`]; `client_ip` is the
    /// address the report came from, if known. `status` must be `success`,
    /// `failed` or `in_progress` in every form (the legacy form derives the
    /// event's status from `installation_status`). Text fields are capped at
    /// [`MAX_REPORT_TEXT`] bytes, `ip_address` must parse, progress must
    /// be 0..=100, `event_metadata` must be an object; the hardware facts
    /// join the metadata (without overriding keys it already has).
    pub fn into_report(
        self,
        client_ip: Option<String>,
    ) -> Result<LifecycleReport, ValidationError> {
        for (f, v) in [
            ("message", &self.message),
            ("installation_error", &self.installation_error),
            ("ip_address", &self.ip_address),
            ("hostname", &self.hostname),
            ("vendor", &self.vendor),
            ("model", &self.model),
            ("serial_number", &self.serial_number),
            ("system_uuid", &self.system_uuid),
        ] {
            short(f, v)?;
        }
        if let Some(ip) = &self.ip_address {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(ValidationError::new("ip_address", "not an IP address"));
            }
        }
        // seed 001 validates `status` in every form (a Literal with a
        // default), not only beside an `event`
        let status = self.status.as_deref().map(EventStatus::parse).transpose()?;
        let progress = self.progress.or(self.installation_progress);
        let mut r = match (&self.event, &self.installation_status) {
            (Some(e), _) => {
                let mut r = LifecycleReport::try_new(e, progress)?;
                if let Some(s) = status {
                    r = r.with_status(s);
                }
                if let Some(m) = self.message.clone().or(self.installation_error.clone()) {
                    r = r.with_message(m);
                }
                r
            }
            (None, Some(legacy)) => {
                let mut r = LifecycleReport::from_legacy(LegacyInstallationStatus::parse(legacy)?);
                if let Some(p) = progress {
                    r = r.with_progress(p).map_err(|_| {
                        ValidationError::new("installation_progress", "must be between 0 and 100")
                    })?;
                }
                if let Some(m) = self.installation_error.clone().or(self.message.clone()) {
                    r = r.with_message(m);
                }
                r
            }
            (None, None) => {
                let mut r = LifecycleReport::try_new("heartbeat", progress)?;
                if let Some(s) = status {
                    r = r.with_status(s);
                }
                r
            }
        };
        let mut meta = match self.event_metadata {
            None => serde_json::Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(ValidationError::new(
                    "event_metadata",
                    "must be a JSON object",
                ));
            }
        };
        for (k, v) in [
            ("hostname", self.hostname),
            ("vendor", self.vendor),
            ("model", self.model),
            ("serial_number", self.serial_number),
            ("system_uuid", self.system_uuid),
        ] {
            if let Some(v) = v {
                meta.entry(k.to_owned()).or_insert(json!(v));
            }
        }
        if !meta.is_empty() {
            r = r.with_metadata(Value::Object(meta));
        }
        if let Some(ip) = self.ip_address {
            r = r.with_ip_address(ip);
        }
        if let Some(ip) = client_ip {
            r = r.with_client_ip(ip);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::LifecycleEventType;

    fn body(v: Value) -> ReportBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn fields_list_matches_the_struct() {
        // every listed field is accepted ...
        let mut all = serde_json::Map::new();
        for f in REPORT_FIELDS {
            all.insert((*f).to_owned(), Value::Null);
        }
        all.insert("mac_address".into(), json!("aa:bb:cc:00:11:22"));
        assert!(serde_json::from_value::<ReportBody>(Value::Object(all)).is_ok());
        // ... and an unlisted one is not
        let err = serde_json::from_value::<ReportBody>(
            json!({"mac_address": "aa:bb:cc:00:11:22", "nope": 1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        // the error lists the expected fields: the same set
        let msg = err.to_string();
        for f in REPORT_FIELDS {
            assert!(msg.contains(f), "{f} missing from {msg}");
        }
    }

    #[test]
    fn mac_is_normalised_or_refused() {
        let b = body(json!({"mac_address": "AABB.CC00.1122"}));
        assert_eq!(b.mac().unwrap(), "aa:bb:cc:00:11:22");
        let b = body(json!({"mac_address": "zz"}));
        assert_eq!(b.mac().unwrap_err().field(), "mac_address");
    }

    #[test]
    fn forms() {
        let r = body(json!({"mac_address": "aa:bb:cc:00:11:22"}))
            .into_report(None)
            .unwrap();
        assert_eq!(r.event(), LifecycleEventType::Heartbeat);
        let r = body(json!({"mac_address": "aa:bb:cc:00:11:22",
            "installation_status": "failed", "installation_error": "disk"}))
        .into_report(None)
        .unwrap();
        assert!(r.is_legacy());
        assert_eq!(r.event(), LifecycleEventType::InstallFailed);
        assert_eq!(r.message(), Some("disk"));
        let r = body(
            json!({"mac_address": "aa:bb:cc:00:11:22", "event": "boot_started",
            "hostname": "n1", "event_metadata": {"hostname": "kept"}, "ip_address": "10.0.0.2"}),
        )
        .into_report(Some("192.0.2.1".into()))
        .unwrap();
        assert_eq!(r.metadata().unwrap()["hostname"], json!("kept"));
        assert_eq!(r.ip_address(), Some("10.0.0.2"));
        assert_eq!(r.client_ip(), Some("192.0.2.1"));
    }

    #[test]
    fn errors_name_the_field() {
        let m = "aa:bb:cc:00:11:22";
        for (v, field) in [
            (json!({"mac_address": m, "event": "reboot"}), "event"),
            (
                json!({"mac_address": m, "event": "heartbeat", "status": "meh"}),
                "status",
            ),
            // without an event too (a heartbeat, or the legacy form)
            (json!({"mac_address": m, "status": "weird"}), "status"),
            (
                json!({"mac_address": m, "installation_status": "started", "status": "weird"}),
                "status",
            ),
            (
                json!({"mac_address": m, "event": "install_progress", "progress": 101}),
                "progress",
            ),
            (
                json!({"mac_address": m, "installation_status": "started", "installation_progress": -1}),
                "installation_progress",
            ),
            (
                json!({"mac_address": m, "installation_status": "sideways"}),
                "installation_status",
            ),
            (
                json!({"mac_address": m, "event_metadata": [1]}),
                "event_metadata",
            ),
            (
                json!({"mac_address": m, "ip_address": "1.2.3"}),
                "ip_address",
            ),
            (
                json!({"mac_address": m, "message": "x".repeat(MAX_REPORT_TEXT + 1)}),
                "message",
            ),
        ] {
            let err = body(v.clone()).into_report(None).unwrap_err();
            assert_eq!(err.field(), field, "{v}");
        }
    }
}
