//! Bad input at open: a file that is not a healthcore database, a newer
//! schema, a read-only file or folder, bad options. Each gives a clear
//! error and leaves the file byte for byte as it was.

mod common;

use std::path::{Path, PathBuf};

use healthcore::model::{Target, TargetId};
use healthcore::store::Store;
use healthcore_sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteError, SqliteOptions, SqliteStore};

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).expect("read file")
}

fn side_files(p: &Path) -> [PathBuf; 2] {
    let s = p.as_os_str().to_string_lossy();
    [format!("{s}-wal").into(), format!("{s}-shm").into()]
}

fn assert_no_side_files(p: &Path) {
    for f in side_files(p) {
        assert!(!f.exists(), "{} was created", f.display());
    }
}

/// Which of the side files exist.
fn side_files_present(p: &Path) -> [bool; 2] {
    side_files(p).map(|f| f.exists())
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_untouched() {
    let path = common::fresh_db("open");
    let garbage = b"this is a text file, not a database\n".repeat(300);
    std::fs::write(&path, &garbage).expect("write");
    let err = SqliteStore::open(&path).await.expect_err("refused");
    assert!(
        matches!(&err, SqliteError::NotHealthcore { reason, .. } if reason.contains("not a SQLite database")),
        "{err}"
    );
    assert!(
        err.to_string().contains("not a healthcore database"),
        "{err}"
    );
    assert_eq!(bytes(&path), garbage);
    assert_no_side_files(&path);
}

#[tokio::test]
async fn another_applications_database_is_refused_untouched() {
    let path = common::fresh_db("open");
    {
        let c = rusqlite::Connection::open(&path).expect("create");
        c.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me');")
            .expect("schema");
    }
    let before = bytes(&path);
    let err = SqliteStore::open(&path).await.expect_err("refused");
    assert!(matches!(err, SqliteError::NotHealthcore { .. }), "{err}");
    assert!(err.to_string().contains("application_id"), "{err}");
    assert_eq!(bytes(&path), before, "nothing was written");
    assert_no_side_files(&path);
}

#[tokio::test]
async fn a_newer_schema_is_refused_untouched() {
    let path = common::fresh_db("open");
    let s = SqliteStore::open(&path).await.expect("create");
    s.put_target(&Target::new(TargetId::new("a").expect("id"), "A"))
        .await
        .expect("put");
    s.close().await;
    {
        let c = rusqlite::Connection::open(&path).expect("open");
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
    }
    let before = bytes(&path);
    let err = SqliteStore::open(&path).await.expect_err("refused");
    match &err {
        SqliteError::SchemaTooNew { found, known, .. } => {
            assert_eq!((*found, *known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other}"),
    }
    assert!(err.to_string().contains("newer than this build"), "{err}");
    assert_eq!(bytes(&path), before);
}

#[tokio::test]
async fn a_fresh_file_is_marked_and_reopens() {
    let path = common::fresh_db("open");
    let s = SqliteStore::open(&path).await.expect("create");
    assert_eq!(s.path(), Some(path.as_path()));
    s.close().await;
    assert_no_side_files(&path);
    let c = rusqlite::Connection::open(&path).expect("open");
    let app: i32 = c
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .expect("app id");
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(app, APPLICATION_ID);
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(mode, "wal");
    drop(c);
    SqliteStore::open(&path)
        .await
        .expect("reopen")
        .close()
        .await;
    // an empty file (e.g. made by `touch`) is a fresh database too
    let empty = common::fresh_db("open");
    std::fs::write(&empty, b"").expect("touch");
    SqliteStore::open(&empty)
        .await
        .expect("empty file")
        .close()
        .await;
}

#[tokio::test]
async fn a_missing_folder_is_a_clear_open_error() {
    let path = common::scratch("open").join("no-such-folder").join("x.db");
    let err = SqliteStore::open(&path).await.expect_err("refused");
    assert!(matches!(err, SqliteError::Open { .. }), "{err}");
    assert!(err.to_string().contains("cannot open or create"), "{err}");
    assert!(!path.exists());
}

#[tokio::test]
async fn bad_options_are_refused_naming_the_field() {
    let path = common::fresh_db("open");
    let err = SqliteStore::open_with(
        &path,
        SqliteOptions {
            readers: 0,
            ..Default::default()
        },
    )
    .await
    .expect_err("refused");
    match err {
        SqliteError::Invalid(v) => assert_eq!(v.field(), "readers"),
        other => panic!("{other}"),
    }
    assert!(!path.exists(), "nothing created for refused options");
}

// ---- read-only ------------------------------------------------------------

const RO_ENV: &str = "HEALTHCORE_SQLITE_RO_CHILD";

/// True when this process ignores file permissions (root).
fn bypasses_permissions(probe: &Path) -> bool {
    std::fs::OpenOptions::new().append(true).open(probe).is_ok()
}

/// Checks the refusals; run directly when permissions apply, or in a child
/// process as `nobody` when this process is root.
async fn check_read_only(file: &Path, folder_path: &Path) {
    let before = bytes(file);
    let sides = side_files_present(file);
    let err = SqliteStore::open(file).await.expect_err("read-only file");
    assert!(matches!(err, SqliteError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(bytes(file), before);
    assert_eq!(
        side_files_present(file),
        sides,
        "no side file made or removed"
    );
    let err = SqliteStore::open(folder_path)
        .await
        .expect_err("read-only folder");
    assert!(
        matches!(err, SqliteError::Open { .. } | SqliteError::ReadOnly { .. }),
        "{err}"
    );
    assert!(!folder_path.exists());
}

/// A folder under the system temp dir (reachable by `nobody`, unlike a
/// target dir under `/root`), removed on drop.
struct OpenDir(PathBuf);

impl Drop for OpenDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_read_only_path_is_refused_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    };
    let dir =
        OpenDir(std::env::temp_dir().join(format!("healthcore-sqlite-ro-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("dir");
    mode(&dir.0, 0o755);
    let file = dir.0.join("ro.db");
    SqliteStore::open(&file)
        .await
        .expect("create")
        .close()
        .await;
    mode(&file, 0o444);
    let locked = dir.0.join("locked");
    std::fs::create_dir_all(&locked).expect("dir");
    mode(&locked, 0o555);
    let folder_path = locked.join("new.db");

    if !bypasses_permissions(&file) {
        check_read_only(&file, &folder_path).await;
        return;
    }
    // Root ignores permissions: run this binary's child test as `nobody`,
    // from a copy `nobody` can reach.
    use std::os::unix::process::CommandExt;
    let exe = dir.0.join("child");
    std::fs::copy(std::env::current_exe().expect("exe"), &exe).expect("copy test binary");
    mode(&exe, 0o755);
    let out = match std::process::Command::new(&exe)
        .args(["--exact", "read_only_child", "--ignored", "--nocapture"])
        .env(
            RO_ENV,
            format!("{}\n{}", file.display(), folder_path.display()),
        )
        .uid(65534)
        .gid(65534)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!(
                "SKIPPED a_read_only_path_is_refused_untouched: running as root and \
                 cannot run a child as nobody from {} ({e})",
                dir.0.display()
            );
            return;
        }
        Err(e) => panic!("run child as nobody: {e}"),
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "child ran no test:\n{text}");
}

/// The half of [`a_read_only_path_is_refused_untouched`] that runs as
/// `nobody`; ignored in normal runs.
#[tokio::test]
#[ignore = "child process of a_read_only_path_is_refused_untouched"]
async fn read_only_child() {
    let spec = std::env::var(RO_ENV).expect("run by a_read_only_path_is_refused_untouched");
    let (file, folder) = spec.split_once('\n').expect("two paths");
    assert!(
        !bypasses_permissions(Path::new(file)),
        "the child must not bypass permissions"
    );
    check_read_only(Path::new(file), Path::new(folder)).await;
}
