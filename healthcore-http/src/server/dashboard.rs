//! The dashboard page: `index.html`, `app.css` and `app.js` from
//! `healthcore-http/assets/`, compiled into the binary (no build step, no
//! CDN) and served at `GET /` and `GET /assets/{file}`.
//!
//! The page holds no data: everything it shows comes from the API with the
//! caller's token, so the page and its assets are public routes
//! ([`Auth::new`](super::Auth::new) lists them; `ApiConfig::dashboard(false)`
//! turns the page off and takes them off the public list). Every URL the
//! page uses is relative, so it works under any mount prefix. Axum's
//! `Router::nest("/api/v1", …)` routes the page at `/api/v1` (not
//! `/api/v1/`), where relative URLs would resolve one level up; so the
//! page's asset links are written relative to the last path segment when
//! the address has no trailing slash (`v1/assets/…`), and the script
//! derives its API base the same way from `location.pathname`.
//!
//! Responses carry a strict Content-Security-Policy (scripts and styles
//! from this origin only, no inline script, no framing), `nosniff`,
//! `no-referrer` and an ETag. The assets are also served under
//! content-hashed names (`assets/app.<hash>.js`) that the page links to and
//! that are cached as immutable; the page itself is revalidated
//! (`no-cache`), answering `304` to a matching `If-None-Match`.
//!
//! This module must not hold health rules or data: it serves bytes.

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");

/// The Content-Security-Policy of every dashboard response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The public routes the dashboard needs (method, pattern), as put on
/// [`Auth`](super::Auth)'s public list.
pub(crate) const PUBLIC_ROUTES: [(&str, &str); 2] = [("GET", "/"), ("GET", "/assets/{file}")];

struct Asset {
    /// Name under `assets/` with the content hash (`app.<hash>.js`).
    hashed: String,
    /// Plain name under `assets/` (`app.js`); empty for the page.
    plain: &'static str,
    content_type: &'static str,
    body: String,
    etag: String,
}

impl Asset {
    fn new(plain: &'static str, content_type: &'static str, body: String) -> Self {
        let hex = hex(&Sha256::digest(body.as_bytes()));
        let short = &hex[..16];
        let hashed = match plain.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{short}.{ext}"),
            None => String::new(),
        };
        Self {
            hashed,
            plain,
            content_type,
            etag: format!("\"{short}\""),
            body,
        }
    }
}

struct Assets {
    index: Asset,
    js: Asset,
    css: Asset,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let js = Asset::new(
        "app.js",
        "text/javascript; charset=utf-8",
        APP_JS.to_owned(),
    );
    let css = Asset::new("app.css", "text/css; charset=utf-8", APP_CSS.to_owned());
    let page = INDEX_HTML
        .replace("assets/app.js", &format!("assets/{}", js.hashed))
        .replace("assets/app.css", &format!("assets/{}", css.hashed));
    let index = Asset::new("", "text/html; charset=utf-8", page);
    Assets { index, js, css }
});

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The page's HTML as served at a path ending in `/` (asset links
/// rewritten to hashed names).
pub fn index_html() -> &'static str {
    &ASSETS.index.body
}

/// What to put before `assets/` in the page served at `original_path`:
/// nothing when it ends in `/`, otherwise its last segment and a slash
/// (percent-encoded beyond the unreserved characters).
fn relative_base(original_path: &str) -> String {
    if original_path.is_empty() || original_path.ends_with('/') {
        return String::new();
    }
    let last = original_path.rsplit('/').next().unwrap_or("");
    let mut out = String::with_capacity(last.len() + 1);
    for b in last.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if !out.is_empty() {
        out.push('/');
    }
    out
}

/// Answers a dashboard request (`GET`/`HEAD` of `/` or `/assets/{file}`),
/// or `None` when `req` is not one, so the caller can answer 404.
pub(crate) fn serve(req: &Request) -> Option<Response> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return None;
    }
    let path = req.uri().path();
    let assets = &*ASSETS;
    let mut page: Option<(String, String)> = None;
    let (asset, immutable) = if path == "/" || path.is_empty() {
        let base = req
            .extensions()
            .get::<OriginalUri>()
            .map(|OriginalUri(o)| relative_base(o.path()))
            .unwrap_or_default();
        if !base.is_empty() {
            let body = assets
                .index
                .body
                .replace("\"assets/", &format!("\"{base}assets/"));
            let etag = format!(
                "\"{}-{}\"",
                assets.index.etag.trim_matches('"'),
                hex(&Sha256::digest(base.as_bytes()))[..8].to_owned()
            );
            page = Some((body, etag));
        }
        (&assets.index, false)
    } else {
        let file = path.strip_prefix("/assets/")?;
        [&assets.js, &assets.css].into_iter().find_map(|a| {
            if file == a.hashed {
                Some((a, true))
            } else if file == a.plain {
                Some((a, false))
            } else {
                None
            }
        })?
    };
    let (text, etag) = match &page {
        Some((b, e)) => (b.as_str(), e.as_str()),
        None => (asset.body.as_str(), asset.etag.as_str()),
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let (status, body) = if matches {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else if head {
        (StatusCode::OK, Body::empty())
    } else {
        (StatusCode::OK, Body::from(text.to_owned()))
    };
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    if status == StatusCode::OK {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if head {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
        }
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    security_headers(h);
    Some(res)
}

fn security_headers(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    #[test]
    fn page_links_hashed_assets_that_are_served_immutable() {
        let page = index_html();
        let js = &ASSETS.js.hashed;
        let css = &ASSETS.css.hashed;
        assert!(page.contains(&format!("src=\"assets/{js}\"")), "{page}");
        assert!(page.contains(&format!("href=\"assets/{css}\"")));
        let res = serve(&get(&format!("/assets/{js}"))).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(
            res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        let res = serve(&get("/assets/app.css")).unwrap();
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(serve(&get("/assets/app.deadbeef.js")).is_none());
        assert!(serve(&get("/assets/../Cargo.toml")).is_none());
        assert!(serve(&get("/other")).is_none());
    }

    #[test]
    fn relative_base_follows_the_last_segment() {
        assert_eq!(relative_base("/"), "");
        assert_eq!(relative_base(""), "");
        assert_eq!(relative_base("/api/v1/"), "");
        assert_eq!(relative_base("/api/v1"), "v1/");
        assert_eq!(relative_base("/ops"), "ops/");
        assert_eq!(relative_base("/a/b\"c"), "b%22c/");
        let mut req = get("/");
        req.extensions_mut()
            .insert(OriginalUri("/api/v1".parse().unwrap()));
        let res = serve(&req).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let plain_etag = serve(&get("/")).unwrap().headers()[header::ETAG].clone();
        assert_ne!(res.headers()[header::ETAG], plain_etag);
    }

    #[test]
    fn etag_revalidation_and_methods() {
        let res = serve(&get("/")).unwrap();
        let etag = res.headers()[header::ETAG].clone();
        assert!(
            res.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        let req = Request::builder()
            .uri("/")
            .header(header::IF_NONE_MATCH, etag)
            .body(Body::empty())
            .unwrap();
        assert_eq!(serve(&req).unwrap().status(), StatusCode::NOT_MODIFIED);
        let post = Request::builder()
            .method(Method::POST)
            .uri("/")
            .body(Body::empty())
            .unwrap();
        assert!(serve(&post).is_none());
    }

    #[test]
    fn no_inline_script_in_the_page() {
        let page = index_html();
        // every <script> has a src and no body
        for part in page.split("<script").skip(1) {
            let tag_end = part.find('>').unwrap();
            assert!(part[..tag_end].contains("src="), "inline script: {part}");
            assert!(part[tag_end + 1..].starts_with("</script>"));
        }
        // no inline event handler attribute (` onclick=` and the like)
        for (i, _) in page.match_indices(" on") {
            let rest = &page[i + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_lowercase).count();
            assert!(
                !(name_len > 0 && rest[name_len..].starts_with('=')),
                "inline handler at {i}"
            );
        }
        assert!(!page.contains("style=\""), "inline style attribute");
    }
}
