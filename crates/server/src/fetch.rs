//! Fetching a URL on a user's behalf (an input image given by URL), without
//! letting the user reach what only the server can: http(s) only; the host is
//! resolved and every address checked — loopback, private, link-local (the cloud
//! metadata service at 169.254.169.254), unique-local, CGNAT, multicast and
//! unspecified addresses are refused unless allowlisted — and the connection goes
//! to the address that was checked (no second lookup to rebind). Redirects are
//! followed by hand, each hop checked the same way. Size and time are bounded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;

const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Hosts (`name` or `name:port`) or IP addresses that may be fetched even when
    /// private (an internal image server, a local emulator).
    pub allow: Vec<String>,
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self { allow: Vec::new(), max_bytes: 50 * 1024 * 1024, timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL may not be fetched (the user's input is wrong): never retried.
    #[error("{0}")]
    Refused(String),
    /// The fetch failed on the way (may be retried).
    #[error("{0}")]
    Failed(String),
    #[error("the server at the URL answered HTTP {0}")]
    Status(u16),
}

/// A fetched file.
pub struct Fetched {
    pub bytes: Bytes,
    /// The `Content-Type` essence, lower case.
    pub mime: Option<String>,
}

/// Why an address may not be fetched, if it may not.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a unique-local (private) address")
            } else if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                Some("the cloud metadata service")
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (the cloud metadata service lives there)")
    } else if ip.is_unspecified() || a == 0 {
        Some("the unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address")
    } else {
        None
    }
}

impl FetchPolicy {
    fn allowed(&self, host: &str, port: u16, ip: IpAddr) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.allow.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            entry == host
                || entry == format!("{host}:{port}")
                || entry.parse::<IpAddr>().is_ok_and(|allowed| allowed == ip)
                || entry.parse::<SocketAddr>().is_ok_and(|allowed| allowed == SocketAddr::new(ip, port))
        })
    }

    /// Checks a URL and resolves it to the one address to connect to.
    pub async fn vet(&self, url: &url::Url) -> Result<SocketAddr, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Refused(format!("only http and https URLs are fetched, not {}:", url.scheme())));
        }
        let host = url.host_str().ok_or_else(|| FetchError::Refused("the URL has no host".into()))?.to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare.as_str(), port))
                .await
                .map_err(|error| FetchError::Refused(format!("cannot resolve {bare}: {error}")))?
                .collect(),
        };
        let first = *addresses.first().ok_or_else(|| FetchError::Refused(format!("{bare} has no address")))?;
        // Every address must pass: a name with one public and one private address
        // could otherwise be steered to the private one.
        for address in &addresses {
            if let Some(reason) = forbidden_reason(address.ip())
                && !self.allowed(&host, port, address.ip())
            {
                return Err(FetchError::Refused(format!(
                    "{host} resolves to {}, {reason}: not fetched (an admin can allowlist it in fetch.allow)",
                    address.ip()
                )));
            }
        }
        Ok(first)
    }

    /// Fetches a URL under this policy.
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let mut url = url::Url::parse(url).map_err(|error| FetchError::Refused(format!("not a URL: {error}")))?;
        for _ in 0..=MAX_REDIRECTS {
            let address = self.vet(&url).await?;
            let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(10))
                .resolve(&host, address)
                .build()
                .map_err(|error| FetchError::Failed(format!("building the HTTP client: {error}")))?;
            let response =
                client.get(url.clone()).send().await.map_err(|error| FetchError::Failed(error.to_string()))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| FetchError::Failed(format!("HTTP {status} without a Location")))?;
                url = url.join(location).map_err(|error| FetchError::Refused(format!("bad redirect: {error}")))?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let mime = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase());
            if response.content_length().is_some_and(|length| length > self.max_bytes as u64) {
                return Err(FetchError::Refused(format!("the file is larger than {} bytes", self.max_bytes)));
            }
            let mut bytes = BytesMut::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.try_next().await.map_err(|error| FetchError::Failed(error.to_string()))? {
                if bytes.len() + chunk.len() > self.max_bytes {
                    return Err(FetchError::Refused(format!("the file is larger than {} bytes", self.max_bytes)));
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(Fetched { bytes: bytes.freeze(), mime });
        }
        Err(FetchError::Refused(format!("more than {MAX_REDIRECTS} redirects")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
        ] {
            let ip: IpAddr = refused.parse().expect("an address");
            assert!(forbidden_reason(ip).is_some(), "{refused} should be refused");
        }
        for allowed in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1", "100.128.0.1"] {
            let ip: IpAddr = allowed.parse().expect("an address");
            assert_eq!(forbidden_reason(ip), None, "{allowed} is public");
        }
    }

    #[tokio::test]
    async fn urls_are_vetted_before_any_connection() {
        let policy = FetchPolicy::default();
        for url in [
            "http://127.0.0.1/x.png",
            "http://[::1]:8080/x.png",
            "http://10.0.0.7/x.png",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:9/x.png",
            "file:///etc/passwd",
            "ftp://example.com/x.png",
        ] {
            let url = url::Url::parse(url).expect("a URL");
            assert!(matches!(policy.vet(&url).await, Err(FetchError::Refused(_))), "{url} should be refused");
        }
        let allowing = FetchPolicy { allow: vec!["127.0.0.1:9101".into()], ..FetchPolicy::default() };
        let url = url::Url::parse("http://127.0.0.1:9101/x.png").expect("a URL");
        assert_eq!(allowing.vet(&url).await.ok(), Some("127.0.0.1:9101".parse().expect("address")));
        let other_port = url::Url::parse("http://127.0.0.1:9102/x.png").expect("a URL");
        assert!(allowing.vet(&other_port).await.is_err(), "the allowlist names a port");
    }
}
