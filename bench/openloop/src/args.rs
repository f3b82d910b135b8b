//! Command line of zufang-openloop: parsed once into typed values, with an error naming the option.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage: zufang-openloop --url URL --rate N --duration SEC [options]
  Sends GET requests at a fixed rate (open loop): request i is due at start + i/N whatever the
  earlier ones are doing, and its latency is counted from that due time, so a stall shows up as
  the queueing it causes (no coordinated omission). Prints one OPENLOOP_JSON line on stdout.

  --url URL            http://host[:port][/path]; the path is the request unless --paths is given
  --rate N             requests per second (> 0, fractions allowed)
  --duration SEC       seconds of sending (> 0, fractions allowed)
  --connections N      at most N requests in flight, one connection each      [64]
  --timeout SEC        a request without a full answer after SEC is an error    [5]
  --paths FILE         request paths, one a line, used in turn; a line 'AUTH /path' is sent
                       with the token (needs --token-file)
  --token-file FILE    first line: a JWT sent as 'Authorization: Bearer ...'
  --no-keepalive       a new connection for every request ('Connection: close')
  --log FILE           one CSV line a request: seq,due_unix_s,latency_ms,outcome
                       (outcome: the status code, or timeout|connect|io|late)
  -h, --help           this help
Exit status: 0 at least one answer, 1 no answer at all, 2 bad option.";

#[derive(Debug)]
pub struct Args {
    pub host: String,
    pub port: u16,
    pub rate: f64,
    pub duration: f64,
    pub connections: usize,
    pub timeout: Duration,
    /// (send the token, path)
    pub paths: Vec<(bool, String)>,
    pub token: Option<String>,
    pub keepalive: bool,
    pub log: Option<PathBuf>,
}

fn positive(name: &str, v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{name} must be a positive number (got '{v}')")),
    }
}

/// http://host[:port][/path] -> (host, port, path)
fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("--url must start with http:// (got '{url}')"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("--url has a bad port: '{p}'"))?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("--url has no host: '{url}'"));
    }
    Ok((host.to_string(), port, path))
}

fn read_paths(file: &str) -> Result<Vec<(bool, String)>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("--paths {file}: {e}"))?;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (auth, path) = match line.strip_prefix("AUTH ") {
            Some(p) => (true, p.trim()),
            None => (false, line),
        };
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(format!("--paths {file}: '{line}' is not a path like /api/districts/"));
        }
        out.push((auth, path.to_string()));
    }
    if out.is_empty() {
        return Err(format!("--paths {file} holds no path"));
    }
    Ok(out)
}

/// Ok(None) for --help.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut it = argv.into_iter();
    let (mut url, mut rate, mut duration, mut paths_file, mut token_file, mut log) =
        (None, None, None, None, None, None);
    let (mut connections, mut timeout, mut keepalive) = (64usize, 5.0f64, true);
    while let Some(opt) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match opt.as_str() {
            "-h" | "--help" => return Ok(None),
            "--url" => url = Some(value("--url")?),
            "--rate" => rate = Some(positive("--rate", &value("--rate")?)?),
            "--duration" => duration = Some(positive("--duration", &value("--duration")?)?),
            "--connections" => {
                let v = value("--connections")?;
                connections = match v.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--connections must be a positive integer (got '{v}')")),
                };
            }
            "--timeout" => timeout = positive("--timeout", &value("--timeout")?)?,
            "--paths" => paths_file = Some(value("--paths")?),
            "--token-file" => token_file = Some(value("--token-file")?),
            "--no-keepalive" => keepalive = false,
            "--log" => log = Some(PathBuf::from(value("--log")?)),
            other => return Err(format!("unknown option '{other}' (see --help)")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let (host, port, url_path) = parse_url(&url)?;
    let paths = match paths_file {
        Some(f) => read_paths(&f)?,
        None => vec![(false, url_path)],
    };
    let token = match token_file {
        Some(f) => {
            let t = std::fs::read_to_string(&f).map_err(|e| format!("--token-file {f}: {e}"))?;
            let t = t.lines().next().unwrap_or("").trim().to_string();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("--token-file {f}: the first line is not a token"));
            }
            Some(t)
        }
        None => None,
    };
    if token.is_none() && paths.iter().any(|(auth, _)| *auth) {
        return Err("--paths has AUTH lines: give --token-file".into());
    }
    Ok(Some(Args {
        host,
        port,
        rate: rate.ok_or("--rate is required")?,
        duration: duration.ok_or("--duration is required")?,
        connections,
        timeout: Duration::from_secs_f64(timeout),
        paths,
        token,
        keepalive,
        log,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Option<Args>, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn a_url_with_port_and_path_is_split() {
        let a = args("--url http://10.0.0.1:8080/healthz --rate 10 --duration 1").unwrap().unwrap();
        assert_eq!((a.host.as_str(), a.port, a.paths[0].1.as_str()), ("10.0.0.1", 8080, "/healthz"));
    }

    #[test]
    fn bad_values_name_the_option() {
        assert!(args("--url http://h --rate 0 --duration 1").unwrap_err().contains("--rate"));
        assert!(args("--url http://h --rate 5 --duration x").unwrap_err().contains("--duration"));
        assert!(args("--url https://h --rate 5 --duration 1").unwrap_err().contains("http://"));
        assert!(args("--url http://h --rate 5").unwrap_err().contains("--duration"));
        assert!(args("--url http://h --rate 5 --duration 1 --bogus").unwrap_err().contains("--bogus"));
    }
}
