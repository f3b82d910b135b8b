//! Who is the client, and what URL did it use? `X-Forwarded-*` headers are honoured only when the
//! TCP peer is one of the configured trusted proxies; anyone else could forge them.
use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn peer_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The bucket a rate limit counts a client address in: an IPv4 address itself, an IPv6 address's
/// /64 (one subscriber usually gets a whole /64, so per-address buckets would be free to multiply).
pub fn rate_bucket(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        v4 => v4.to_string(),
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty())
}

fn peer_trusted(req: &HttpRequest, trusted: &[IpNet]) -> bool {
    peer_ip(req).map(|ip| is_trusted(ip, trusted)).unwrap_or(false)
}

/// The client address: from `X-Forwarded-For` when the peer is a trusted proxy (the right-most
/// address that is not itself a trusted proxy), otherwise the socket peer.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer_ip(req)?;
    if !is_trusted(peer, trusted) {
        return Some(canonical(peer));
    }
    let Some(xff) = header(req, "x-forwarded-for") else {
        return Some(canonical(peer));
    };
    let mut last = canonical(peer);
    for part in xff.rsplit(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) => {
                let ip = canonical(ip);
                last = ip;
                if !is_trusted(ip, trusted) {
                    return Some(ip);
                }
            }
            Err(_) => return Some(last),
        }
    }
    Some(last)
}

/// The host (port included, as sent) the client asked for: a trusted proxy's X-Forwarded-Host
/// (its first value), else the Host header. The allowed-hosts check and the links read this one
/// answer, so a link can only name a host that was checked.
pub fn requested_host<'a>(req: &'a HttpRequest, trusted: &[IpNet]) -> Option<&'a str> {
    if peer_trusted(req, trusted) {
        if let Some(h) = header(req, "x-forwarded-host") {
            return Some(h.split(',').next().unwrap_or(h).trim());
        }
    }
    header(req, "host")
}

/// Scheme and host the client used (`X-Forwarded-Proto`/`-Host` from a trusted proxy).
pub fn external_origin(req: &HttpRequest, trusted: &[IpNet]) -> String {
    // connection_info() reads Forwarded/X-Forwarded-* from anyone: only its scheme is used, and
    // only behind a trusted proxy.
    let mut scheme = "http".to_string();
    if peer_trusted(req, trusted) {
        scheme = req.connection_info().scheme().to_string();
        if let Some(p) = header(req, "x-forwarded-proto") {
            if p == "http" || p == "https" {
                scheme = p.to_string();
            }
        }
    }
    let mut host = requested_host(req, trusted).unwrap_or("localhost");
    if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) {
        host = "localhost";
    }
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::rate_bucket;

    #[test]
    fn ipv6_clients_share_their_64_and_ipv4_stays_per_address() {
        let a = rate_bucket("2001:db8:1:2::1".parse().unwrap());
        let b = rate_bucket("2001:db8:1:2:ffff:0:0:9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_ne!(a, rate_bucket("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(rate_bucket("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_ne!(rate_bucket("192.0.2.7".parse().unwrap()), rate_bucket("192.0.2.8".parse().unwrap()));
    }
}
