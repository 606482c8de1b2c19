//! Outbound HTTP: the egress guard ([`EgressPolicy`]), the `http` probe
//! ([`HttpProbe`]) and the webhook and Slack notifiers
//! ([`WebhookNotifier`], [`SlackNotifier`]).
//!
//! Every request is made by a reqwest client that resolves names through
//! [`GuardedResolver`] (so the address is checked after DNS resolution and
//! only checked addresses are connected to), follows no redirect on its
//! own (callers check each hop with [`EgressPolicy::check_url`]), ignores
//! proxy settings from the environment and verifies TLS with rustls
//! (ring) against the webpki roots plus any extra roots given.

mod probe;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

pub use crate::egress::{
    AddrClass, EgressError, EgressPolicy, GuardedResolver, HostCheck, NameResolver, StaticResolver,
    SystemResolver, classify,
};
pub use probe::{HttpProbe, HttpProbeParams, JsonPointerEquals, StatusRange};
pub use webhook::{SlackNotifier, WebhookNotifier, WebhookSecret, sign};

/// A certificate (DER) to trust in addition to the webpki roots.
pub type RootCertificate = Vec<u8>;

/// Builds the rustls configuration: ring, webpki roots plus `extra`.
pub(crate) fn tls_config(extra: &[RootCertificate]) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("bad root certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A reqwest client behind the guard.
pub(crate) fn guarded_client(
    policy: Arc<EgressPolicy>,
    resolver: Arc<dyn NameResolver>,
    extra_roots: &[RootCertificate],
    connect_timeout: Duration,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls_config(extra_roots)?)
        .dns_resolver(Arc::new(GuardedResolver::new(policy, resolver)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_info(true)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("healthcore/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// The egress error inside a reqwest error's source chain, if any.
pub(crate) fn egress_cause(e: &reqwest::Error) -> Option<EgressError> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(eg) = s.downcast_ref::<EgressError>() {
            return Some(eg.clone());
        }
        src = s.source();
    }
    None
}

/// reqwest connects only to the addresses the guard passed.
impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let me = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = me.resolve_checked(&host).await?;
            let it: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)));
            Ok(it)
        })
    }
}
