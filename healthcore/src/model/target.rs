//! [`Target`]: something whose health is watched (node, pod, VPS, service).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::{TargetId, TenantId};

/// The tenant a target belongs to when none is given.
pub const DEFAULT_TENANT: &str = "default";

/// A monitored thing. Checks are registered separately, keyed by target.
///
/// ```
/// use healthcore::model::{Target, TargetId};
/// let t = Target::new(TargetId::new("web-1").unwrap(), "web-1");
/// assert_eq!(t.tenant.as_str(), "default");
/// t.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Unique id.
    pub id: TargetId,
    /// Display name.
    pub name: String,
    /// Free-form kind: `node`, `pod`, `vps`, `service`, …
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Owning tenant.
    #[serde(default = "default_tenant")]
    pub tenant: TenantId,
    /// Labels for selectors (maintenance windows, grouping).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Targets this one depends on; while one is down, this one's alerts
    /// are suppressed and its downtime attributed to the parent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<TargetId>,
    /// Hardware address for passive reports (seed 001), normalised
    /// lower-case `aa:bb:cc:dd:ee:ff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

fn default_kind() -> String {
    "service".to_owned()
}
fn default_tenant() -> TenantId {
    TenantId::new(DEFAULT_TENANT).expect("literal tenant is valid")
}

impl Target {
    /// A target in the default tenant with kind `service`.
    pub fn new(id: TargetId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            kind: default_kind(),
            tenant: default_tenant(),
            labels: BTreeMap::new(),
            parents: Vec::new(),
            mac_address: None,
        }
    }

    /// Checks every rule; the error names the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        if self.name.chars().count() > 256 || self.name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must be at most 256 characters with no control characters",
            ));
        }
        if self.kind.is_empty() || self.kind.len() > 64 || self.kind.chars().any(char::is_control) {
            return Err(ValidationError::new("kind", "must be 1..=64 characters"));
        }
        if self.labels.len() > 64 {
            return Err(ValidationError::new("labels", "at most 64 labels"));
        }
        for (k, v) in &self.labels {
            if k.is_empty() || k.len() > 128 || k.chars().any(|c| c.is_control() || c == '=') {
                return Err(ValidationError::new(
                    "labels",
                    format!(
                        "label key {k:?} must be 1..=128 characters without '=' or control characters"
                    ),
                ));
            }
            if v.len() > 256 || v.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "labels",
                    format!(
                        "label {k:?} value must be at most 256 characters without control characters"
                    ),
                ));
            }
        }
        if self.parents.len() > 32 {
            return Err(ValidationError::new("parents", "at most 32 parents"));
        }
        if self.parents.contains(&self.id) {
            return Err(ValidationError::new(
                "parents",
                "a target cannot be its own parent",
            ));
        }
        if let Some(mac) = &self.mac_address {
            if normalize_mac(mac).as_deref() != Some(mac.as_str()) {
                return Err(ValidationError::new(
                    "mac_address",
                    "must be a normalised MAC address like aa:bb:cc:dd:ee:ff",
                ));
            }
        }
        Ok(())
    }
}

/// Validates a MAC address in `aa:bb:cc:dd:ee:ff`, `aa-bb-…` or
/// `aabb.ccdd.eeff` form and returns it as lower-case colon-separated;
/// `None` when it is not one.
///
/// ```
/// use healthcore::model::normalize_mac;
/// assert_eq!(normalize_mac("AA-BB-CC-00-11-22").as_deref(), Some("aa:bb:cc:00:11:22"));
/// assert_eq!(normalize_mac("aabb.cc00.1122").as_deref(), Some("aa:bb:cc:00:11:22"));
/// assert_eq!(normalize_mac("zz:bb:cc:00:11:22"), None);
/// ```
pub fn normalize_mac(input: &str) -> Option<String> {
    let s = input.trim();
    let hex: String = if s.len() == 17 {
        let sep = s.as_bytes()[2];
        if sep != b':' && sep != b'-' {
            return None;
        }
        let parts: Vec<&str> = s.split(sep as char).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        parts.concat()
    } else if s.len() == 14 {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.len() != 4) {
            return None;
        }
        parts.concat()
    } else if s.len() == 12 {
        s.to_owned()
    } else {
        return None;
    };
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let mut out = String::with_capacity(17);
    for (i, chunk) in lower.as_bytes().chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(chunk[0] as char);
        out.push(chunk[1] as char);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Target {
        Target::new(TargetId::new("a").unwrap(), "A")
    }

    #[test]
    fn rules_name_fields() {
        assert_eq!(
            Target {
                name: " ".into(),
                ..t()
            }
            .validate()
            .unwrap_err()
            .field(),
            "name"
        );
        let mut self_parent = t();
        self_parent.parents.push(TargetId::new("a").unwrap());
        assert_eq!(self_parent.validate().unwrap_err().field(), "parents");
        let mut bad_mac = t();
        bad_mac.mac_address = Some("AA:BB:CC:DD:EE:FF".into());
        assert_eq!(bad_mac.validate().unwrap_err().field(), "mac_address");
        let mut label = t();
        label.labels.insert("a=b".into(), "x".into());
        assert_eq!(label.validate().unwrap_err().field(), "labels");
    }

    #[test]
    fn mac_forms() {
        assert_eq!(
            normalize_mac("00:11:22:33:44:55").as_deref(),
            Some("00:11:22:33:44:55")
        );
        assert_eq!(
            normalize_mac("001122334455").as_deref(),
            Some("00:11:22:33:44:55")
        );
        assert_eq!(normalize_mac("00:11:22:33:44"), None);
        assert_eq!(normalize_mac("00:11-22:33:44:55"), None);
        assert_eq!(normalize_mac(""), None);
    }

    #[test]
    fn serde_defaults() {
        let t: Target = serde_json::from_str(r#"{"id":"n1","name":"n1"}"#).unwrap();
        assert_eq!(t.kind, "service");
        assert_eq!(t.tenant.as_str(), "default");
        assert!(serde_json::from_str::<Target>(r#"{"id":"n1","name":"n1","x":1}"#).is_err());
    }
}
