//! `[[tokens]]` and `[[tenants]]`: who may call the API.
//!
//! A token is given by the name of an environment variable that holds it
//! (read at start; a missing variable is a configuration error, except for
//! `replay`, which reads no secret) or by its
//! SHA-256 digest (`healthd` never needs the token itself then). Plain
//! tokens never appear in the file.
//!
//! ```toml
//! [[tenants]]
//! id = "acme"
//!
//! [[tokens]]
//! name = "ops"
//! admin = true
//! env = "HEALTHD_ADMIN_TOKEN"
//!
//! [[tokens]]
//! name = "acme-panel"
//! tenant = "acme"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! ```

use std::collections::BTreeSet;

use healthcore::model::{DEFAULT_TENANT, TenantId};
use healthcore_http::{Auth, Scope};
use serde::Deserialize;

use super::Problems;

/// Shortest token accepted from an environment variable.
pub const MIN_TOKEN_LEN: usize = 16;

/// A tenant (targets, heal policies and tenant tokens name it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant id.
    pub id: TenantId,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One API token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token's name (the actor in the audit log).
    pub name: String,
    /// An admin token: every route, every tenant.
    #[serde(default)]
    pub admin: bool,
    /// A tenant token: only this tenant's data.
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// The environment variable holding the token.
    #[serde(default)]
    pub env: Option<String>,
    /// The token's SHA-256 digest, 64 hex characters.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// The declared tenants plus `default`.
pub(crate) fn tenant_ids(tenants: &[TenantConfig], p: &mut Problems) -> BTreeSet<TenantId> {
    let mut ids = BTreeSet::new();
    ids.insert(TenantId::new(DEFAULT_TENANT).expect("literal tenant is valid"));
    for (i, t) in tenants.iter().enumerate() {
        if t.id.as_str() != DEFAULT_TENANT && !ids.insert(t.id.clone()) {
            p.push(
                format!("tenants[{i}].id"),
                format!("duplicate tenant {}", t.id),
            );
        }
    }
    ids
}

/// Checks the tokens and builds the token table.
pub(crate) fn auth(tokens: &[TokenConfig], tenants: &BTreeSet<TenantId>, p: &mut Problems) -> Auth {
    let mut auth = Auth::new();
    let mut names = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        let at = |f: &str| format!("tokens[{i}].{f}");
        if t.name.trim().is_empty() || t.name.len() > 100 {
            p.push(at("name"), "must be 1..=100 characters");
        } else if !names.insert(t.name.clone()) {
            p.push(at("name"), format!("duplicate token name {}", t.name));
        }
        let scope = match (t.admin, &t.tenant) {
            (true, None) => Scope::Admin,
            (false, Some(tenant)) => {
                if !tenants.contains(tenant) {
                    p.push(
                        at("tenant"),
                        format!("unknown tenant {tenant}; declare it under [[tenants]]"),
                    );
                }
                Scope::Tenant(tenant.clone())
            }
            (true, Some(_)) => {
                p.push(
                    at("admin"),
                    "a token is either admin or a tenant's, not both",
                );
                continue;
            }
            (false, None) => {
                p.push(at("admin"), "say `admin = true` or give `tenant`");
                continue;
            }
        };
        match (&t.env, &t.sha256) {
            // without secrets (replay) only the variable's name is checked
            (Some(var), None) => match p.secret(var, at("env")) {
                Some(token) if token.len() >= MIN_TOKEN_LEN => {
                    auth = auth.with_token(t.name.clone(), &token, scope);
                }
                Some(_) => p.push(
                    at("env"),
                    format!(
                        "environment variable {var} holds fewer than {MIN_TOKEN_LEN} characters"
                    ),
                ),
                None => {}
            },
            (None, Some(hex)) => match auth.clone().with_digest(t.name.clone(), hex, scope) {
                Ok(a) => auth = a,
                Err(e) => p.push(at("sha256"), e.rule().to_owned()),
            },
            _ => p.push(at("env"), "give exactly one of env and sha256"),
        }
    }
    auth
}
