//! Bearer-token authentication for the whole router.
//!
//! This module owns [`Auth`] (the token table and the public-route list),
//! [`Scope`] and [`Caller`], and the middleware that wraps every route.
//! Tokens are kept only as SHA-256 digests and compared in constant time
//! against every stored digest (no early exit); a missing, unknown or
//! wrong token gets one identical 401. Public routes are an explicit list
//! of (method, path pattern), `HEAD` going wherever `GET` goes: by default
//! `GET /health` and the dashboard
//! page, `GET /` and `GET /assets/{file}` (which hold no data; see
//! [`dashboard`](super::dashboard)). `GET /events` and `GET /ws` also accept
//! a single-use ticket from `POST /events/ticket` in place of the header
//! (browsers' `EventSource` cannot send one).
//!
//! It must not decide what a caller may see beyond "admin or this
//! tenant": handlers scope their data with [`Caller`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use healthcore::ValidationError;
use healthcore::model::TenantId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiState;
use super::error::ApiError;

/// What a token may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Everything, every tenant.
    Admin,
    /// Only this tenant's targets, policies, windows, alerts and events.
    Tenant(TenantId),
}

#[derive(Clone)]
struct TokenRecord {
    name: String,
    digest: [u8; 32],
    scope: Scope,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A route reachable without a token: a method and a path pattern whose
/// `{param}` segments match any one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicRoute {
    method: Method,
    path: String,
}

impl PublicRoute {
    /// Whether `method path` is this route; `HEAD` is public wherever `GET`
    /// is (it is the same answer without the body).
    fn matches(&self, method: &Method, path: &str) -> bool {
        let same =
            self.method == *method || (*method == Method::HEAD && self.method == Method::GET);
        if !same {
            return false;
        }
        let want = self.path.trim_end_matches('/');
        let got = path.trim_end_matches('/');
        let mut a = want.split('/');
        let mut b = got.split('/');
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(p), Some(s)) => {
                    let param = p.starts_with('{') && p.ends_with('}');
                    if !(param && !s.is_empty() || p == s) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }
}

/// The token table and the public routes.
///
/// ```
/// use healthcore_http::server::{Auth, Scope};
/// use healthcore::model::TenantId;
/// let auth = Auth::new()
///     .with_token("ops", "an-admin-secret-of-some-length", Scope::Admin)
///     .with_token("acme", "acme-secret-token-value", Scope::Tenant(TenantId::new("acme").unwrap()));
/// assert!(auth.authenticate(Some("Bearer an-admin-secret-of-some-length")).is_some());
/// assert!(auth.authenticate(Some("Bearer nope")).is_none());
/// // digests can be stored instead of tokens
/// let hex = Auth::digest_hex("acme-secret-token-value");
/// assert_eq!(hex.len(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct Auth {
    tokens: Vec<TokenRecord>,
    public: Vec<PublicRoute>,
}

impl Default for Auth {
    fn default() -> Self {
        Self::new()
    }
}

impl Auth {
    /// No tokens; public: `GET /health`, and the dashboard page `GET /`
    /// and `GET /assets/{file}` (see [`Auth::without_dashboard`]).
    pub fn new() -> Self {
        let mut public = vec![PublicRoute {
            method: Method::GET,
            path: "/health".into(),
        }];
        for (_, path) in super::dashboard::PUBLIC_ROUTES {
            public.push(PublicRoute {
                method: Method::GET,
                path: path.into(),
            });
        }
        Self {
            tokens: Vec::new(),
            public,
        }
    }

    /// Takes the dashboard's routes (`GET /`, `GET /assets/{file}`) off the
    /// public list; the router does this itself when the dashboard is off.
    #[must_use]
    pub fn without_dashboard(mut self) -> Self {
        self.public.retain(|p| {
            !super::dashboard::PUBLIC_ROUTES
                .iter()
                .any(|(m, path)| p.method.as_str() == *m && p.path == *path)
        });
        self
    }

    /// The SHA-256 digest of a token, as lower-case hex (what to put in a
    /// config file instead of the token).
    pub fn digest_hex(token: &str) -> String {
        let d = Sha256::digest(token.as_bytes());
        let mut s = String::with_capacity(64);
        for b in d {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Adds a token (only its digest is kept).
    #[must_use]
    pub fn with_token(mut self, name: impl Into<String>, token: &str, scope: Scope) -> Self {
        self.tokens.push(TokenRecord {
            name: name.into(),
            digest: Sha256::digest(token.as_bytes()).into(),
            scope,
        });
        self
    }

    /// Adds a token by its hex SHA-256 digest; the error names `digest`.
    pub fn with_digest(
        mut self,
        name: impl Into<String>,
        hex_digest: &str,
        scope: Scope,
    ) -> Result<Self, ValidationError> {
        let bytes = hex_digest.as_bytes();
        if bytes.len() != 64 {
            return Err(ValidationError::new(
                "digest",
                "must be 64 hex characters (SHA-256)",
            ));
        }
        let mut digest = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = hex_val(pair.first().copied());
            let lo = hex_val(pair.get(1).copied());
            match (hi, lo, digest.get_mut(i)) {
                (Some(h), Some(l), Some(slot)) => *slot = h << 4 | l,
                _ => {
                    return Err(ValidationError::new(
                        "digest",
                        "must be 64 hex characters (SHA-256)",
                    ));
                }
            }
        }
        self.tokens.push(TokenRecord {
            name: name.into(),
            digest,
            scope,
        });
        Ok(self)
    }

    /// Makes `method path` reachable without a token (`{param}` segments
    /// match any segment). Use it for a dashboard page or node reports.
    #[must_use]
    pub fn public(mut self, method: Method, path: impl Into<String>) -> Self {
        self.public.push(PublicRoute {
            method,
            path: path.into(),
        });
        self
    }

    /// Makes no route public, not even `GET /health`.
    #[must_use]
    pub fn no_public_routes(mut self) -> Self {
        self.public.clear();
        self
    }

    /// Whether `method path` is public.
    pub fn is_public(&self, method: &Method, path: &str) -> bool {
        self.public.iter().any(|p| p.matches(method, path))
    }

    /// The caller for an `Authorization` header value, or `None`. Every
    /// stored digest is compared, in constant time, whatever matches.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<Caller> {
        let token = authorization.and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim())
                .filter(|t| !t.is_empty())
        });
        // hash something even when no token came, so timing says nothing
        let presented: [u8; 32] = Sha256::digest(token.unwrap_or("").as_bytes()).into();
        let mut found: Option<&TokenRecord> = None;
        for rec in &self.tokens {
            let eq: bool = rec.digest.ct_eq(&presented).into();
            if eq && found.is_none() {
                found = Some(rec);
            }
        }
        token?;
        found.map(|r| Caller {
            name: r.name.clone(),
            scope: r.scope.clone(),
        })
    }
}

fn hex_val(b: Option<u8>) -> Option<u8> {
    match b? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        c @ b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Who is calling: the token's name (used as the actor in the audit log)
/// and its scope. Extract it in a handler; a route without one answers 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// What it may reach.
    pub scope: Scope,
}

impl Caller {
    /// An admin caller (for tests and embedding).
    pub fn admin(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scope: Scope::Admin,
        }
    }

    /// The tenant the caller is limited to; `None` for admins.
    pub fn tenant(&self) -> Option<&TenantId> {
        match &self.scope {
            Scope::Admin => None,
            Scope::Tenant(t) => Some(t),
        }
    }

    /// Whether the caller may see data of `tenant`.
    pub fn can_see(&self, tenant: &TenantId) -> bool {
        match &self.scope {
            Scope::Admin => true,
            Scope::Tenant(t) => t == tenant,
        }
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        matches!(self.scope, Scope::Admin)
    }

    /// 403 unless admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The middleware: public routes pass; every other request needs a valid
/// token, whose [`Caller`] is put in the request's extensions. On the
/// event-stream routes only, a request without an `Authorization` header
/// may present a ticket (`?ticket=`) instead.
pub(crate) async fn middleware(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let mut caller = state.auth.authenticate(header);
    if caller.is_none()
        && header.is_none()
        && req.method() == Method::GET
        && super::ticket::TICKET_ROUTES.contains(&req.uri().path())
    {
        caller = super::ticket::ticket_in(req.uri().query()).and_then(|t| state.tickets.redeem(&t));
    }
    let public = state.auth.is_public(req.method(), req.uri().path());
    match caller {
        Some(c) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        None if public => next.run(req).await,
        None => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new()
            .with_token("root", "root-token-0123456789", Scope::Admin)
            .with_token(
                "acme",
                "acme-token-0123456789",
                Scope::Tenant(TenantId::new("acme").unwrap()),
            )
    }

    #[test]
    fn bearer_parsing() {
        let a = auth();
        assert_eq!(
            a.authenticate(Some("Bearer root-token-0123456789"))
                .unwrap()
                .name,
            "root"
        );
        assert_eq!(
            a.authenticate(Some("bearer   acme-token-0123456789"))
                .unwrap()
                .scope,
            Scope::Tenant(TenantId::new("acme").unwrap())
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic root-token-0123456789"),
            Some("root-token-0123456789"),
            Some("Bearer root-token-012345678"),
        ] {
            assert!(a.authenticate(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn digests_round_trip() {
        let hex = Auth::digest_hex("t0ken-value-for-test");
        let a = Auth::new().with_digest("x", &hex, Scope::Admin).unwrap();
        assert!(
            a.authenticate(Some("Bearer t0ken-value-for-test"))
                .is_some()
        );
        let upper = hex.to_uppercase();
        assert!(Auth::new().with_digest("x", &upper, Scope::Admin).is_ok());
        assert_eq!(
            Auth::new()
                .with_digest("x", "abc", Scope::Admin)
                .unwrap_err()
                .field(),
            "digest"
        );
        let bad = format!("{}zz", &hex[..62]);
        assert!(Auth::new().with_digest("x", &bad, Scope::Admin).is_err());
    }

    #[test]
    fn dashboard_routes_are_public_unless_taken_off() {
        let a = Auth::new();
        assert!(a.is_public(&Method::GET, "/"));
        assert!(a.is_public(&Method::GET, "/assets/app.js"));
        assert!(!a.is_public(&Method::GET, "/assets"));
        assert!(!a.is_public(&Method::POST, "/"));
        let a = a.without_dashboard();
        assert!(!a.is_public(&Method::GET, "/"));
        assert!(!a.is_public(&Method::GET, "/assets/app.js"));
        assert!(a.is_public(&Method::GET, "/health"));
    }

    #[test]
    fn public_patterns() {
        let a = Auth::new()
            .public(Method::POST, "/report")
            .public(Method::GET, "/pages/{id}");
        assert!(a.is_public(&Method::GET, "/health"));
        // HEAD follows GET, and only GET
        assert!(a.is_public(&Method::HEAD, "/health"));
        assert!(a.is_public(&Method::HEAD, "/pages/x"));
        assert!(a.is_public(&Method::HEAD, "/"));
        assert!(!a.is_public(&Method::HEAD, "/report"));
        assert!(!a.is_public(&Method::HEAD, "/health/summary"));
        assert!(a.is_public(&Method::GET, "/health/"));
        assert!(!a.is_public(&Method::GET, "/health/summary"));
        assert!(!a.is_public(&Method::POST, "/health"));
        assert!(a.is_public(&Method::POST, "/report"));
        assert!(a.is_public(&Method::GET, "/pages/x"));
        assert!(!a.is_public(&Method::GET, "/pages"));
        assert!(!a.is_public(&Method::GET, "/pages/x/y"));
        assert!(
            !Auth::new()
                .no_public_routes()
                .is_public(&Method::GET, "/health")
        );
    }

    #[test]
    fn scopes() {
        let t = TenantId::new("acme").unwrap();
        let c = Caller {
            name: "a".into(),
            scope: Scope::Tenant(t.clone()),
        };
        assert!(c.can_see(&t));
        assert!(!c.can_see(&TenantId::new("other").unwrap()));
        assert!(c.require_admin().is_err());
        assert!(Caller::admin("x").can_see(&t));
    }
}
