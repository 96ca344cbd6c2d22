use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn every_refused_range_is_refused() {
    for (addr, what) in [
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd00:ec2::254", "unique-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("64:ff9b:1::1", "NAT64"),
        // IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms are judged by their IPv4 address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.1.2.3", "private"),
        ("::127.0.0.1", "loopback"),
        ("::192.168.0.1", "private"),
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a9fe:a9fe::1", "link-local"),
    ] {
        let found = non_public(ip(addr)).unwrap_or_else(|| panic!("{addr} is allowed"));
        assert!(found.contains(what), "{addr}: {found}");
    }
}

#[test]
fn public_addresses_are_allowed() {
    for addr in [
        "8.8.8.8",
        "1.1.1.1",
        "9.255.255.255",
        "11.0.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "169.253.255.255",
        "172.15.255.255",
        "172.32.0.1",
        "192.167.255.255",
        "192.169.0.1",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert_eq!(non_public(ip(addr)), None, "{addr}");
    }
}

#[test]
fn urls_are_checked_before_sending() {
    let refused = |url: &str| check_url(url, PrivateNetworks::Refused).unwrap_err().0;
    assert!(refused("ftp://example.com/").contains("http and https"));
    assert!(refused("file:///etc/passwd").contains("http and https"));
    let userinfo = refused("https://admin:hunter2@example.com/");
    assert!(
        userinfo.contains("user name or password") && !userinfo.contains("hunter2"),
        "{userinfo}"
    );
    assert!(refused("not a url").contains("not a valid URL"));
    for url in [
        "http://127.0.0.1:8065/?token=secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00:ec2::254]/",
        // Numeric spellings are normalised to the address they stand for.
        "http://2130706433/",
        "http://0x7f.1/",
    ] {
        let why = refused(url);
        assert!(
            why.contains("this host calls only public addresses") && !why.contains("secret"),
            "{url}: {why}"
        );
    }
    assert!(check_url("https://mm.example.com/x?y", PrivateNetworks::Refused).is_ok());
    // Names are left to the resolver; a base URL also refuses `localhost` by name.
    assert!(check_url("http://localhost:8065", PrivateNetworks::Refused).is_ok());
    for url in [
        "http://localhost:8065",
        "http://LOCALHOST.",
        "http://a.localhost",
    ] {
        assert!(
            check_base_url(url, PrivateNetworks::Refused)
                .unwrap_err()
                .0
                .contains("loopback name"),
            "{url}"
        );
    }
    assert!(check_base_url("https://mm.example.com?x=1", PrivateNetworks::Allowed).is_err());
    assert!(check_base_url("https://mm.example.com#x", PrivateNetworks::Allowed).is_err());
    for url in [
        "http://localhost:8065",
        "http://127.0.0.1:8065",
        "http://192.168.1.10/mattermost",
    ] {
        assert!(
            check_base_url(url, PrivateNetworks::Allowed).is_ok(),
            "{url}"
        );
    }
    assert!(check_url("https://u:p@example.com", PrivateNetworks::Allowed).is_err());
}

/// A loopback listener that answers every request with `response` and records what it was
/// sent.
struct Canned {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
}

impl Canned {
    async fn start(response: &'static str) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let n = conn.read(&mut buf).await.unwrap_or(0);
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    let _ = conn.write_all(response.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Canned { addr, received }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

fn client(private_networks: PrivateNetworks) -> OutboundClient {
    OutboundClient::new(private_networks, Duration::from_secs(5), 1024)
}

#[tokio::test]
async fn a_redirect_is_an_answer_never_followed_even_on_private_networks() {
    let target = Canned::start(
        "HTTP/1.1 200 OK\r\ncontent-length: 14\r\nconnection: close\r\n\r\ninternal-admin",
    )
    .await;
    let location = format!("http://{}/internal-admin", target.addr);
    let redirect: &'static str = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let site = Canned::start(redirect).await;
    let c = client(PrivateNetworks::Allowed);
    let request = c
        .post(&format!("http://{}/api/v4/commands", site.addr))
        .unwrap()
        .bearer_auth("mm-admin-token")
        .body("{}");
    let answer = c.send(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(answer.body().await.unwrap(), Bytes::new());
    assert_eq!(site.received().len(), 1);
    assert!(site.received()[0].contains("mm-admin-token"));
    assert!(
        target.received().is_empty(),
        "the redirect was followed: {:?}",
        target.received()
    );
}

#[tokio::test]
async fn non_public_addresses_are_refused_before_connecting() {
    let listener = Canned::start("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
    let port = listener.addr.port();
    let c = client(PrivateNetworks::Refused);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        // A name: refused once resolved, by the client's resolver.
        format!("http://localhost:{port}/?token=secret"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let result = match c.post(&url) {
            Ok(request) => c
                .send(request.bearer_auth("mm-admin-token"))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        let err = result.expect_err(&url);
        let text = err.to_string();
        assert!(matches!(err, OutboundError::Refused(_)), "{url}: {err:?}");
        assert!(
            text.contains("only public addresses")
                && !text.contains("secret")
                && !text.contains("mm-admin-token"),
            "{url}: {text}"
        );
    }
    assert!(listener.received().is_empty(), "{:?}", listener.received());

    // The same listener is reachable when private networks are allowed.
    let allowed = client(PrivateNetworks::Allowed);
    let request = allowed.post(&format!("http://localhost:{port}/")).unwrap();
    assert_eq!(
        allowed.send(request).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_body_past_the_cap_is_an_error() {
    // Announced: refused before reading.
    let announced =
        Canned::start("HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\nconnection: close\r\n\r\n")
            .await;
    let c = client(PrivateNetworks::Allowed);
    let answer = c
        .send(c.post(&format!("http://{}/", announced.addr)).unwrap())
        .await
        .unwrap();
    assert!(matches!(
        answer.body().await,
        Err(OutboundError::TooLarge { max: 1024 })
    ));

    // Streamed without end: reading stops at the cap instead of waiting for all of it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = conn.read(&mut buf).await;
        let _ = conn
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 512, "x".repeat(512));
        while conn.write_all(chunk.as_bytes()).await.is_ok() {}
    });
    let answer = c
        .send(c.post(&format!("http://{addr}/")).unwrap())
        .await
        .unwrap();
    let err = answer.body().await.unwrap_err();
    assert!(
        matches!(err, OutboundError::TooLarge { max: 1024 }),
        "{err:?}"
    );
}
