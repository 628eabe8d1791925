//! spamd's command line: SpamAssassin 4.0.1's option table, read the way
//! its Getopt::Long reads it (`getopt.rs`): bundles, abbreviations,
//! `--no-` negations, optional values, repeated options (last wins, lists
//! accumulate). Options that only mean something to Perl's process model,
//! and the ones distributions patch in, are accepted; where they change
//! nothing here, start-up says so in an info line.

use crate::getopt::{self, OptSpec, Value};

/// The parsed command line. Defaults are SpamAssassin's.
#[derive(Debug, Clone)]
pub struct Cli {
    pub allow_tell: bool,
    /// Client networks allowed to connect (each entry may be a comma list).
    pub allowed_ips: Vec<String>,
    pub configpath: Option<String>,
    pub siteconfigpath: Option<String>,
    pub cf: Vec<String>,
    pub pre: Vec<String>,
    pub create_prefs: bool,
    pub daemonize: bool,
    /// Debug areas (`all` for a bare `-D`).
    pub debug: Option<String>,
    pub default_user: String,
    pub groupname: Option<String>,
    /// HOME for helper applications (empty: the caller's).
    pub helper_home_dir: Option<String>,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Listen specs; an empty string is a bare `-i` (the default address).
    pub listen: Vec<String>,
    pub local: bool,
    pub max_children: i64,
    pub nouser_config: bool,
    pub user_config: bool,
    pub paranoid: bool,
    pub pidfile: Option<String>,
    pub port: String,
    pub ssl: bool,
    pub ssl_port: Option<String>,
    pub server_cert: Option<String>,
    pub server_key: Option<String>,
    /// `--ssl-verify`, also implied by a CA file or path: clients must
    /// present a certificate signed by one of those CAs.
    pub ssl_verify: bool,
    pub ssl_ca_file: Option<String>,
    pub ssl_ca_path: Option<String>,
    /// Our extension: serve Prometheus metrics on this address.
    pub metrics_listen: Option<String>,
    pub socketgroup: Option<String>,
    pub socketmode: Option<String>,
    pub socketowner: Option<String>,
    pub socketpath: Option<String>,
    /// `--syslog`: a facility, `stderr`, `null`, `file` or a path.
    pub syslog: String,
    pub timeout_tcp: i64,
    pub timeout_child: i64,
    pub username: Option<String>,
    pub virtual_config_dir: Option<String>,
    pub version: bool,
    pub help: bool,
    /// Ours: largest message accepted, in bytes.
    pub max_size: i64,
    /// Ours: check the configuration and exit.
    pub lint: bool,
    /// Options accepted but without effect here, said once at start-up.
    pub notices: Vec<String>,
}

impl Default for Cli {
    fn default() -> Self {
        Cli {
            allow_tell: false,
            allowed_ips: Vec::new(),
            configpath: None,
            siteconfigpath: None,
            cf: Vec::new(),
            pre: Vec::new(),
            create_prefs: false,
            daemonize: false,
            debug: None,
            default_user: "nobody".into(),
            groupname: None,
            helper_home_dir: None,
            ipv4: false,
            ipv6: false,
            listen: Vec::new(),
            local: false,
            max_children: 5,
            nouser_config: false,
            user_config: true,
            paranoid: false,
            pidfile: None,
            port: "783".into(),
            ssl: false,
            ssl_port: None,
            server_cert: None,
            server_key: None,
            ssl_verify: false,
            ssl_ca_file: None,
            ssl_ca_path: None,
            metrics_listen: None,
            socketgroup: None,
            socketmode: None,
            socketowner: None,
            socketpath: None,
            syslog: "mail".into(),
            timeout_tcp: 30,
            timeout_child: 300,
            username: None,
            virtual_config_dir: None,
            version: false,
            help: false,
            max_size: 256 * 1024 * 1024,
            lint: false,
            notices: Vec::new(),
        }
    }
}

/// SpamAssassin 4.0.1's spamd options (its GetOptions table), then
/// Fedora's patched-in ones, then ours; with the help line for each.
const OPTIONS: &[(&str, &str)] = &[
    ("allow-tell", "Allow learning/reporting (TELL)"),
    (
        "allowed-ips|A=s@",
        "Client networks allowed to connect (CIDR list)",
    ),
    ("configpath|C=s", "Rules directory"),
    ("c", "Create user preferences files"),
    ("create-prefs!", "Create user preferences files"),
    ("daemonize!", "Run in the background"),
    (
        "debug|D:s",
        "Debug logging (optionally a comma list of areas)",
    ),
    ("default-user|U=s", "User for unknown users' scans (nobody)"),
    ("d", "Run in the background"),
    ("groupname|g=s", "Run as this group"),
    ("helper-home-dir|H:s", "HOME for helper applications"),
    ("help|h", "Print this help and exit"),
    ("4|ipv4only|ipv4-only|ipv4", "Use IPv4 only"),
    ("6", "Use IPv6 only"),
    ("ldap-config!", "LDAP user preferences (not supported)"),
    (
        "listen|listen-ip|ip-address|i:s@",
        "Listen on addr[:port], [v6]:port, * or a Unix socket path",
    ),
    ("local!", "Local tests only (no network tests)"),
    ("L", "Local tests only (no network tests)"),
    ("l", "Allow learning/reporting (TELL)"),
    ("round-robin!", "Process-model option (accepted, no effect)"),
    (
        "min-children=i",
        "Process-model option (accepted, no effect)",
    ),
    (
        "max-children|m=i",
        "Messages scanned at once; more connections wait (5)",
    ),
    ("min-spare=i", "Process-model option (accepted, no effect)"),
    ("max-spare=i", "Process-model option (accepted, no effect)"),
    (
        "max-conn-per-child=i",
        "Process-model option (accepted, no effect)",
    ),
    ("nouser-config|x", "Do not read per-user configuration"),
    ("paranoid!", "Die on user errors"),
    ("P", "Die on user errors"),
    ("pidfile|r=s", "Write the daemon's PID to this file"),
    ("port|p=s", "TCP port (783)"),
    ("Q", "setuid with SQL (not supported)"),
    ("q", "SQL user preferences (not supported)"),
    ("server-cert=s", "TLS server certificate"),
    ("server-key=s", "TLS server key"),
    ("setuid-with-ldap", "setuid with LDAP (not supported)"),
    ("setuid-with-sql", "setuid with SQL (not supported)"),
    ("siteconfigpath=s", "Site configuration directory"),
    ("pre=s@", "Extra .pre line"),
    ("cf=s@", "Extra configuration line"),
    ("socketgroup=s", "Group of the Unix socket"),
    ("socketmode=s", "Mode of the Unix socket (octal)"),
    ("socketowner=s", "Owner of the Unix socket"),
    ("socketpath=s", "Listen on this Unix socket"),
    ("sql-config!", "SQL user preferences (not supported)"),
    ("ssl", "Use TLS on the TCP listeners"),
    ("ssl-verify", "Require client certificates"),
    ("ssl-ca-file=s", "CA file for client certificates"),
    ("ssl-ca-path=s", "CA directory for client certificates"),
    ("ssl-port=s", "TLS port"),
    ("syslog-socket=s", "syslog socket type"),
    (
        "syslog|s=s",
        "Log to a syslog facility (mail), stderr, null, or a file",
    ),
    (
        "log-timestamp-fmt:s",
        "Timestamp format of file/stderr logs",
    ),
    ("timeout-tcp|T=i", "Seconds to wait for a request line (30)"),
    (
        "timeout-child|t=i",
        "Seconds one request may take (300; 0 = no limit)",
    ),
    ("timing", "Log timing information"),
    ("user-config", "Read per-user configuration"),
    ("username|u=s", "Run as this user after binding sockets"),
    ("version|V", "Print the version and exit"),
    (
        "virtual-config-dir=s",
        "Per-user configuration directory pattern",
    ),
    ("v", "vpopmail support"),
    ("vpopmail!", "vpopmail support"),
    ("F:i", "Removed in SpamAssassin 2.3"),
    ("add-from!", "Removed in SpamAssassin 2.3"),
    ("stop-at-threshold|S", "Deprecated, ignored"),
    // Fedora's spamd package patches these in.
    (
        "razor-home-dir=s",
        "Razor home directory (Razor is not run here)",
    ),
    ("razor-log-file=s", "Razor log file (Razor is not run here)"),
    // Ours.
    (
        "max-size=i",
        "Largest message accepted, in bytes (268435456)",
    ),
    (
        "lint",
        "Check the configuration, list problems with file:line, and exit",
    ),
    (
        "metrics-listen=s",
        "Serve Prometheus metrics on ADDR:PORT (off by default)",
    ),
];

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Cli>),
    /// A removed option: print the text on stderr and exit 2, as spamd does.
    Removed(String),
}

fn table() -> Vec<OptSpec> {
    OPTIONS.iter().map(|(s, _)| OptSpec::parse(s)).collect()
}

/// Read spamd's arguments (without the program name). `Err` is a usage
/// error (SpamAssassin exits 64 with the usage text).
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let table = table();
    let mut cli = Cli::default();
    for occ in getopt::parse(&table, args)? {
        let name = table[occ.index].canonical();
        if let Some(text) = apply(&mut cli, name, occ.value) {
            return Ok(Parsed::Removed(text));
        }
    }
    Ok(Parsed::Run(Box::new(cli)))
}

/// Set what one option says. Returns a message for removed options.
fn apply(cli: &mut Cli, name: &str, v: Value) -> Option<String> {
    let flag = matches!(v, Value::Flag(true));
    let int = |d: i64| match &v {
        Value::Int(n) => *n,
        _ => d,
    };
    let text = || match &v {
        Value::Str(s) => s.clone(),
        _ => String::new(),
    };
    let ignored = |cli: &mut Cli, why: &str| {
        cli.notices.push(format!(
            "spamd: option --{name} accepted and ignored: {why}"
        ));
    };
    match name {
        "allow-tell" | "l" => cli.allow_tell = flag,
        "allowed-ips" => cli.allowed_ips.push(text()),
        "configpath" => cli.configpath = Some(text()),
        "c" | "create-prefs" => cli.create_prefs = flag,
        "daemonize" | "d" => cli.daemonize = flag,
        "debug" => {
            cli.debug = Some(match v {
                Value::Str(s) if !s.is_empty() => s,
                _ => "all".into(),
            })
        }
        "default-user" => cli.default_user = text(),
        "groupname" => cli.groupname = Some(text()),
        "helper-home-dir" => cli.helper_home_dir = Some(text()),
        "help" => cli.help = flag,
        "4" => (cli.ipv4, cli.ipv6) = (true, false),
        "6" => (cli.ipv4, cli.ipv6) = (false, true),
        "listen" => cli.listen.push(text()),
        "local" | "L" => cli.local = flag,
        "max-children" => cli.max_children = int(5),
        "nouser-config" => (cli.nouser_config, cli.user_config) = (true, false),
        "user-config" => (cli.nouser_config, cli.user_config) = (false, true),
        "paranoid" | "P" => cli.paranoid = flag,
        "pidfile" => cli.pidfile = Some(text()),
        "port" => cli.port = text(),
        "server-cert" => cli.server_cert = Some(text()),
        "server-key" => cli.server_key = Some(text()),
        "siteconfigpath" => cli.siteconfigpath = Some(text()),
        "pre" => cli.pre.push(text()),
        "cf" => cli.cf.push(text()),
        "socketgroup" => cli.socketgroup = Some(text()),
        "socketmode" => cli.socketmode = Some(text()),
        "socketowner" => cli.socketowner = Some(text()),
        "socketpath" => cli.socketpath = Some(text()),
        "ssl" => cli.ssl = flag,
        "ssl-port" => cli.ssl_port = Some(text()),
        "ssl-verify" => cli.ssl_verify = flag,
        "ssl-ca-file" => cli.ssl_ca_file = Some(text()),
        "ssl-ca-path" => cli.ssl_ca_path = Some(text()),
        "metrics-listen" => cli.metrics_listen = Some(text()),
        "syslog" => cli.syslog = text(),
        "timeout-tcp" => cli.timeout_tcp = int(30),
        "timeout-child" => cli.timeout_child = int(300),
        "username" => cli.username = Some(text()),
        "virtual-config-dir" => cli.virtual_config_dir = Some(text()),
        "version" => cli.version = flag,
        "max-size" => cli.max_size = int(cli.max_size),
        "lint" => cli.lint = flag,
        "F" => {
            return Some(
                "spamd: the -F option has been removed from spamd, please remove from your commandline and re-run"
                    .into(),
            );
        }
        "add-from" => {
            return Some(
                "spamd: the --add-from option has been removed from spamd, please remove from your commandline and re-run"
                    .into(),
            );
        }
        "stop-at-threshold" => {
            eprintln!(
                "spamd: the -S option has been deprecated and is no longer supported, ignoring"
            );
        }
        "razor-home-dir" | "razor-log-file" => {
            ignored(cli, "Razor is an outside service and is not run")
        }
        "round-robin" | "min-children" | "min-spare" | "max-spare" | "max-conn-per-child" => {
            ignored(cli, "one process serves every connection")
        }
        "ldap-config" | "setuid-with-ldap" | "sql-config" | "setuid-with-sql" | "Q" | "q"
            if flag =>
        {
            ignored(cli, "SQL and LDAP user preferences are not supported")
        }
        "v" | "vpopmail" if flag => ignored(cli, "vpopmail is not supported"),
        // Read and kept by SpamAssassin for features not built here yet.
        _ => {}
    }
    None
}

/// The usage text, from the option table.
pub fn usage() -> String {
    let mut out = String::from(
        "Usage:\n    spamd [options]\n    spamd learn [sa-learn options]\n\nOptions:\n",
    );
    for (spec, help) in OPTIONS {
        let s = OptSpec::parse(spec);
        let names: Vec<String> = s
            .names
            .iter()
            .map(|n| {
                let dashes = if n.chars().count() == 1 { "-" } else { "--" };
                let neg = if s.negatable { "[no-]" } else { "" };
                format!("{dashes}{neg}{n}")
            })
            .collect();
        let arg = match s.takes {
            getopt::Takes::Nothing => "",
            getopt::Takes::Str { optional: false } => "=value",
            getopt::Takes::Str { optional: true } => "[=value]",
            getopt::Takes::Int { optional: false } => "=num",
            getopt::Takes::Int { optional: true } => "[=num]",
        };
        let left = format!("{}{arg}", names.join(", "));
        let more = if s.list { " (repeatable)" } else { "" };
        out.push_str(&format!("  {left:<42} {help}{more}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args) {
            Ok(Parsed::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn distribution_command_lines() {
        // Debian
        let c = cli(&[
            "--pidfile=/run/spamd.pid",
            "--create-prefs",
            "--max-children",
            "5",
            "--helper-home-dir",
        ]);
        assert_eq!(c.pidfile.as_deref(), Some("/run/spamd.pid"));
        assert!(c.create_prefs);
        assert_eq!(c.max_children, 5);
        assert_eq!(c.helper_home_dir.as_deref(), Some(""));
        // Fedora
        let c = cli(&[
            "-c",
            "-m5",
            "-H",
            "--razor-home-dir=/var/lib/razor/",
            "--razor-log-file=sys-syslog",
        ]);
        assert!(c.create_prefs);
        assert_eq!(c.max_children, 5);
        assert_eq!(c.helper_home_dir.as_deref(), Some(""));
        assert_eq!(c.notices.len(), 2, "{:?}", c.notices);
        // FreeBSD
        let c = cli(&[
            "-c",
            "-u",
            "spamd",
            "-H",
            "/var/spool/spamd",
            "-d",
            "-r",
            "/run/s.pid",
        ]);
        assert_eq!(c.username.as_deref(), Some("spamd"));
        assert_eq!(c.helper_home_dir.as_deref(), Some("/var/spool/spamd"));
        assert!(c.daemonize);
        assert_eq!(c.pidfile.as_deref(), Some("/run/s.pid"));
    }

    #[test]
    fn repeated_options() {
        let c = cli(&[
            "-s",
            "stderr",
            "-D",
            "-s",
            "null",
            "-D",
            "bayes",
            "-A",
            "10.0.0.0/8",
            "-A",
            "::1",
        ]);
        assert_eq!(c.syslog, "null");
        assert_eq!(c.debug.as_deref(), Some("bayes"));
        assert_eq!(c.allowed_ips, ["10.0.0.0/8", "::1"]);
        let c = cli(&["-x", "--user-config"]);
        assert!(c.user_config && !c.nouser_config);
        let c = cli(&["-4", "-6"]);
        assert!(c.ipv6 && !c.ipv4);
    }

    #[test]
    fn removed_and_refused() {
        assert!(matches!(parse(&["-F".into()]), Ok(Parsed::Removed(_))));
        assert!(matches!(
            parse(&["--add-from".into()]),
            Ok(Parsed::Removed(_))
        ));
        assert_eq!(
            parse(&["--max".into(), "3".into()]).err(),
            Some(
                "Option max is ambiguous (max-children, max-conn-per-child, max-size, max-spare)"
                    .into()
            )
        );
    }

    #[test]
    fn usage_lists_every_option() {
        let u = usage();
        for (spec, _) in OPTIONS {
            let first = OptSpec::parse(spec).names[0];
            assert!(u.contains(first), "{first}");
        }
    }
}
