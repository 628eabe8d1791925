//! Per-user scanning: who a request scans as, where that user's
//! `user_prefs` and Bayes database are, and the file-system rights the scan
//! thread takes on while it touches them.
//!
//! SpamAssassin's spamd, started as root, `setuid`s each child to the
//! request's `User` (a process per connection). We keep one process and a
//! fixed set of scan threads, and give the scan thread that user's
//! file-system identity for the length of the request: Linux keeps the
//! file-system uid/gid (`setfsuid`/`setfsgid`) and the supplementary groups
//! per thread, so the kernel checks every open, create and `include` of
//! that request against the user's rights, and new files are owned by the
//! user. The guard puts the thread back as it was, whatever happens.

use std::path::{Path, PathBuf};

use crate::cli::Cli;

/// The project's own `user_prefs.template`, used by `-c` when the machine
/// has none.
pub const EMBEDDED_TEMPLATE: &str = include_str!("../../rules/user_prefs.template");

/// How requests map to users, from the command line.
#[derive(Debug, Clone)]
pub struct UserSettings {
    /// `--user-config` (default) / `-x`.
    pub user_config: bool,
    /// `--virtual-config-dir` pattern.
    pub virtual_dir: Option<String>,
    /// `-c`: create a missing `user_prefs` from the template.
    pub create_prefs: bool,
    /// `-U`: whom to scan as when the request's user cannot be used.
    pub default_user: String,
    /// `-P`: an unknown user is an error, not a fall-back.
    pub paranoid: bool,
    /// `-u` was given: the daemon runs as one user and never switches.
    pub fixed_user: bool,
    /// Where `-c` looks for the template, in order.
    pub templates: Vec<PathBuf>,
}

impl UserSettings {
    pub fn from_cli(cli: &Cli) -> UserSettings {
        let mut templates = Vec::new();
        if let Some(s) = &cli.siteconfigpath {
            templates.push(Path::new(s).join("user_prefs.template"));
        }
        for d in [
            "/etc/spamassassin",
            "/etc/mail/spamassassin",
            "/usr/local/etc/mail/spamassassin",
        ] {
            templates.push(Path::new(d).join("user_prefs.template"));
        }
        if let Some(c) = &cli.configpath {
            templates.push(Path::new(c).join("user_prefs.template"));
        }
        for d in [
            "/var/lib/spamassassin/4.000001/updates_spamassassin_org",
            "/usr/local/share/spamassassin",
            "/usr/share/spamassassin",
        ] {
            templates.push(Path::new(d).join("user_prefs.template"));
        }
        UserSettings {
            user_config: cli.user_config && !cli.nouser_config,
            virtual_dir: cli.virtual_config_dir.clone(),
            create_prefs: cli.create_prefs,
            default_user: cli.default_user.clone(),
            paranoid: cli.paranoid,
            fixed_user: cli.username.is_some(),
            templates,
        }
    }

    /// Whether requests switch to their user's rights: running as root,
    /// without `-u` or `--virtual-config-dir` (SpamAssassin's rule).
    pub fn switching(&self) -> bool {
        nix::unistd::geteuid().is_root() && !self.fixed_user && self.virtual_dir.is_none()
    }
}

/// Who one request scans as.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The name logged (`for alice:1001`).
    pub name: String,
    /// The uid the user's files are accessed as.
    pub uid: u32,
    /// File-system rights to take on the scan thread (None: the daemon's own).
    pub creds: Option<FsCreds>,
    /// The `user_prefs` file to read, if per-user configuration is on.
    pub prefs: Option<PathBuf>,
    /// The user's state directory (`~/.spamassassin`, or the virtual
    /// directory): Bayes lives here. None: the daemon's `$HOME`.
    pub state_dir: Option<PathBuf>,
    /// The user's home, for `~/` in `bayes_path`.
    pub home: Option<PathBuf>,
    /// Lines to log at info level.
    pub notes: Vec<String>,
}

/// Decide who `user` (the request's `User` header) scans as. Err: the
/// request must fail (paranoid mode, or no user to fall back to).
pub fn resolve(s: &UserSettings, user: Option<&str>) -> Result<Identity, String> {
    let own_uid = nix::unistd::geteuid().as_raw();
    let user = user.filter(|u| !u.is_empty());
    if let Some(pattern) = &s.virtual_dir
        && !s.user_config
    {
        let Some(name) = user else {
            return Ok(own(own_uid));
        };
        let dir = expand_virtual(pattern, name);
        let prefs = dir.join("user_prefs");
        let mut id = Identity {
            name: name.to_string(),
            uid: own_uid,
            prefs: Some(prefs.clone()),
            state_dir: Some(dir.clone()),
            home: Some(dir),
            ..Identity::default()
        };
        id.notes.push(format!(
            "spamd: using default config for {name}: {}",
            prefs.display()
        ));
        return Ok(id);
    }
    if !s.switching() {
        let Some(name) = user else {
            return Ok(own(own_uid));
        };
        let mut id = Identity {
            name: name.to_string(),
            uid: own_uid,
            ..Identity::default()
        };
        if s.user_config {
            match account(name) {
                Some(Account { pw, .. }) => {
                    let st = pw.dir.join(".spamassassin");
                    id.prefs = Some(st.join("user_prefs"));
                    id.state_dir = Some(st);
                    id.home = Some(pw.dir);
                }
                None => {
                    let m = format!("spamd: handle_user (userdir) unable to find user: '{name}'");
                    if s.paranoid {
                        return Err(m);
                    }
                    id.notes.push(m);
                }
            }
        }
        return Ok(id);
    }
    // Running as root: the request scans with its user's rights, never
    // root's. Unknown users and root itself fall back to the default user.
    let mut notes = Vec::new();
    let found = match user {
        Some(name) => match account(name) {
            Some(a) if !a.pw.uid.is_root() => Some(a),
            Some(_) => None,
            None => {
                let m = format!("spamd: handle_user (getpwnam) unable to find user: '{name}'");
                if s.paranoid {
                    return Err(m);
                }
                notes.push(m);
                None
            }
        },
        None => None,
    };
    let (acct, read_prefs, found) = match found {
        Some(a) => (a, s.user_config, true),
        None => {
            if s.paranoid {
                return Err(
                    "spamd: in paranoid mode, still running as root: closing connection".into(),
                );
            }
            notes.push(format!(
                "spamd: still running as root: user not specified with -u, not found, or set to root, falling back to {}",
                s.default_user
            ));
            let a = account(&s.default_user)
                .filter(|a| !a.pw.uid.is_root())
                .ok_or_else(|| format!("spamd: setuid to {} failed", s.default_user))?;
            (a, false, false)
        }
    };
    let creds = FsCreds::of(&acct);
    let pw = acct.pw;
    if found {
        notes.push(format!("spamd: setuid to {} succeeded", pw.name));
    }
    let st = pw.dir.join(".spamassassin");
    Ok(Identity {
        name: pw.name.clone(),
        uid: pw.uid.as_raw(),
        creds: Some(creds),
        prefs: read_prefs.then(|| st.join("user_prefs")),
        state_dir: Some(st),
        home: Some(pw.dir),
        notes,
    })
}

fn own(uid: u32) -> Identity {
    Identity {
        name: nix::unistd::User::from_uid(uid.into())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| "(unknown)".into()),
        uid,
        ..Identity::default()
    }
}

/// How long an account lookup is remembered. Every request names its
/// user, and each `getpwnam`/`getgrouplist` reads `/etc/passwd` and
/// `/etc/group` again (or asks the directory service): a twentieth of the
/// daemon's CPU under load. Like nscd, we keep the answer a short while:
/// an account added, changed or removed takes effect within this time.
const ACCOUNT_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// At most this many names are remembered; a full cache starts again.
const ACCOUNT_CACHE_MAX: usize = 1024;

/// A looked-up account: its passwd entry and its supplementary groups.
#[derive(Clone)]
struct Account {
    pw: nix::unistd::User,
    groups: Vec<u32>,
}

type AccountCache = std::collections::HashMap<String, (std::time::Instant, Option<Account>)>;

fn accounts() -> &'static std::sync::Mutex<AccountCache> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<AccountCache>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The account `name`, from the cache while it is fresh (unknown names
/// too, so a stream of requests for a missing user does not read the
/// files each time).
fn account(name: &str) -> Option<Account> {
    let now = std::time::Instant::now();
    if let Ok(cache) = accounts().lock()
        && let Some((at, found)) = cache.get(name)
        && now.duration_since(*at) < ACCOUNT_TTL
    {
        return found.clone();
    }
    let found = nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|pw| Account {
            groups: group_list(&pw),
            pw,
        });
    if let Ok(mut cache) = accounts().lock() {
        if cache.len() >= ACCOUNT_CACHE_MAX {
            cache.clear();
        }
        cache.insert(name.to_string(), (now, found.clone()));
    }
    found
}

/// `pw`'s supplementary groups (its primary group if the list cannot be
/// read).
fn group_list(pw: &nix::unistd::User) -> Vec<u32> {
    std::ffi::CString::new(pw.name.as_bytes())
        .ok()
        .and_then(|n| nix::unistd::getgrouplist(&n, pw.gid).ok())
        .map(|g| g.iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|| vec![pw.gid.as_raw()])
}

/// `--virtual-config-dir` expansion, as spamd does it: the name made safe
/// (characters outside `-A-Za-z0-9+_.,@=` become `_`), then `%u` (name),
/// `%l` (local part), `%d` (domain), `%%`; or, when the pattern has `%x`,
/// the full address's directory if it has a `user_prefs`, else the
/// domain's.
pub fn expand_virtual(pattern: &str, user: &str) -> PathBuf {
    let safe: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-+_.,@=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (local, domain) = match safe.rsplit_once('@') {
        Some((l, d)) => (l.to_string(), d.to_string()),
        None => (String::new(), String::new()),
    };
    if pattern.contains("%x") {
        let full = PathBuf::from(pattern.replace("%x", &safe));
        if full.join("user_prefs").is_file() {
            return full;
        }
        return PathBuf::from(pattern.replace("%x", &domain));
    }
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('u') => out.push_str(&safe),
            Some('l') => out.push_str(&local),
            Some('d') => out.push_str(&domain),
            Some('%') => out.push('%'),
            _ => {
                out.push('%');
                continue;
            }
        }
        chars.next();
    }
    PathBuf::from(out)
}

/// A user's file-system identity: uid, primary gid, supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsCreds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
}

impl FsCreds {
    fn of(a: &Account) -> FsCreds {
        FsCreds {
            uid: a.pw.uid.as_raw(),
            gid: a.pw.gid.as_raw(),
            groups: a.groups.clone(),
        }
    }

    /// Take on these rights on the calling thread until the guard drops.
    /// Only this thread changes: `setfsuid`/`setfsgid` are per-thread, and
    /// the raw `setgroups` system call changes only the caller (glibc's
    /// wrapper would change every thread of the process).
    pub fn assume(&self) -> Result<CredsGuard, String> {
        let saved = thread_groups()?;
        let guard = CredsGuard { saved };
        // SAFETY: the pointer and length describe our own vector.
        let r = unsafe {
            libc::syscall(
                libc::SYS_setgroups,
                self.groups.len() as libc::c_long,
                self.groups.as_ptr(),
            )
        };
        if r != 0 {
            return Err(format!(
                "setgroups for uid {}: {}",
                self.uid,
                std::io::Error::last_os_error()
            ));
        }
        // setfsgid/setfsuid return the previous value and cannot fail
        // visibly: calling again with the same id reads back what is set.
        // SAFETY: plain system calls on the calling thread.
        let ok = unsafe {
            libc::setfsgid(self.gid);
            let g = libc::setfsgid(self.gid) as u32 == self.gid;
            libc::setfsuid(self.uid);
            g && libc::setfsuid(self.uid) as u32 == self.uid
        };
        if !ok {
            return Err(format!(
                "setfsuid/setfsgid to {}:{} failed",
                self.uid, self.gid
            ));
        }
        Ok(guard)
    }
}

/// Puts the scan thread's file-system identity back when dropped.
pub struct CredsGuard {
    saved: Vec<libc::gid_t>,
}

impl Drop for CredsGuard {
    fn drop(&mut self) {
        // SAFETY: system calls on the calling thread; back to the process's
        // effective ids and the groups saved when the guard was made.
        unsafe {
            libc::setfsuid(libc::geteuid());
            libc::setfsgid(libc::getegid());
            libc::syscall(
                libc::SYS_setgroups,
                self.saved.len() as libc::c_long,
                self.saved.as_ptr(),
            );
        }
    }
}

/// The calling thread's supplementary groups.
fn thread_groups() -> Result<Vec<libc::gid_t>, String> {
    // SAFETY: size query with a null buffer, then a fill of our buffer.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if n < 0 {
        return Err(format!("getgroups: {}", std::io::Error::last_os_error()));
    }
    let mut v: Vec<libc::gid_t> = vec![0; n as usize];
    // SAFETY: the buffer holds n entries.
    let m = unsafe { libc::getgroups(n, v.as_mut_ptr()) };
    if m < 0 {
        return Err(format!("getgroups: {}", std::io::Error::last_os_error()));
    }
    v.truncate(m as usize);
    Ok(v)
}

/// The file-system uid the calling thread uses now (for tests).
#[cfg(test)]
fn current_fsuid() -> u32 {
    // SAFETY: setfsuid(-1) is invalid, so it changes nothing and returns
    // the current value.
    unsafe { libc::setfsuid(u32::MAX) as u32 }
}

/// Create `user_prefs` from the first template found (`-c`), with the
/// rights in force on this thread. Returns lines to log.
pub fn create_prefs(s: &UserSettings, prefs: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    match std::fs::metadata(prefs) {
        Ok(_) => return notes,
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return notes,
        Err(_) => {}
    }
    notes.push(format!(
        "spamd: creating default_prefs: {}",
        prefs.display()
    ));
    if let Some(dir) = prefs.parent()
        && let Err(e) = make_state_dir(dir)
    {
        notes.push(format!(
            "config: cannot create user preferences file {}: {e}",
            prefs.display()
        ));
        return notes;
    }
    let text = s
        .templates
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .unwrap_or_else(|| EMBEDDED_TEMPLATE.as_bytes().to_vec());
    match std::fs::write(prefs, text) {
        Ok(()) => notes.push(format!(
            "config: created user preferences file: {}",
            prefs.display()
        )),
        Err(e) => notes.push(format!(
            "config: cannot create user preferences file {}: {e}",
            prefs.display()
        )),
    }
    notes
}

/// `~/.spamassassin` (or a virtual directory), created private as
/// SpamAssassin creates it.
pub fn make_state_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_dir_patterns() {
        assert_eq!(
            expand_virtual("/v/%d/%l/%u/%%", "Jo e@ex.org"),
            PathBuf::from("/v/ex.org/Jo_e/Jo_e@ex.org/%")
        );
        assert_eq!(expand_virtual("/v/%u", "../x"), PathBuf::from("/v/.._x"));
        assert_eq!(
            expand_virtual("/nonexistent-v/%x", "a@b.c"),
            PathBuf::from("/nonexistent-v/b.c")
        );
    }

    #[test]
    fn credentials_change_only_this_thread_and_come_back() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let creds = FsCreds {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        let before = thread_groups().unwrap();
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                let g = creds.assume().unwrap();
                assert_eq!(current_fsuid(), 65534);
                assert_eq!(thread_groups().unwrap(), vec![65534]);
                std::thread::sleep(std::time::Duration::from_millis(50));
                drop(g);
                assert_eq!(current_fsuid(), 0);
            });
            std::thread::sleep(std::time::Duration::from_millis(10));
            // The other thread's switch is not seen here.
            assert_eq!(current_fsuid(), 0);
            assert_eq!(thread_groups().unwrap(), before);
            h.join().unwrap();
        });
    }
}
