//! The one outbound HTTP policy: every request this host makes (Mattermost's REST API, event
//! deliveries to apps hosted elsewhere) goes through an [`OutboundClient`].
//!
//! Every tenant's Mattermost and every third-party app may be an attacker, so a request:
//! - never follows a redirect (a 3xx is an answer like any other non-2xx);
//! - never reaches a loopback, private, shared (CGNAT), link-local (cloud metadata),
//!   multicast, reserved or unique-local address, nor an IPv6 form embedding one, unless
//!   private networks are allowed: checked on the URL's host (reqwest does not resolve IP
//!   literals) and again on every address a name resolves to, so a name that resolves or
//!   rebinds to one is refused;
//! - is only `http` or `https`, without a user name or password in the URL, and bypasses any
//!   proxy set in the environment (a proxy would resolve names out of this policy's sight);
//! - runs under a connect and a total timeout, and reads at most a capped answer.
//!
//! Errors never carry the URL's path or query, the request's headers, or what answered.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{RequestBuilder, StatusCode, Url};

/// Whether requests may go to non-public addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrivateNetworks {
    /// Only public addresses: every Lambda function, and the local host by default.
    #[default]
    Refused,
    /// Loopback and private addresses too: a local host whose operator allowed it, and tests.
    Allowed,
}

/// How long establishing a connection may take, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// IPv4 ranges never called, and what they are. 0/8 covers the unspecified address, 240/4 the
/// broadcast address.
const REFUSED_V4: &[(Ipv4Net, &str)] = &[
    (
        v4(0, 0, 0, 0, 8),
        "an unspecified (\"this network\") address",
    ),
    (v4(10, 0, 0, 0, 8), "a private address"),
    (
        v4(100, 64, 0, 0, 10),
        "a shared (carrier-grade NAT) address",
    ),
    (v4(127, 0, 0, 0, 8), "a loopback address"),
    (
        v4(169, 254, 0, 0, 16),
        "a link-local address (where cloud metadata services answer)",
    ),
    (v4(172, 16, 0, 0, 12), "a private address"),
    (v4(192, 168, 0, 0, 16), "a private address"),
    (v4(224, 0, 0, 0, 4), "a multicast address"),
    (v4(240, 0, 0, 0, 4), "a reserved or broadcast address"),
];

/// IPv6 ranges never called. Forms that embed an IPv4 address are judged by that address
/// (see [`embedded_v4`]).
const REFUSED_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "an unspecified address"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "a loopback address"),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "a local-use NAT64 address",
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "a unique-local (private) address",
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "a link-local address",
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "a site-local (private) address",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "a multicast address"),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// What kind of non-public address `ip` is, or `None` for a public one.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => REFUSED_V4
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, what)| *what),
        IpAddr::V6(ip) => REFUSED_V6
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, what)| *what)
            .or_else(|| embedded_v4(ip).and_then(|v4| non_public(IpAddr::V4(v4)))),
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::`. Each reaches the IPv4
/// address through a dual stack, a translator or a relay.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(last32),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last32),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Why a URL is not called; the text names the rule, never the URL's path, query or userinfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(String);

/// Checks a URL against the policy before anything is sent: `http`/`https`, no userinfo, a
/// host, and, unless private networks are allowed, not an IP literal in a refused range (names
/// are checked once resolved, by the client's resolver).
pub fn check_url(url: &str, private_networks: PrivateNetworks) -> Result<Url, Refusal> {
    let parsed = Url::parse(url).map_err(|e| Refusal(format!("not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refusal(format!(
            "only http and https URLs are called, not `{}`",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refusal(
            "a URL with a user name or password is not called".into(),
        ));
    }
    let host = parsed
        .host()
        .ok_or_else(|| Refusal("the URL has no host".into()))?;
    let ip = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    match ip.and_then(non_public) {
        Some(what) if private_networks == PrivateNetworks::Refused => {
            Err(refused_host(&host, what))
        }
        _ => Ok(parsed),
    }
}

/// [`check_url`] for a URL that is stored and has paths appended to it (a tenant's Mattermost
/// site URL, an app's root URL): no query or fragment, and, unless private networks are
/// allowed, not `localhost` either.
pub fn check_base_url(url: &str, private_networks: PrivateNetworks) -> Result<Url, Refusal> {
    let parsed = check_url(url, private_networks)?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Refusal(
            "a base URL has no query or fragment (paths are appended to it)".into(),
        ));
    }
    if let Some(host @ url::Host::Domain(name)) = parsed.host()
        && private_networks == PrivateNetworks::Refused
        && is_localhost(name)
    {
        return Err(refused_host(&host, "a loopback name"));
    }
    Ok(parsed)
}

fn refused_host(host: &url::Host<&str>, what: &str) -> Refusal {
    Refusal(format!(
        "`{host}` is {what}; this host calls only public addresses"
    ))
}

/// `localhost` and its subdomains, which resolve to loopback by definition (RFC 6761).
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Resolves names with the system resolver and keeps only public addresses: a name that
/// resolves, or rebinds, only to refused addresses fails to connect.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| non_public(a.ip()).is_none())
                .collect();
            if public.is_empty() && !resolved.is_empty() {
                return Err(Box::new(Refusal(format!(
                    "`{host}` resolves only to non-public addresses; this host calls only public addresses"
                ))) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// What went wrong with an outbound request.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The policy refused the URL or every address it resolves to; nothing was sent.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// No complete answer: no connection, a timeout, a broken-off answer.
    #[error("{0}")]
    Unreachable(String),
    /// The answer's body is larger than the client reads.
    #[error("the answer is larger than {max} bytes")]
    TooLarge { max: usize },
}

impl From<reqwest::Error> for OutboundError {
    /// Without the URL, and with only the underlying cause of a failed connection (an I/O or
    /// TLS error), never anything the peer sent.
    fn from(e: reqwest::Error) -> Self {
        let mut cause: Option<&(dyn StdError + 'static)> = e.source();
        let mut innermost = None;
        while let Some(c) = cause {
            if let Some(refusal) = c.downcast_ref::<Refusal>() {
                return OutboundError::Refused(refusal.clone());
            }
            innermost = Some(c);
            cause = c.source();
        }
        OutboundError::Unreachable(if e.is_timeout() {
            "timed out".into()
        } else if e.is_connect() {
            match innermost {
                Some(c) => format!("could not connect: {c}"),
                None => "could not connect".into(),
            }
        } else if e.is_body() || e.is_decode() {
            "the answer broke off".into()
        } else {
            "the request failed".into()
        })
    }
}

/// An HTTP client under the outbound policy; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    private_networks: PrivateNetworks,
    max_body: usize,
}

impl OutboundClient {
    /// A client whose requests take at most `timeout` (connecting at most 3 s of it) and whose
    /// answers are read up to `max_body` bytes.
    pub fn new(private_networks: PrivateNetworks, timeout: Duration, max_body: usize) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("cloudapps/", env!("CARGO_PKG_VERSION")));
        if private_networks == PrivateNetworks::Refused {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        // Never fall back to a default client: it would follow redirects. With rustls and no
        // custom certificates, building cannot fail.
        let http = builder
            .build()
            .expect("the outbound HTTP client builds (rustls, no custom certificates)");
        OutboundClient {
            http,
            private_networks,
            max_body,
        }
    }

    pub fn private_networks(&self) -> PrivateNetworks {
        self.private_networks
    }

    /// A POST to `url`, once the URL passes [`check_url`]; send it with [`Self::send`].
    pub fn post(&self, url: &str) -> Result<RequestBuilder, OutboundError> {
        self.request(reqwest::Method::POST, url)
    }

    /// A request of any method to `url`, once the URL passes [`check_url`].
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<RequestBuilder, OutboundError> {
        let url = check_url(url, self.private_networks)?;
        Ok(self.http.request(method, url))
    }

    /// Sends a request made by [`Self::request`]. Any status is an answer, 3xx included.
    pub async fn send(&self, request: RequestBuilder) -> Result<Answer, OutboundError> {
        let response = request.send().await?;
        Ok(Answer {
            response,
            max_body: self.max_body,
        })
    }
}

/// An answer whose body has not been read yet.
pub struct Answer {
    response: reqwest::Response,
    max_body: usize,
}

impl Answer {
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.headers().get(name)?.to_str().ok()
    }

    /// Reads the body chunk by chunk, failing as soon as it grows past the client's cap.
    pub async fn body(mut self) -> Result<Bytes, OutboundError> {
        let max = self.max_body;
        if self
            .response
            .content_length()
            .is_some_and(|n| n > max as u64)
        {
            return Err(OutboundError::TooLarge { max });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = self.response.chunk().await? {
            if body.len() + chunk.len() > max {
                return Err(OutboundError::TooLarge { max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

#[cfg(test)]
mod tests;
