//! Bearer tokens and their roles, from a token file the user keeps.
//!
//! The file holds one token per line, `ROLE TOKEN`, where ROLE is `admin`
//! or `viewer`; blank lines and lines starting with `#` are ignored, so a
//! line may be commented out to revoke it:
//!
//! ```text
//! # made by `patchbay token new` on the lab machine
//! admin 3b0c5e1d...
//! viewer 9f2a77c4...
//! ```
//!
//! `patchbay token new` writes tokens of 32 random bytes in hex. Tokens are
//! compared in constant time and never logged.

use std::fmt;
use std::io::Write;
use std::path::Path;

use subtle::ConstantTimeEq;

/// Shortest token accepted from a file: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads: GET routes, notification streams, OSC queries; no set-value,
    /// no methods, no console input.
    Viewer,
    /// Everything.
    Admin,
}

impl Role {
    /// The role a token file names: `admin`, `operator` or `viewer`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        })
    }
}

/// A secret with its role. Its Debug output hides the secret.
#[derive(Clone)]
struct Entry {
    role: Role,
    secret: Vec<u8>,
}

/// The tokens of one file.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} hidden)", self.entries.len())
    }
}

impl Tokens {
    /// Reads a token file; an unreadable file or a bad line is an error naming it.
    pub fn load(path: &Path) -> anyhow::Result<Tokens> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", path.display()))?;
        let tokens = Tokens::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if tokens.entries.is_empty() {
            anyhow::bail!("{} holds no token: make one with `patchbay token new`", path.display());
        }
        Ok(tokens)
    }

    /// Parses a token file's text (the format above).
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = vec![];
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = n + 1;
            let mut words = line.split_whitespace();
            let (Some(role), Some(secret), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("line {n}: expected `admin TOKEN` or `viewer TOKEN`"));
            };
            let role = Role::parse(role)
                .ok_or_else(|| format!("line {n}: unknown role {role:?} (admin or viewer)"))?;
            check_secret(secret).map_err(|e| format!("line {n}: {e}"))?;
            entries.push(Entry { role, secret: secret.as_bytes().to_vec() });
        }
        Ok(Tokens { entries })
    }

    /// The role of `secret`, if it is one of these tokens. Every token is
    /// compared, each in constant time, so the time taken tells nothing
    /// about which one matched or how much of one did.
    pub fn role_of(&self, secret: &str) -> Option<Role> {
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.secret.as_slice().ct_eq(secret.as_bytes())) {
                found = found.max(Some(entry.role));
            }
        }
        found
    }
}

/// A token must fit in an HTTP header and a WebSocket subprotocol name.
fn check_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_TOKEN_LEN {
        return Err(format!("a token needs at least {MIN_TOKEN_LEN} characters"));
    }
    if !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
        return Err("a token may hold only letters, digits and - . _ ~".into());
    }
    Ok(())
}

/// A new token: 32 random bytes from the system, in hex.
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the system: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Adds a new token with `role` to the file at `path` (made if missing, mode
/// 0600) and returns it. The file is replaced whole, so a crash leaves the
/// old one or the new one, never half of it.
pub fn append_new(path: &Path, role: Role) -> anyhow::Result<String> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => {
            Tokens::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let token = generate()?;
    let mut text = old;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{role} {token}\n"));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().ok_or_else(|| anyhow::anyhow!("{} is not a file name", path.display()))?;
    let temporary = dir.join(format!(".{}.new", name.to_string_lossy()));
    let mut file = private_file(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(token)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_gives_each_token_its_role() {
        let tokens = Tokens::parse(
            "# the lab\nadmin aaaaaaaaaaaaaaaaaaaa\n\n  viewer bbbbbbbbbbbbbbbbbbbb  \n# viewer cccccccccccccccccccc\n",
        )
        .unwrap();
        assert_eq!(tokens.role_of("aaaaaaaaaaaaaaaaaaaa"), Some(Role::Admin));
        assert_eq!(tokens.role_of("bbbbbbbbbbbbbbbbbbbb"), Some(Role::Viewer));
        assert_eq!(tokens.role_of("cccccccccccccccccccc"), None, "commented out: revoked");
        assert_eq!(tokens.role_of("aaaaaaaaaaaaaaaaaaa"), None, "a prefix is not the token");
        assert_eq!(tokens.role_of(""), None);
        assert!(!format!("{tokens:?}").contains("aaaa"), "Debug hides the secrets");
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(Tokens::parse("root aaaaaaaaaaaaaaaaaaaa").unwrap_err().contains("line 1: unknown role"));
        assert!(Tokens::parse("\nadmin short").unwrap_err().contains("line 2: a token needs"));
        assert!(Tokens::parse("admin").unwrap_err().contains("expected"));
        assert!(Tokens::parse("admin aaaaaaaaaaaaaaaaaaaa extra").unwrap_err().contains("expected"));
        assert!(Tokens::parse("admin aaaaaaaaaaaa\"aaaaaaaa").unwrap_err().contains("only letters"));
    }

    #[test]
    fn new_tokens_are_appended_to_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let admin = append_new(&path, Role::Admin).unwrap();
        let viewer = append_new(&path, Role::Viewer).unwrap();
        assert_eq!(admin.len(), 64);
        assert_ne!(admin, viewer);
        let tokens = Tokens::load(&path).unwrap();
        assert_eq!(tokens.role_of(&admin), Some(Role::Admin));
        assert_eq!(tokens.role_of(&viewer), Some(Role::Viewer));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "admin bad").unwrap();
        assert!(append_new(&path, Role::Admin).is_err(), "a broken file is not overwritten");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "admin bad");
    }
}
