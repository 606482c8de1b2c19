//! The `tls` probe: a TLS handshake (rustls with ring) and the server
//! certificate's chain and expiry (x509-parser).
//!
//! The handshake always completes when the server speaks TLS, so the
//! certificate can be reported even when it is not trusted: chain
//! verification (webpki, against the Mozilla roots of `webpki-roots`, or
//! only the CAs in `ca_file` when given) is recorded rather than enforced,
//! and judged afterwards. Handshake signatures are still verified.
//!
//! Outcomes: refused or connect timeout → `unreachable`; not TLS, a
//! handshake alert or no handshake before the deadline → `fail`; the leaf
//! certificate expired or not yet valid → `fail`; the chain not trusted
//! for the name (with `verify`, the default) → `fail`; fewer than
//! `warn_days` days left → `warn`; else `pass`. An unreadable `ca_file` is
//! `unknown`. Details carry subject, issuer, validity, days left, names,
//! protocol version, cipher suite and the verification verdict.
//!
//! Owns one connection per run; sends nothing after the handshake.
//!
//! Params ([`TlsParams`]):
//!
//! ```json
//! {"host": "example.com"}
//! {"host": "10.0.0.8", "port": 8443, "server_name": "api.internal",
//!  "ca_file": "/etc/healthcore/internal-ca.pem", "warn_days": 21}
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};

use crate::common::{self, Clock};

/// The default TLS port.
pub const DEFAULT_PORT: u16 = 443;
/// Default days before expiry that warn.
pub const DEFAULT_WARN_DAYS: u32 = 14;
/// Largest `warn_days` accepted (ten years).
pub const MAX_WARN_DAYS: u32 = 3650;

fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_warn_days() -> u32 {
    DEFAULT_WARN_DAYS
}
fn default_true() -> bool {
    true
}

/// Params of the `tls` probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsParams {
    /// Host name or IP address to connect to.
    pub host: String,
    /// Port (443).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Name sent as SNI and verified against the certificate; `host` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Warn when fewer days than this are left (14; 0 never warns).
    #[serde(default = "default_warn_days")]
    pub warn_days: u32,
    /// An absolute path to PEM CA certificates to trust instead of the
    /// built-in Mozilla roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Fail when the chain is not trusted for the name (true). False still
    /// reports the verdict in details and still judges expiry.
    #[serde(default = "default_true")]
    pub verify: bool,
}

impl TlsParams {
    /// The name to send and verify.
    pub fn name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }

    /// Checks host, port, name, days and CA path; errors name
    /// `params.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        common::check_host("params.host", &self.host)?;
        common::check_port("params.port", self.port)?;
        let field = if self.server_name.is_some() {
            "params.server_name"
        } else {
            "params.host"
        };
        if ServerName::try_from(self.name().to_owned()).is_err() {
            return Err(ValidationError::new(
                field,
                "must be a valid DNS name or IP address for TLS",
            ));
        }
        if self.warn_days > MAX_WARN_DAYS {
            return Err(ValidationError::new(
                "params.warn_days",
                "must be at most 3650",
            ));
        }
        if let Some(ca) = &self.ca_file
            && !ca.is_absolute()
        {
            return Err(ValidationError::new(
                "params.ca_file",
                "must be an absolute path",
            ));
        }
        Ok(())
    }
}

/// The `tls` checker. Holds the crypto provider and the default roots;
/// share it as `Arc<dyn Checker>`.
#[derive(Debug, Default)]
pub struct TlsChecker {
    default_verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl TlsChecker {
    /// A new checker (the root store is built on first use).
    pub const fn new() -> Self {
        Self {
            default_verifier: OnceLock::new(),
        }
    }

    fn default_verifier(&self) -> Result<Arc<WebPkiServerVerifier>, String> {
        self.default_verifier
            .get_or_init(|| {
                let roots: RootCertStore = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .clone()
    }
}

fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn parse(spec: &CheckSpec) -> Result<TlsParams, ValidationError> {
    let p: TlsParams = common::parse_params(spec)?;
    p.validate()?;
    Ok(p)
}

#[async_trait]
impl Checker for TlsChecker {
    fn kind(&self) -> &str {
        "tls"
    }

    fn validate(&self, spec: &CheckSpec) -> Result<(), ValidationError> {
        parse(spec).map(|_| ())
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        let clock = Clock::start(spec);
        let p = match parse(spec) {
            Ok(p) => p,
            Err(e) => return clock.bad_params(&e),
        };
        self.probe(&p, &clock).await
    }
}

/// Verifies the chain as webpki would, records the verdict, and lets the
/// handshake go on so the certificate can be reported either way.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), rustls::Error>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        if let Ok(mut v) = self.verdict.lock() {
            *v = Some(r);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn verifier_from_file(path: &std::path::Path) -> Result<Arc<WebPkiServerVerifier>, String> {
    let mut roots = RootCertStore::empty();
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| e.to_string())?;
    for cert in iter {
        let cert = cert.map_err(|e| e.to_string())?;
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    if roots.is_empty() {
        return Err("no certificate in the file".to_owned());
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| e.to_string())
}

/// What the leaf certificate says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeafInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub names: Vec<String>,
}

pub(crate) fn leaf_info(der: &[u8]) -> Result<LeafInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let v = cert.validity();
    let ts = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(LeafInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: ts(v.not_before.timestamp()),
        not_after: ts(v.not_after.timestamp()),
        names,
    })
}

/// Judges a certificate at `now`: expired or not yet valid → `fail`, an
/// untrusted chain (when `verify`) → `fail`, under `warn_days` left →
/// `warn`, else `pass`. Returns the outcome and a short reason.
pub(crate) fn judge_cert(
    leaf: &LeafInfo,
    chain_error: Option<&str>,
    verify: bool,
    warn_days: u32,
    now: DateTime<Utc>,
) -> (Outcome, String) {
    if now > leaf.not_after {
        return (
            Outcome::Fail,
            format!("certificate expired on {}", leaf.not_after.to_rfc3339()),
        );
    }
    if now < leaf.not_before {
        return (
            Outcome::Fail,
            format!(
                "certificate not valid before {}",
                leaf.not_before.to_rfc3339()
            ),
        );
    }
    if verify && let Some(e) = chain_error {
        return (Outcome::Fail, format!("certificate not trusted: {e}"));
    }
    let left = leaf.not_after - now;
    let days = left.num_days();
    if warn_days > 0 && left < chrono::Duration::days(i64::from(warn_days)) {
        return (
            Outcome::Warn,
            format!(
                "certificate expires in {days} days ({})",
                leaf.not_after.to_rfc3339()
            ),
        );
    }
    (
        Outcome::Pass,
        format!("certificate valid for {days} more days"),
    )
}

impl TlsChecker {
    async fn probe(&self, p: &TlsParams, clock: &Clock) -> Observation {
        let target = common::host_port(&p.host, p.port);
        let inner = match &p.ca_file {
            Some(path) => verifier_from_file(path).map_err(|e| {
                clock.observe(
                    Outcome::Unknown,
                    format!("cannot use ca_file {}: {e}", path.display()),
                    serde_json::json!({"address": target, "error": "ca_file"}),
                )
            }),
            None => self.default_verifier().map_err(|e| {
                clock.observe(
                    Outcome::Unknown,
                    format!("cannot build the root store: {e}"),
                    serde_json::json!({"address": target, "error": "roots"}),
                )
            }),
        };
        let inner = match inner {
            Ok(v) => v,
            Err(o) => return o,
        };
        let Ok(name) = ServerName::try_from(p.name().to_owned()) else {
            return clock.observe(
                Outcome::Unknown,
                "invalid server name",
                serde_json::json!({"address": target, "error": "server_name"}),
            );
        };
        let recording = Arc::new(Recording {
            inner,
            verdict: Mutex::new(None),
        });
        let config = match rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b
                .dangerous()
                .with_custom_certificate_verifier(recording.clone())
                .with_no_client_auth(),
            Err(e) => {
                return clock.observe(
                    Outcome::Unknown,
                    format!("cannot configure TLS: {e}"),
                    serde_json::json!({"address": target, "error": "config"}),
                );
            }
        };

        let (stream, addr) = match common::connect(&p.host, p.port, clock.deadline).await {
            Ok(s) => s,
            Err(e) => return e.observe(clock, &target),
        };
        let connect = clock.elapsed();
        let address = addr.to_string();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let handshake =
            tokio::time::timeout_at(clock.deadline, connector.connect(name, stream)).await;
        let tls = match handshake {
            Err(_) => {
                return clock.observe(
                    Outcome::Fail,
                    format!("no TLS handshake with {address} before the timeout"),
                    serde_json::json!({"address": address, "connect_ms": common::ms(connect), "error": "handshake_timeout"}),
                );
            }
            Ok(Err(e)) => {
                return clock.observe(
                    Outcome::Fail,
                    format!("TLS handshake with {address} failed: {e}"),
                    serde_json::json!({"address": address, "connect_ms": common::ms(connect), "error": "handshake_failed"}),
                );
            }
            Ok(Ok(s)) => s,
        };
        let handshake_done = clock.elapsed();
        let (_, conn) = tls.get_ref();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let suite = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        let leaf_der = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec());
        drop(tls);

        let chain_error = recording
            .verdict
            .lock()
            .ok()
            .and_then(|v| v.clone())
            .and_then(Result::err)
            .map(|e| e.to_string());
        let mut details = serde_json::json!({
            "address": address,
            "server_name": p.name(),
            "connect_ms": common::ms(connect),
            "handshake_ms": common::ms(handshake_done.saturating_sub(connect)),
            "protocol": version,
            "cipher_suite": suite,
            "chain_valid": chain_error.is_none(),
        });
        if let Some(e) = &chain_error {
            details["verify_error"] = e.clone().into();
        }
        let leaf = match leaf_der.as_deref().map(leaf_info) {
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                details["error"] = "bad_certificate".into();
                return clock.observe(
                    Outcome::Fail,
                    format!("cannot parse the certificate from {address}: {e}"),
                    details,
                );
            }
            None => {
                details["error"] = "no_certificate".into();
                return clock.observe(
                    Outcome::Fail,
                    format!("{address} sent no certificate"),
                    details,
                );
            }
        };
        let now = Utc::now();
        let (outcome, reason) =
            judge_cert(&leaf, chain_error.as_deref(), p.verify, p.warn_days, now);
        let left = leaf.not_after - now;
        details["subject"] = leaf.subject.clone().into();
        details["issuer"] = leaf.issuer.clone().into();
        details["not_before"] = leaf.not_before.to_rfc3339().into();
        details["not_after"] = leaf.not_after.to_rfc3339().into();
        details["days_left"] = left.num_days().into();
        details["names"] = leaf.names.clone().into();
        clock.observe(outcome, format!("{address}: {reason}"), details)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd,
    };
    use rustls::pki_types::PrivateKeyDer;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    fn spec(params: serde_json::Value, timeout_ms: u64) -> CheckSpec {
        CheckSpec::new("tls")
            .with_params(params)
            .every(Duration::from_secs(60), Duration::from_millis(timeout_ms))
    }

    fn field(params: serde_json::Value) -> String {
        TlsChecker::new()
            .validate(&spec(params, 1000))
            .unwrap_err()
            .field()
            .to_owned()
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(
            field(serde_json::json!({"host": "a", "port": 0})),
            "params.port"
        );
        assert_eq!(field(serde_json::json!({"port": 1})), "params.host");
        assert_eq!(field(serde_json::json!({"host": "a_b!"})), "params.host");
        assert_eq!(
            field(serde_json::json!({"host": "a", "server_name": "bad name"})),
            "params.server_name"
        );
        assert_eq!(
            field(serde_json::json!({"host": "a", "warn_days": 5000})),
            "params.warn_days"
        );
        assert_eq!(
            field(serde_json::json!({"host": "a", "ca_file": "ca.pem"})),
            "params.ca_file"
        );
        let p = parse(&spec(serde_json::json!({"host": "127.0.0.1"}), 1000)).unwrap();
        assert_eq!((p.port, p.warn_days, p.verify), (443, 14, true));
    }

    fn leaf(not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> LeafInfo {
        LeafInfo {
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            not_before,
            not_after,
            names: vec![],
        }
    }

    #[test]
    fn judging() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let day = chrono::Duration::days(1);
        let l = leaf(now - day, now + day * 30);
        assert_eq!(judge_cert(&l, None, true, 14, now).0, Outcome::Pass);
        assert_eq!(judge_cert(&l, None, true, 31, now).0, Outcome::Warn);
        assert_eq!(judge_cert(&l, None, true, 0, now).0, Outcome::Pass);
        assert_eq!(judge_cert(&l, Some("x"), true, 14, now).0, Outcome::Fail);
        assert_eq!(judge_cert(&l, Some("x"), false, 14, now).0, Outcome::Pass);
        let expired = leaf(now - day * 10, now - day);
        let (o, m) = judge_cert(&expired, None, false, 14, now);
        assert_eq!(o, Outcome::Fail);
        assert!(m.contains("expired"));
        let future = leaf(now + day, now + day * 10);
        assert_eq!(judge_cert(&future, None, true, 14, now).0, Outcome::Fail);
    }

    /// A CA and a server certificate for `localhost` and 127.0.0.1 signed
    /// by it.
    struct Pki {
        ca_pem: String,
        cert: CertificateDer<'static>,
        key: Vec<u8>,
    }

    /// (year, month, day) of today plus `days`.
    fn ymd(days: i64) -> (i32, u8, u8) {
        use chrono::Datelike;
        let d = (Utc::now() + chrono::Duration::days(days)).date_naive();
        (
            d.year(),
            u8::try_from(d.month()).unwrap(),
            u8::try_from(d.day()).unwrap(),
        )
    }

    /// A test PKI whose server certificate is valid from `from` to `until`
    /// (days from today).
    fn pki(from: i64, until: i64) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "healthcore test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut p =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, "localhost");
        let (f, u) = (ymd(from), ymd(until));
        p.not_before = date_time_ymd(f.0, f.1, f.2);
        p.not_after = date_time_ymd(u.0, u.1, u.2);
        let cert = p.signed_by(&key, &issuer).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }

    /// A TLS server on 127.0.0.1 presenting `pki`'s certificate.
    async fn serve(pki: &Pki) -> std::net::SocketAddr {
        let key = PrivateKeyDer::try_from(pki.key.clone()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![pki.cert.clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(s).await {
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        a
    }

    struct CaFile(PathBuf);
    impl CaFile {
        fn new(pem: &str) -> Self {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "hc-tls-ca-{}-{}.pem",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::write(&p, pem).unwrap();
            Self(p)
        }
    }
    impl Drop for CaFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[tokio::test]
    async fn expiring_soon_warns_with_details() {
        let pki = pki(-1, 3);
        let a = serve(&pki).await;
        let ca = CaFile::new(&pki.ca_pem);
        let checker = TlsChecker::new();
        let base = serde_json::json!({"host": "127.0.0.1", "port": a.port(), "ca_file": ca.0});

        let o = checker.check(&spec(base.clone(), 3000)).await;
        assert_eq!(o.outcome, Outcome::Warn, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["chain_valid"], true);
        let days = d["days_left"].as_i64().unwrap();
        assert!((1..=3).contains(&days), "{days}");
        assert!(d["subject"].as_str().unwrap().contains("localhost"));
        assert!(d["issuer"].as_str().unwrap().contains("healthcore test CA"));
        assert!(
            d["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == "127.0.0.1")
        );
        assert!(d["protocol"].as_str().unwrap().starts_with("TLS"));
        assert!(o.message.unwrap().contains("expires in"));

        // Under the warn window → pass; by name with SNI → pass.
        let mut p = base.clone();
        p["warn_days"] = 1.into();
        assert_eq!(
            checker.check(&spec(p.clone(), 3000)).await.outcome,
            Outcome::Pass
        );
        p["server_name"] = "localhost".into();
        assert_eq!(
            checker.check(&spec(p.clone(), 3000)).await.outcome,
            Outcome::Pass
        );

        // A name the certificate does not carry → not trusted → fail.
        p["server_name"] = "other.example".into();
        let o = checker.check(&spec(p.clone(), 3000)).await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["chain_valid"], false);

        // The built-in roots do not know the test CA → fail, unless verify
        // is off (then expiry is still judged).
        let mut p = serde_json::json!({"host": "127.0.0.1", "port": a.port()});
        let o = checker.check(&spec(p.clone(), 3000)).await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert!(o.message.unwrap().contains("not trusted"));
        p["verify"] = false.into();
        let o = checker.check(&spec(p, 3000)).await;
        assert_eq!(o.outcome, Outcome::Warn, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["chain_valid"], false);
        assert!(d["verify_error"].is_string());
    }

    #[tokio::test]
    async fn expired_certificate_fails() {
        let pki = pki(-30, -2);
        let a = serve(&pki).await;
        let ca = CaFile::new(&pki.ca_pem);
        let o = TlsChecker::new()
            .check(&spec(
                serde_json::json!({"host": "127.0.0.1", "port": a.port(), "ca_file": ca.0, "verify": false}),
                3000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert!(o.message.unwrap().contains("expired"));
        assert!(o.details.unwrap()["days_left"].as_i64().unwrap() < 0);
    }

    #[tokio::test]
    async fn not_tls_fails_and_refused_is_unreachable() {
        let l = TcpListener::bind("127.0.0.9:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let o = TlsChecker::new()
            .check(&spec(
                serde_json::json!({"host": "127.0.0.9", "port": a.port(), "server_name": "localhost"}),
                2000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "handshake_failed");

        let l = TcpListener::bind("127.0.0.10:0").await.unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        let o = TlsChecker::new()
            .check(&spec(
                serde_json::json!({"host": "127.0.0.10", "port": a.port()}),
                2000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unreachable, "{o:?}");
    }

    #[tokio::test]
    async fn stalled_handshake_fails_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.11:0").await.unwrap();
        let a = l.local_addr().unwrap();
        let started = std::time::Instant::now();
        let o = TlsChecker::new()
            .check(&spec(
                serde_json::json!({"host": "127.0.0.11", "port": a.port()}),
                300,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "handshake_timeout");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(l);
    }

    #[tokio::test]
    async fn unreadable_ca_file_is_unknown() {
        let o = TlsChecker::new()
            .check(&spec(
                serde_json::json!({"host": "127.0.0.1", "port": 1, "ca_file": "/nonexistent/ca.pem"}),
                1000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
    }
}
