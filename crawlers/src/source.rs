//! Where file-based providers (Terraform state, Ansible facts) read their input, as the
//! connection's options say:
//!
//! - `{"source": "path", "path": "/x/y"}`: a local file, or a directory of files, under
//!   the folders the operator allows (see [`Reach`]: none by default);
//! - `{"source": "ssh", "host": "h", "port": 22, "user": "u", "path": "/x/y"}`: the same
//!   over SSH, with the private key of the connection's `ssh_private_key` credential;
//! - `{"source": "s3", "bucket": "b", "key": "path/to/terraform.tfstate"}`: an S3 object,
//!   or with a key ending in `/` (or `"prefix": "path/to"` instead of `key`) every object
//!   directly under it, like the files of a directory. The connection's credentials are
//!   the AWS provider's (`access_key_id`, `secret_access_key`, optional `session_token`),
//!   and so are the `endpoint` (MinIO, moto), `timeout_seconds` and `page_size` options.
//!   The region is the `s3_region` option, else the crawl's region (one of the
//!   connection's `regions`), else `us-east-1`: file-based connections usually list no
//!   region, and a bucket elsewhere answers with a redirect that the error turns into
//!   "set `s3_region`".
//!
//! `source` defaults to `path`. Files can also be given directly, e.g. uploaded through
//! GraphQL: [`Shape::check`] says whether they fit what the provider reads.
//!
//! SSH uses the system's OpenSSH client (`scp`), so it behaves like the tool operators
//! already know: the key goes to a 0600 file in a private temporary folder that is removed
//! when the read ends, whatever happened; host keys are accepted on first use into a
//! known-hosts file of that same folder. The key never appears in an error or a log. The
//! host must not be internal (see [`Reach`]), and every file read is capped in size.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::{CrawlError, CrawlRequest, Crawled, Observation, Provider, Reach};
use s3::S3Target;

mod s3;

/// The credential holding the SSH private key (OpenSSH or PEM format).
pub const SSH_KEY: &str = "ssh_private_key";

/// How long one SSH copy may take, connection included, before the crawl fails.
const SSH_TIMEOUT: Duration = Duration::from_secs(300);

/// The most of `scp`'s own words an error quotes.
const MAX_DETAIL: usize = 400;

/// What the provider expects at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One file (a Terraform state).
    File,
    /// One file, or a directory whose files are all read (Ansible's `--tree DIR`).
    FileOrDirectory,
}

impl Shape {
    /// Whether files given directly (an upload) are what the provider reads: at least
    /// one, only one for [`Shape::File`], and no two with the same name (Ansible names a
    /// host after its file). The error says what to send instead.
    pub fn check(self, files: &[SourceFile]) -> Result<(), String> {
        if files.is_empty() {
            return Err("no file was given; send at least one".into());
        }
        if self == Shape::File && files.len() > 1 {
            return Err(format!(
                "{} files were given, and this connection reads one file; send only one",
                files.len()
            ));
        }
        let mut names: Vec<&str> = files.iter().map(|file| file.name.as_str()).collect();
        names.sort_unstable();
        match names.windows(2).find(|pair| pair[0] == pair[1]) {
            Some(pair) => Err(format!(
                "two files are named `{}`; each file must have its own name",
                pair[0]
            )),
            None => Ok(()),
        }
    }
}

/// One file read from a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where it was read, for messages: a local path, `user@host:path`, `s3://b/key`.
    pub origin: String,
    /// Its file name without folders (Ansible's tree names each file after its host).
    pub name: String,
    pub text: String,
}

/// How a Git LFS pointer file starts: what a clone holds in place of a large file that
/// `git lfs pull` did not fetch.
const LFS_POINTER: &str = "version https://git-lfs.github.com/spec/";

impl SourceFile {
    /// A file of `bytes` as text: UTF-8 (with or without a byte-order mark) or UTF-16
    /// with its byte-order mark (as Windows editors and PowerShell's `>` write it). The
    /// error names it by `origin`, and says so when it is a Git LFS pointer rather than
    /// the file.
    pub fn from_bytes(origin: String, name: String, bytes: Vec<u8>) -> Result<SourceFile, CrawlError> {
        let text = decode(&bytes).ok_or_else(|| {
            CrawlError::File(format!(
                "{origin} is not text (UTF-8 or UTF-16 with a byte-order mark)"
            ))
        })?;
        if text.starts_with(LFS_POINTER) {
            return Err(CrawlError::File(format!(
                "{origin} is a Git LFS pointer, not the file it stands for: fetch the file with `git lfs pull` and read or upload that"
            )));
        }
        Ok(SourceFile { origin, name, text })
    }
}

/// `bytes` as text, without a byte-order mark; `None` when they are not text.
fn decode(bytes: &[u8]) -> Option<String> {
    let utf16 = |rest: &[u8], unit: fn([u8; 2]) -> u16| -> Option<String> {
        let chunks = rest.chunks_exact(2);
        if !chunks.remainder().is_empty() {
            return None;
        }
        char::decode_utf16(chunks.map(|pair| unit([pair[0], pair[1]])))
            .collect::<Result<String, _>>()
            .ok()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => String::from_utf8(bytes.to_vec()).ok(),
    }
}

/// A source of files, from a connection's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Ssh(SshTarget),
    S3(S3Target),
}

/// A file or directory on a host reached over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub path: String,
}

impl fmt::Display for SshTarget {
    /// `user@host:path`, as `scp` writes it (IPv6 addresses in brackets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.path)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.path)
        }
    }
}

fn settings(name: &str, problem: impl Into<String>) -> CrawlError {
    CrawlError::Settings(name.to_string(), problem.into())
}

/// A string option that must be there and not be empty.
fn required<'a>(options: &'a Map<String, Value>, name: &str, hint: &str) -> Result<&'a str, CrawlError> {
    match options.get(name).and_then(Value::as_str).map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(settings(name, hint)),
    }
}

/// A host name or user that could be read as an option of `scp`, or that splits the
/// `user@host:path` argument, is refused before anything runs.
fn plain_word(name: &str, value: &str) -> Result<String, CrawlError> {
    let bad = value.starts_with('-')
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@');
    if bad {
        return Err(settings(name, format!("`{value}` is not a valid {name}")));
    }
    Ok(value.to_string())
}

/// The SSH port: a number or a numeric string, 22 when not given.
fn port(options: &Map<String, Value>) -> Result<u16, CrawlError> {
    let port = match options.get("port") {
        None | Some(Value::Null) => return Ok(22),
        Some(Value::Number(number)) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        Some(Value::String(text)) => text.trim().parse().ok(),
        Some(_) => None,
    };
    port.filter(|port| *port > 0)
        .ok_or_else(|| settings("port", "give the SSH port as a number from 1 to 65535"))
}

impl Source {
    /// The source the connection's options describe.
    pub fn from_options(options: &Map<String, Value>) -> Result<Source, CrawlError> {
        let kind = options.get("source").and_then(Value::as_str).unwrap_or("path");
        match kind.trim().to_ascii_lowercase().as_str() {
            "path" | "file" => {
                let path = required(options, "path", "give the path of the file to read")?;
                Ok(Source::Path(PathBuf::from(path)))
            }
            "ssh" => Ok(Source::Ssh(SshTarget {
                host: plain_word(
                    "host",
                    required(options, "host", "give the SSH host to read from")?,
                )?,
                port: port(options)?,
                user: plain_word(
                    "user",
                    required(options, "user", "give the SSH user to log in as")?,
                )?,
                path: required(options, "path", "give the path of the file on the SSH host")?.to_string(),
            })),
            "s3" => Ok(Source::S3(S3Target::from_options(options)?)),
            other => Err(settings(
                "source",
                format!("`{other}` is not a source; use `path`, `ssh` or `s3`"),
            )),
        }
    }

    /// Reads the file at the source, or every file of the directory when `shape` allows
    /// one (not its sub-directories nor hidden files), sorted by name, with the request's
    /// credentials and options.
    pub async fn read(
        &self,
        shape: Shape,
        request: &CrawlRequest<'_>,
    ) -> Result<Vec<SourceFile>, CrawlError> {
        match self {
            Source::Path(path) => read_local(path, &path.display().to_string(), shape, request.reach).await,
            Source::Ssh(target) => read_over_ssh(target, shape, request).await,
            Source::S3(target) => target.read(shape, request).await,
        }
    }
}

/// The answer of a provider that calls an API when asked to crawl files.
pub(crate) fn not_files(provider: &str) -> CrawlError {
    settings("source", format!("{provider} crawls an API, not files"))
}

/// A file provider's `crawl`: what [`crawl_source_files`] sees.
pub(crate) fn crawl_from_source<'a>(
    provider: &'a dyn Provider,
    request: CrawlRequest<'a>,
) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>> {
    async move { Ok(crawl_source_files(provider, request).await?.observations) }.boxed()
}

/// Reads the connection's source in the provider's shape, then crawls those files as an
/// upload would be crawled.
pub(crate) async fn crawl_source_files(
    provider: &dyn Provider,
    request: CrawlRequest<'_>,
) -> Result<Crawled, CrawlError> {
    let shape = provider.file_shape().ok_or_else(|| not_files(provider.name()))?;
    let files = Source::from_options(request.options)?
        .read(shape, &request)
        .await?;
    provider.crawl_files(request, &files).await
}

/// Reads a local file, or the files of a local directory, when the reach allows the
/// path; `shown` is how messages name it (the path as given, never where links lead).
async fn read_local(
    path: &Path,
    shown: &str,
    shape: Shape,
    reach: &Reach,
) -> Result<Vec<SourceFile>, CrawlError> {
    let real = reach.local(path, shown).await?;
    let metadata = tokio::fs::metadata(&real)
        .await
        .map_err(|_| reach.refused_path(shown))?;
    if !metadata.is_dir() {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| shown.to_string());
        return Ok(vec![read_file(&real, shown, name, reach).await?]);
    }
    if shape == Shape::File {
        return Err(settings(
            "path",
            format!("{shown} is a directory; give the file itself"),
        ));
    }
    let mut files = vec![];
    for (name, file) in directory_files(&real, shown, reach).await? {
        files.push(
            read_file(
                &file,
                &format!("{}/{name}", shown.trim_end_matches('/')),
                name,
                reach,
            )
            .await?,
        );
    }
    if files.is_empty() {
        return Err(settings("path", format!("the directory {shown} holds no files")));
    }
    Ok(files)
}

/// The regular, not hidden files of a directory the reach allows, by name, with the
/// links among them followed; those leading out of the allowed folders are left out.
async fn directory_files(
    path: &Path,
    shown: &str,
    reach: &Reach,
) -> Result<Vec<(String, PathBuf)>, CrawlError> {
    let unreadable = |_| reach.refused_path(shown);
    let mut entries = tokio::fs::read_dir(path).await.map_err(unreadable)?;
    let mut files = vec![];
    while let Some(entry) = entries.next_entry().await.map_err(unreadable)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Ok(real) = reach.local(&entry.path(), &name).await else {
            continue;
        };
        if tokio::fs::metadata(&real).await.is_ok_and(|m| m.is_file()) {
            files.push((name, real));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads a file the reach allowed: opened without following a link nor waiting for a
/// writer (a named pipe), then read only when it is a regular file, and at most the
/// reach's bytes — a device such as `/dev/zero` would otherwise be read forever.
async fn read_file(path: &Path, shown: &str, name: String, reach: &Reach) -> Result<SourceFile, CrawlError> {
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .await
        .map_err(|_| reach.refused_path(shown))?;
    let regular = file.metadata().await.is_ok_and(|m| m.is_file());
    if !regular {
        return Err(reach.refused_path(shown));
    }
    let bytes = read_capped(file, reach.max_bytes())
        .await
        .map_err(|_| reach.refused_path(shown))?
        .ok_or_else(|| too_large(shown, reach))?;
    SourceFile::from_bytes(shown.to_string(), name, bytes)
}

/// Everything `reader` gives, or `None` when that is more than `max` bytes.
async fn read_capped(
    reader: impl tokio::io::AsyncRead + Unpin,
    max: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = vec![];
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes).await?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The error for a source larger than a read may take.
pub(crate) fn too_large(shown: &str, reach: &Reach) -> CrawlError {
    CrawlError::File(format!(
        "{shown} is larger than {} bytes, the most Maestro reads from a source (MAESTRO_SOURCE_MAX_BYTES)",
        reach.max_bytes()
    ))
}

/// Copies the file or directory to a private temporary folder with `scp`, then reads it
/// there like a local one. The folder, key included, is removed when this returns. The
/// host is resolved and checked against the reach first, and `scp` connects to the
/// address checked, so that a name cannot lead it to an internal host.
async fn read_over_ssh(
    target: &SshTarget,
    shape: Shape,
    request: &CrawlRequest<'_>,
) -> Result<Vec<SourceFile>, CrawlError> {
    let key = request.credentials.require(SSH_KEY)?;
    let address = request.reach.addresses(&target.host, target.port).await?[0].ip();
    let scratch = tempfile::Builder::new()
        .prefix("maestro-ssh-")
        .tempdir()
        .map_err(|error| CrawlError::Unreachable(format!("cannot create a temporary folder: {error}")))?;
    let key_file = scratch.path().join("key");
    write_private(&key_file, key).await?;
    let copy = scratch.path().join("copy");
    let mut command = scp_command(
        target,
        address,
        shape,
        &key_file,
        &scratch.path().join("known_hosts"),
    );
    command.arg(&copy);
    let output = tokio::time::timeout(SSH_TIMEOUT, command.output())
        .await
        .map_err(|_| CrawlError::Unreachable(format!("copying {target} took longer than {SSH_TIMEOUT:?}")))?
        .map_err(|error| {
            CrawlError::Unreachable(format!("cannot run scp (install openssh-client): {error}"))
        })?;
    if !output.status.success() {
        return Err(scp_error(target, &String::from_utf8_lossy(&output.stderr)));
    }
    let copied_a_directory = tokio::fs::metadata(&copy).await.is_ok_and(|m| m.is_dir());
    let confined = request.reach.confined_to(scratch.path());
    let mut files = read_local(&copy, &target.to_string(), shape, &confined).await?;
    if let (false, [file]) = (copied_a_directory, files.as_mut_slice()) {
        // A single file keeps its remote name, not the name of the local copy.
        if let Some(name) = Path::new(&target.path).file_name() {
            file.name = name.to_string_lossy().into_owned();
        }
    }
    Ok(files)
}

/// Writes the key to a new file only its owner can read. OpenSSH refuses a key that does
/// not end with a newline, so one is added when missing.
async fn write_private(path: &Path, key: &str) -> Result<(), CrawlError> {
    let fail = |error: std::io::Error| {
        CrawlError::Unreachable(format!("cannot write the SSH key to a temporary file: {error}"))
    };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(fail)?;
    file.write_all(key.trim_end().as_bytes()).await.map_err(fail)?;
    file.write_all(b"\n").await.map_err(fail)?;
    file.flush().await.map_err(fail)
}

/// `scp` from the target at `address`, with nothing read from the user's own SSH
/// configuration, agent or known hosts, and never a prompt. The destination is the last
/// argument, left to add.
fn scp_command(target: &SshTarget, address: IpAddr, shape: Shape, key: &Path, known_hosts: &Path) -> Command {
    let mut command = Command::new("scp");
    // No `-q`: it would also silence the reason ssh gives for a refused login.
    command.args(["-F", "/dev/null"]);
    if shape == Shape::FileOrDirectory {
        command.arg("-r");
    }
    command.arg("-P").arg(target.port.to_string()).arg("-i").arg(key);
    let known_hosts = format!("UserKnownHostsFile={}", known_hosts.display());
    for option in [
        "BatchMode=yes",
        "StrictHostKeyChecking=accept-new",
        known_hosts.as_str(),
        "GlobalKnownHostsFile=/dev/null",
        "IdentitiesOnly=yes",
        "IdentityAgent=none",
        "PasswordAuthentication=no",
        "ConnectTimeout=15",
        "ServerAliveInterval=15",
        "ServerAliveCountMax=4",
        "LogLevel=ERROR",
    ] {
        command.arg("-o").arg(option);
    }
    command
        .arg("--")
        .arg(
            SshTarget {
                host: address.to_string(),
                ..target.clone()
            }
            .to_string(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What a failed `scp` means for the connection, from what it printed.
fn scp_error(target: &SshTarget, stderr: &str) -> CrawlError {
    let detail = detail(stderr);
    let login = format!("{}@{} port {}", target.user, target.host, target.port);
    if stderr.contains("Permission denied (") || stderr.contains("Too many authentication failures") {
        CrawlError::Unauthorized(format!(
            "SSH login as {login} was refused with the connection's key: {detail}"
        ))
    } else if stderr.contains("Load key") || stderr.contains("invalid format") || stderr.contains("libcrypto")
    {
        CrawlError::Credentials(format!(
            "`{SSH_KEY}` is not a private key OpenSSH can use: {detail}"
        ))
    } else if stderr.contains("No such file or directory") {
        settings("path", format!("{target} does not exist"))
    } else if stderr.contains("not a regular file") {
        settings("path", format!("{target} is a directory; give the file itself"))
    } else if stderr.contains("scp:") && stderr.contains("Permission denied") {
        settings(
            "path",
            format!("{target} is not readable by {}: {detail}", target.user),
        )
    } else {
        CrawlError::Unreachable(format!("SSH to {login} failed: {detail}"))
    }
}

/// `scp`'s message on one line, shortened.
fn detail(stderr: &str) -> String {
    let joined = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None if joined.is_empty() => "scp printed nothing".to_string(),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Credentials;

    fn options(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn options_describe_a_path_or_an_ssh_target() {
        assert_eq!(
            Source::from_options(&options(json!({"path": "/x/state"}))).unwrap(),
            Source::Path("/x/state".into()),
            "path is the default source"
        );
        let ssh =
            json!({"source": "ssh", "host": "10.0.0.5", "port": "2222", "user": "ops", "path": "/srv/tf"});
        assert_eq!(
            Source::from_options(&options(ssh)).unwrap(),
            Source::Ssh(SshTarget {
                host: "10.0.0.5".into(),
                port: 2222,
                user: "ops".into(),
                path: "/srv/tf".into()
            })
        );
        let default_port = json!({"source": "ssh", "host": "h", "user": "u", "path": "/p"});
        let Source::Ssh(target) = Source::from_options(&options(default_port)).unwrap() else {
            panic!("an SSH source")
        };
        assert_eq!((target.port, target.to_string()), (22, "u@h:/p".to_string()));
    }

    #[test]
    fn wrong_options_name_the_setting() {
        let error = |value: Value| Source::from_options(&options(value)).unwrap_err();
        assert!(matches!(error(json!({})), CrawlError::Settings(name, _) if name == "path"));
        assert!(
            matches!(error(json!({"source": "ssh", "user": "u", "path": "/p"})), CrawlError::Settings(name, _) if name == "host")
        );
        assert!(
            matches!(error(json!({"source": "ssh", "host": "-oProxyCommand=x", "user": "u", "path": "/p"})), CrawlError::Settings(name, _) if name == "host")
        );
        assert!(
            matches!(error(json!({"source": "ssh", "host": "h", "user": "u", "port": 70000, "path": "/p"})), CrawlError::Settings(name, _) if name == "port")
        );
        assert!(
            matches!(error(json!({"source": "s3", "path": "/p"})), CrawlError::Settings(name, _) if name == "bucket")
        );
        assert!(error(json!({"source": "ftp"}))
            .to_string()
            .contains("`ftp` is not a source"));
    }

    #[test]
    fn scp_failures_become_clear_errors() {
        let target = SshTarget {
            host: "h".into(),
            port: 22,
            user: "u".into(),
            path: "/p".into(),
        };
        let refused = scp_error(
            &target,
            "u@h: Permission denied (publickey).\r\nscp: Connection closed\r\n",
        );
        assert!(matches!(refused, CrawlError::Unauthorized(_)), "{refused}");
        assert!(refused.to_string().contains("u@h port 22"), "{refused}");
        let missing = scp_error(&target, "scp: /p: No such file or directory\n");
        assert_eq!(
            missing,
            CrawlError::Settings("path".into(), "u@h:/p does not exist".into())
        );
        let down = scp_error(
            &target,
            "ssh: connect to host h port 22: Connection refused\r\nscp: Connection closed\n",
        );
        assert!(matches!(down, CrawlError::Unreachable(_)), "{down}");
        assert!(detail(&"x".repeat(1000)).ends_with('…'));
    }

    #[test]
    fn given_files_must_fit_the_shape() {
        let file = |name: &str| SourceFile {
            origin: format!("{name} (uploaded)"),
            name: name.into(),
            text: "{}".into(),
        };
        assert_eq!(Shape::File.check(&[file("a.tfstate")]), Ok(()));
        assert!(Shape::File.check(&[]).unwrap_err().contains("no file"));
        let two = [file("web-1"), file("web-2")];
        assert!(Shape::File.check(&two).unwrap_err().contains("2 files"));
        assert_eq!(Shape::FileOrDirectory.check(&two), Ok(()));
        let twins = [file("web-1"), file("web-2"), file("web-1")];
        assert!(Shape::FileOrDirectory
            .check(&twins)
            .unwrap_err()
            .contains("two files are named `web-1`"));
        let error = SourceFile::from_bytes("x (uploaded)".into(), "x".into(), vec![0xff]).unwrap_err();
        assert_eq!(
            error,
            CrawlError::File("x (uploaded) is not text (UTF-8 or UTF-16 with a byte-order mark)".into())
        );
    }

    #[test]
    fn files_are_read_as_editors_write_them_and_lfs_pointers_are_named() {
        let read =
            |bytes: Vec<u8>| SourceFile::from_bytes("s".into(), "s".into(), bytes).map(|file| file.text);
        let text = r#"{"version": 4}"#;
        assert_eq!(read(text.as_bytes().to_vec()).unwrap(), text);
        let with_bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
        assert_eq!(
            read(with_bom).unwrap(),
            text,
            "a UTF-8 byte-order mark is dropped"
        );
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(read(utf16le).unwrap(), text);
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(read(utf16be).unwrap(), text);
        assert!(read(vec![0xFF, 0xFE, 0x41]).is_err(), "half a UTF-16 unit");
        let pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 12345\n";
        let error = read(pointer.as_bytes().to_vec()).unwrap_err().to_string();
        assert!(
            error.contains("Git LFS pointer") && error.contains("git lfs pull"),
            "{error}"
        );
    }

    /// A request carrying only these credentials, reaching what `reach` allows.
    fn request<'a>(credentials: &'a Credentials, reach: &'a Reach) -> CrawlRequest<'a> {
        static NO_OPTIONS: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        CrawlRequest {
            connection: uuid::Uuid::nil(),
            options: NO_OPTIONS.get_or_init(Map::new),
            credentials,
            task: "server-list",
            region: "default",
            reach,
        }
    }

    #[tokio::test]
    async fn local_files_and_directories_are_read_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web-2"), "two").unwrap();
        std::fs::write(dir.path().join("web-1"), "one").unwrap();
        std::fs::write(dir.path().join(".hidden"), "no").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let source = Source::Path(dir.path().to_path_buf());
        let none = Credentials::default();
        let reach = Reach::new(vec![dir.path().into()], vec![], 1024);
        let files = source
            .read(Shape::FileOrDirectory, &request(&none, &reach))
            .await
            .unwrap();
        let names: Vec<(&str, &str)> = files.iter().map(|f| (f.name.as_str(), f.text.as_str())).collect();
        assert_eq!(names, [("web-1", "one"), ("web-2", "two")]);
        assert!(files[0].origin.ends_with("/web-1"));
        let error = source
            .read(Shape::File, &request(&none, &reach))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
        let empty = dir.path().join("sub");
        let error = Source::Path(empty)
            .read(Shape::FileOrDirectory, &request(&none, &reach))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("holds no files"), "{error}");
    }

    #[tokio::test]
    async fn an_ssh_source_needs_the_key_credential() {
        let target = Source::Ssh(SshTarget {
            host: "h".into(),
            port: 22,
            user: "u".into(),
            path: "/p".into(),
        });
        let error = target
            .read(Shape::File, &request(&Credentials::default(), &Reach::default()))
            .await
            .unwrap_err();
        assert!(matches!(error, CrawlError::Credentials(_)), "{error}");
    }
}
