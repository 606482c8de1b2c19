//! The built-in demo configuration ([`DEMO_TOML`]) and its rendering for a
//! listen address and database file, plus the demo's random admin token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::healthd::config::ConfigFile;
use crate::healthd::error::ConfigErrors;

/// The demo configuration template (`src/healthd/demo.toml`).
pub const DEMO_TOML: &str = include_str!("demo.toml");

/// Where the demo keeps its database by default.
pub const DEMO_DB: &str = "./healthd.db";

/// Fills the template in for a bound `listen` address and the database
/// file `db` (its directory is the disk the demo watches).
pub fn render(listen: SocketAddr, db: &Path) -> String {
    let db = absolute(db);
    let dir = db
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "::1".to_owned(),
        ip => ip.to_string(),
    };
    // the probes call the daemon where it can be reached
    let reach = match listen.ip() {
        ip if ip.is_unspecified() => format!(
            "{}:{}",
            if ip.is_ipv4() { "127.0.0.1" } else { "[::1]" },
            listen.port()
        ),
        _ => listen.to_string(),
    };
    DEMO_TOML
        .replace("listen = \"@@LISTEN@@\"", &format!("listen = \"{listen}\""))
        .replace("@@LISTEN@@", &reach)
        .replace("@@HOST@@", &host)
        .replace("@@PORT@@", &listen.port().to_string())
        .replace("@@DB@@", &toml_escape(&db.display().to_string()))
        .replace("@@DISK@@", &toml_escape(&dir.display().to_string()))
}

/// The rendered demo, parsed.
pub fn config(listen: SocketAddr, db: &Path) -> Result<ConfigFile, ConfigErrors> {
    ConfigFile::parse("<demo>", render(listen, db))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => {
            let joined = cwd.join(p);
            // tidy `./x` into `x`
            joined
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect()
        }
        Err(_) => p.to_path_buf(),
    }
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A random admin token: 32 bytes from the OS, hex (64 characters).
pub fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_validates() {
        let listen: SocketAddr = "127.0.0.1:18080".parse().unwrap();
        let text = render(listen, Path::new("/tmp/hc/healthd.db"));
        assert!(!text.contains("@@"), "{text}");
        assert!(text.contains("url = \"http://127.0.0.1:18080/health\""));
        assert!(text.contains("path = \"/tmp/hc\""));
        let file = config(listen, Path::new("/tmp/hc/healthd.db")).unwrap();
        assert_eq!(file.config.targets.len(), 5);
        file.validate().unwrap();
    }

    #[test]
    fn unspecified_listen_is_probed_on_loopback() {
        let text = render("0.0.0.0:9000".parse().unwrap(), Path::new("/tmp/x.db"));
        assert!(text.contains("listen = \"0.0.0.0:9000\""));
        assert!(text.contains("http://127.0.0.1:9000/health"));
        assert!(text.contains("host = \"127.0.0.1\""));
    }

    #[test]
    fn tokens_are_random_hex() {
        let a = random_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_token().unwrap());
    }
}
