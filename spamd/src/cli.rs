//! spamd's command line: SpamAssassin 4.0.1's options, same names and
//! meanings. Options that only make sense for Perl's process model are
//! accepted and ignored so existing command lines keep working.

use clap::{ArgAction, Parser};

/// SpamAssassin-compatible spam filtering daemon.
#[derive(Debug, Parser, Clone)]
#[command(
    name = "spamd",
    disable_version_flag = true,
    infer_long_args = true,
    about = "SpamAssassin-compatible spamd: scans mail for spamc clients over TCP and Unix sockets"
)]
pub struct Cli {
    /// Enable TELL (learning and reporting) requests.
    #[arg(short = 'l', long = "allow-tell")]
    pub allow_tell: bool,
    /// Client addresses allowed to connect (CIDR list, repeatable).
    #[arg(short = 'A', long = "allowed-ips", value_delimiter = ',', action = ArgAction::Append)]
    pub allowed_ips: Vec<String>,
    /// Rules directory (instead of /var/lib/spamassassin or /usr/share/spamassassin).
    #[arg(short = 'C', long = "configpath")]
    pub configpath: Option<String>,
    /// Site configuration directory (instead of /etc/spamassassin).
    #[arg(long = "siteconfigpath")]
    pub siteconfigpath: Option<String>,
    /// Extra configuration line, read after all files (repeatable).
    #[arg(long = "cf", action = ArgAction::Append)]
    pub cf: Vec<String>,
    /// Extra .pre line (repeatable).
    #[arg(long = "pre", action = ArgAction::Append)]
    pub pre: Vec<String>,
    /// Create user preference files (accepted; per-user files are not created).
    #[arg(short = 'c', long = "create-prefs")]
    pub create_prefs: bool,
    /// Run in the background.
    #[arg(short = 'd', long = "daemonize")]
    pub daemonize: bool,
    /// Debug logging (optionally a list of areas).
    #[arg(short = 'D', long = "debug", num_args = 0..=1, default_missing_value = "all")]
    pub debug: Option<String>,
    /// User to fall back to when the requested user is unknown.
    #[arg(short = 'U', long = "default-user", default_value = "nobody")]
    pub default_user: String,
    /// Group to run as.
    #[arg(short = 'g', long = "groupname")]
    pub groupname: Option<String>,
    /// HOME for helper applications.
    #[arg(short = 'H', long = "helper-home-dir", num_args = 0..=1, default_missing_value = "")]
    pub helper_home_dir: Option<String>,
    /// Listen on IPv4 only.
    #[arg(short = '4', long = "ipv4only", alias = "ipv4-only", alias = "ipv4")]
    pub ipv4: bool,
    /// Listen on IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Listen address: `addr`, `addr:port`, `[v6]:port`, `*`, or a Unix socket path (repeatable).
    #[arg(short = 'i', long = "listen", alias = "listen-ip", alias = "ip-address", num_args = 0..=1, default_missing_value = "", action = ArgAction::Append)]
    pub listen: Vec<String>,
    /// Local tests only: no network tests (score sets 0/2).
    #[arg(short = 'L', long = "local")]
    pub local: bool,
    /// Accepted for compatibility (process model option).
    #[arg(long = "round-robin")]
    pub round_robin: bool,
    /// Accepted for compatibility (process model option).
    #[arg(long = "min-children")]
    pub min_children: Option<u32>,
    /// How many messages are scanned at once; more connections wait.
    #[arg(short = 'm', long = "max-children", default_value_t = 5)]
    pub max_children: usize,
    /// Accepted for compatibility (process model option).
    #[arg(long = "min-spare")]
    pub min_spare: Option<u32>,
    /// Accepted for compatibility (process model option).
    #[arg(long = "max-spare")]
    pub max_spare: Option<u32>,
    /// Accepted for compatibility (process model option).
    #[arg(long = "max-conn-per-child")]
    pub max_conn_per_child: Option<u32>,
    /// Do not read per-user configuration.
    #[arg(short = 'x', long = "nouser-config")]
    pub nouser_config: bool,
    /// Read per-user configuration (the default).
    #[arg(long = "user-config")]
    pub user_config: bool,
    /// Die on user errors.
    #[arg(short = 'P', long = "paranoid")]
    pub paranoid: bool,
    /// Write the daemon's PID to this file.
    #[arg(short = 'r', long = "pidfile")]
    pub pidfile: Option<String>,
    /// Default TCP port.
    #[arg(short = 'p', long = "port", default_value = "783")]
    pub port: String,
    /// SQL user preferences (not supported; accepted).
    #[arg(short = 'q', long = "sql-config")]
    pub sql_config: bool,
    /// setuid with SQL (not supported; accepted).
    #[arg(short = 'Q', long = "setuid-with-sql")]
    pub setuid_with_sql: bool,
    /// LDAP user preferences (not supported; accepted).
    #[arg(long = "ldap-config")]
    pub ldap_config: bool,
    /// setuid with LDAP (not supported; accepted).
    #[arg(long = "setuid-with-ldap")]
    pub setuid_with_ldap: bool,
    /// TLS server certificate (TLS is not built in yet).
    #[arg(long = "server-cert")]
    pub server_cert: Option<String>,
    /// TLS server key (TLS is not built in yet).
    #[arg(long = "server-key")]
    pub server_key: Option<String>,
    /// Enable TLS (not built in yet: refused at start-up).
    #[arg(long = "ssl")]
    pub ssl: bool,
    #[arg(long = "ssl-port", hide = true)]
    pub ssl_port: Option<String>,
    #[arg(long = "ssl-verify", hide = true)]
    pub ssl_verify: bool,
    #[arg(long = "ssl-ca-file", hide = true)]
    pub ssl_ca_file: Option<String>,
    #[arg(long = "ssl-ca-path", hide = true)]
    pub ssl_ca_path: Option<String>,
    /// Group of the Unix socket.
    #[arg(long = "socketgroup")]
    pub socketgroup: Option<String>,
    /// Mode of the Unix socket (octal).
    #[arg(long = "socketmode")]
    pub socketmode: Option<String>,
    /// Owner of the Unix socket.
    #[arg(long = "socketowner")]
    pub socketowner: Option<String>,
    /// Listen on this Unix socket.
    #[arg(long = "socketpath")]
    pub socketpath: Option<String>,
    /// syslog socket type (accepted).
    #[arg(long = "syslog-socket")]
    pub syslog_socket: Option<String>,
    /// Log to: a syslog facility (default `mail`), `stderr`, `null`, or a file path.
    #[arg(short = 's', long = "syslog", default_value = "mail")]
    pub syslog: String,
    /// Timestamp format for file/stderr logs (strftime subset).
    #[arg(long = "log-timestamp-fmt", num_args = 0..=1, default_missing_value = "")]
    pub log_timestamp_fmt: Option<String>,
    /// Seconds to wait for a client's request line.
    #[arg(short = 'T', long = "timeout-tcp", default_value_t = 30)]
    pub timeout_tcp: u64,
    /// Seconds one request may take, reading included (0 = no limit).
    #[arg(short = 't', long = "timeout-child", default_value_t = 300)]
    pub timeout_child: u64,
    /// Log timing information.
    #[arg(long = "timing")]
    pub timing: bool,
    /// Run as this user after binding sockets.
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Print the version and exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Virtual user configuration directory pattern (accepted).
    #[arg(long = "virtual-config-dir")]
    pub virtual_config_dir: Option<String>,
    /// vpopmail support (accepted).
    #[arg(short = 'v', long = "vpopmail")]
    pub vpopmail: bool,
    /// Largest message accepted, in bytes; larger requests get EX_PROTOCOL.
    #[arg(long = "max-size", default_value_t = 256 * 1024 * 1024)]
    pub max_size: usize,
    /// Check the configuration, list problems with file:line, and exit (non-zero if any).
    #[arg(long = "lint")]
    pub lint: bool,
    /// Deprecated and ignored, as in SpamAssassin.
    #[arg(short = 'S', long = "stop-at-threshold", hide = true)]
    pub stop_at_threshold: bool,
}
