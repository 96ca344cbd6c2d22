//! Authentication of what Mattermost sends: HS256 JWTs for Apps calls, command tokens for
//! classic slash commands, and signed call tokens that ride in dialog state and post-action
//! context so a later submission proves which command it belongs to.

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The header Mattermost puts the app JWT in.
pub const APP_AUTH_HEADER: &str = "mattermost-app-authorization";

/// How far clocks may disagree when checking `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing Mattermost-App-Authorization header; install the app with its JWT secret")]
    MissingJwt,
    #[error("Mattermost-App-Authorization must be \"Bearer <JWT>\"")]
    NotBearer,
    #[error("the JWT has expired")]
    Expired,
    #[error("the JWT is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("the JWT signature does not match this install's secret")]
    BadSignature,
    #[error("the JWT must be signed with HS256")]
    WrongAlgorithm,
    #[error("the JWT is malformed: {0}")]
    Malformed(String),
    #[error(
        "missing command token; send it as the form field `token` or `Authorization: Token <token>`"
    )]
    MissingToken,
    #[error("the command token does not match this install")]
    BadToken,
}

/// The claims of a Mattermost app JWT: `exp` plus the acting user, and `iss` when this host
/// signed it (Mattermost sets none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppClaims {
    #[serde(default)]
    pub exp: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acting_user_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
}

/// The issuer of the JWTs fan-out signs its deliveries with. The host's ingest routes refuse a
/// JWT with this issuer: whatever path a delivery takes back into the host (a subscription to
/// its own routes, a redirect, an app that forwards what it got), it cannot become a new event,
/// so no shape of loop can feed itself.
pub const DELIVERY_ISSUER: &str = "cloudapps/fanout";

static APP_VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = LEEWAY_SECONDS;
    v.validate_nbf = true;
    v
});

/// The token of an `Authorization`-style header value `Bearer <token>`; the scheme is
/// case-insensitive (RFC 7235), so `bearer` and `BEARER` are read too.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Verifies the `Mattermost-App-Authorization` header value against the install's secret.
pub fn verify_app_jwt(header: Option<&str>, secret: &str) -> Result<AppClaims, AuthError> {
    let header = header.ok_or(AuthError::MissingJwt)?;
    let token = bearer_token(header).ok_or(AuthError::NotBearer)?;
    decode(token, secret.as_bytes(), &APP_VALIDATION)
}

/// Signs app claims the way Mattermost does (used by tests, benchmarks and outgoing calls).
pub fn sign_app_jwt(claims: &AppClaims, secret: &str) -> String {
    encode(claims, secret.as_bytes())
}

/// A token that binds a later submission (a dialog or a post-action click) to the call path it
/// continues, signed with a key derived from the install's secret so it can never pass as an
/// app JWT. `user_id`, when set, is the only user who may submit it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallToken {
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
    /// A dynamic select's lookup, which only the lookup route takes (and it takes nothing
    /// else), so a lookup cannot run a submit nor a submission a lookup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lookup: bool,
}

static CALL_TOKEN_VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = LEEWAY_SECONDS;
    v.required_spec_claims.clear();
    v
});

fn call_token_key(secret: &str) -> Vec<u8> {
    format!("cloudapps/call-token/{secret}").into_bytes()
}

pub fn sign_call_token(token: &CallToken, secret: &str) -> String {
    encode(token, &call_token_key(secret))
}

pub fn verify_call_token(token: &str, secret: &str) -> Result<CallToken, AuthError> {
    decode(token, &call_token_key(secret), &CALL_TOKEN_VALIDATION)
}

/// Checks a classic command token against the [`hash_token`]s of the tokens an install accepts
/// (empty ones accept nothing), in constant time.
pub fn verify_command_token<'a>(
    given: Option<&str>,
    accepted_hashes: impl IntoIterator<Item = &'a str>,
) -> Result<(), AuthError> {
    let given = given
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::MissingToken)?;
    let given = hash_token(given);
    // Every hash is compared, so the time taken does not tell which one matched.
    let matched = accepted_hashes.into_iter().fold(false, |matched, hash| {
        matched | (!hash.is_empty() && bool::from(given.as_bytes().ct_eq(hash.as_bytes())))
    });
    if matched {
        Ok(())
    } else {
        Err(AuthError::BadToken)
    }
}

/// SHA-256 of a token, hex: what is stored of tokens that are only ever compared.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares a token with a stored [`hash_token`] in constant time.
pub fn token_matches_hash(token: &str, hash: &str) -> bool {
    !hash.is_empty() && bool::from(hash_token(token).as_bytes().ct_eq(hash.as_bytes()))
}

/// A fresh random secret: 32 bytes, URL-safe base64 without padding.
pub fn generate_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn encode<T: Serialize>(claims: &T, key: &[u8]) -> String {
    // HS256 encoding of a serialisable struct cannot fail.
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .expect("HS256 signing of plain claims")
}

fn decode<T: serde::de::DeserializeOwned>(
    token: &str,
    key: &[u8],
    validation: &Validation,
) -> Result<T, AuthError> {
    use jsonwebtoken::errors::ErrorKind;
    jsonwebtoken::decode::<T>(token, &DecodingKey::from_secret(key), validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                AuthError::WrongAlgorithm
            }
            ErrorKind::MissingRequiredClaim(claim) => {
                AuthError::Malformed(format!("the `{claim}` claim is missing"))
            }
            ErrorKind::InvalidToken => {
                AuthError::Malformed("expected three base64url parts".into())
            }
            ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::Base64(_) => {
                AuthError::Malformed("the header or claims are not valid base64url JSON".into())
            }
            _ => AuthError::Malformed("unreadable token".into()),
        })
}

#[cfg(test)]
mod tests;
