//! Sending webhook deliveries: target checks, signatures, HTTP.

use std::net::ToSocketAddrs;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use prm_domain::events::is_public_ip;
use rand::RngCore;
use sha2::Sha256;

/// How webhooks are sent.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Allow loopback and private targets (`PRM_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
    pub timeout: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// First retry delay; each next one doubles, up to an hour.
    pub retry_base: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(5),
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
        }
    }
}

/// A fresh signing secret: 32 random bytes, hex, with a recognisable prefix.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Prm-Signature` for a body sent at unix time `t`:
/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex(&mac.finalize().into_bytes()))
}

/// Checks a webhook URL: http(s), a host, and (unless allowed) only public
/// addresses for every address the host resolves to. Blocks on DNS.
pub fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "must be an absolute http or https URL".to_owned())?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("only http and https URLs are accepted".to_owned()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err("must name a host (and no credentials)".to_owned());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
            Ok(p) if !h.is_empty() => (h, p),
            _ if authority.starts_with('[') && authority.ends_with(']') => {
                (authority, default_port)
            }
            _ => return Err("has an invalid port".to_owned()),
        },
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("the host `{host}` does not resolve"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("the host `{host}` does not resolve"));
    }
    if !allow_private && addrs.iter().any(|a| !is_public_ip(a.ip())) {
        return Err("only globally reachable addresses are accepted: this host resolves to a loopback, private, reserved or other special-purpose address".to_owned());
    }
    Ok(())
}

/// The outcome of one attempt.
#[derive(Debug)]
pub enum Sent {
    Delivered(u16),
    Failed { status: Option<u16>, error: String },
}

/// Sends one event body to a URL, signed; no redirects are followed.
pub fn send(
    client: &reqwest::blocking::Client,
    settings: &WebhookSettings,
    url: &str,
    secret: &str,
    event_id: uuid::Uuid,
    body: &str,
) -> Sent {
    if let Err(e) = check_target(url, settings.allow_private) {
        return Sent::Failed {
            status: None,
            error: format!("target refused: {e}"),
        };
    }
    let t = Utc::now().timestamp();
    let result = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Prm-Signature", signature(secret, t, body))
        .header("Prm-Event-Id", event_id.to_string())
        .body(body.to_owned())
        .send();
    match result {
        Ok(res) if res.status().is_success() => Sent::Delivered(res.status().as_u16()),
        Ok(res) => Sent::Failed {
            status: Some(res.status().as_u16()),
            error: format!("receiver answered {}", res.status()),
        },
        Err(e) if e.is_timeout() => Sent::Failed {
            status: None,
            error: "timed out".to_owned(),
        },
        Err(e) => Sent::Failed {
            status: None,
            error: format!("not delivered: {e}"),
        },
    }
}

/// The HTTP client for deliveries.
pub fn client(settings: &WebhookSettings) -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("prm-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Expected value computed independently (Python's hmac module).
        let s = signature("Jefe", 1, "what do ya want for nothing?");
        assert_eq!(
            s,
            "t=1,v1=a9049465ce89cfb8e9aac62333abda66f80e3403f51f57f6bae3c3a4485eca38"
        );
        assert_ne!(s, signature("Jefe", 2, "what do ya want for nothing?"));
    }

    #[test]
    fn targets_must_be_public_http_urls_unless_allowed() {
        assert!(check_target("ftp://example.com/x", true).is_err());
        assert!(check_target("http://user:pw@127.0.0.1/x", true).is_err());
        assert!(check_target("http://127.0.0.1:9/x", false).is_err());
        assert!(check_target("http://localhost:9/x", false).is_err());
        assert!(check_target("http://[::1]:9/x", false).is_err());
        assert!(check_target("http://169.254.169.254/latest", false).is_err());
        assert!(check_target("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_target("http://93.184.216.34/hook", false).is_ok());
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(a, b);
    }
}
