//! A small blocking Redis client: the RESP2 wire format and one connection
//! with deadlines. Written here rather than taken from a crate because the
//! Bayes store needs only pipelined commands, a per-exchange time bound and
//! a TCP or Unix socket, from synchronous scan workers; std does all of it
//! in a couple of hundred lines, with no async runtime or new dependency
//! in the library.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Nil,
    Int(i64),
    /// Simple or bulk string.
    Data(Vec<u8>),
    Array(Vec<Value>),
    /// `-ERR ...` from the server: the command failed, the link is fine.
    Error(String),
}

impl Value {
    /// An integer, whether sent as one or as a decimal string.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Data(d) => std::str::from_utf8(d).ok()?.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Encode one command as a RESP array of bulk strings.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("redis protocol: {msg}"))
}

/// Largest bulk string or array accepted (a Bayes reply is far smaller).
const MAX_LEN: i64 = 512 * 1024 * 1024;

/// Read one reply.
pub fn read_value(r: &mut impl BufRead) -> io::Result<Value> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "redis connection closed",
        ));
    }
    line.truncate(line.len() - 2);
    let (kind, rest) = line.split_first().ok_or_else(|| bad("empty line"))?;
    let num = || -> io::Result<i64> {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad number"))
    };
    match kind {
        b'+' => Ok(Value::Data(rest.to_vec())),
        b'-' => Ok(Value::Error(String::from_utf8_lossy(rest).into_owned())),
        b':' => Ok(Value::Int(num()?)),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Ok(Value::Nil);
            }
            if n > MAX_LEN {
                return Err(bad("bulk string too long"));
            }
            let mut buf = vec![0u8; n as usize + 2];
            r.read_exact(&mut buf)?;
            buf.truncate(n as usize);
            Ok(Value::Data(buf))
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                return Ok(Value::Nil);
            }
            if n > MAX_LEN {
                return Err(bad("array too long"));
            }
            let mut v = Vec::with_capacity((n as usize).min(4096));
            for _ in 0..n {
                v.push(read_value(r)?);
            }
            Ok(Value::Array(v))
        }
        _ => Err(bad("unknown reply type")),
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// One connection to a Redis server. Any I/O error leaves it unusable:
/// the caller drops it and connects again.
pub struct Connection {
    stream: BufReader<Stream>,
}

impl Connection {
    /// Connect to `host:port` (or `[v6]:port`), or to a Unix socket when
    /// `server` starts with `/`; every read, write and the connect itself
    /// is bounded by `timeout`.
    pub fn connect(server: &str, timeout: Duration) -> io::Result<Connection> {
        let stream = if server.starts_with('/') {
            let s = UnixStream::connect(server)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            Stream::Unix(s)
        } else {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            let mut found = None;
            for addr in server.to_socket_addrs()? {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let s = found.ok_or(last)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.set_nodelay(true)?;
            Stream::Tcp(s)
        };
        Ok(Connection {
            stream: BufReader::with_capacity(64 * 1024, stream),
        })
    }

    /// Send every command at once and read one reply per command.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> io::Result<Vec<Value>> {
        let mut out = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            encode(&mut out, &args);
        }
        self.stream.get_mut().write_all(&out)?;
        let mut replies = Vec::with_capacity(cmds.len());
        for _ in cmds {
            replies.push(read_value(&mut self.stream)?);
        }
        Ok(replies)
    }

    /// One command, one reply.
    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<Value> {
        let mut out = Vec::new();
        encode(&mut out, args);
        self.stream.get_mut().write_all(&out)?;
        read_value(&mut self.stream)
    }
}

/// Build a command from anything byte-like.
#[macro_export]
macro_rules! redis_cmd {
    ($($a:expr),* $(,)?) => {
        vec![$(AsRef::<[u8]>::as_ref(&$a).to_vec()),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_bulk_strings() {
        let mut out = Vec::new();
        encode(&mut out, &[b"HMGET", b"w:\x00\x01", b"s"]);
        assert_eq!(out, b"*3\r\n$5\r\nHMGET\r\n$4\r\nw:\x00\x01\r\n$1\r\ns\r\n");
    }

    #[test]
    fn parses_every_reply_kind() {
        let wire = b"+OK\r\n-ERR no\r\n:42\r\n$3\r\na\r\n\r\n$-1\r\n*2\r\n$1\r\n7\r\n$-1\r\n";
        let mut r = &wire[..];
        assert_eq!(read_value(&mut r).ok(), Some(Value::Data(b"OK".to_vec())));
        assert_eq!(read_value(&mut r).ok(), Some(Value::Error("ERR no".into())));
        assert_eq!(read_value(&mut r).ok(), Some(Value::Int(42)));
        assert_eq!(
            read_value(&mut r).ok(),
            Some(Value::Data(b"a\r\n".to_vec()))
        );
        assert_eq!(read_value(&mut r).ok(), Some(Value::Nil));
        let arr = read_value(&mut r).ok();
        assert_eq!(
            arr,
            Some(Value::Array(vec![Value::Data(b"7".to_vec()), Value::Nil]))
        );
        assert_eq!(
            arr.and_then(|a| match a {
                Value::Array(v) => v[0].as_int(),
                _ => None,
            }),
            Some(7)
        );
        // A cut reply is an error, not a hang or a panic.
        assert!(read_value(&mut &b"$5\r\nab"[..]).is_err());
        assert!(read_value(&mut &b"*1\r\n"[..]).is_err());
        assert!(read_value(&mut &b"?x\r\n"[..]).is_err());
    }
}
