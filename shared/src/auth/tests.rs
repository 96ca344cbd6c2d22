use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

const SECRET: &str = "install-secret";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn valid_claims() -> AppClaims {
    AppClaims {
        exp: now() + 900,
        acting_user_id: "u1".into(),
        ..Default::default()
    }
}

#[test]
fn accepts_a_valid_hs256_token() {
    let token = sign_app_jwt(&valid_claims(), SECRET);
    let claims = verify_app_jwt(Some(&bearer(&token)), SECRET).unwrap();
    assert_eq!(claims.acting_user_id, "u1");
}

#[test]
fn refuses_missing_or_non_bearer_headers() {
    assert_eq!(verify_app_jwt(None, SECRET), Err(AuthError::MissingJwt));
    let token = sign_app_jwt(&valid_claims(), SECRET);
    assert_eq!(
        verify_app_jwt(Some(&format!("Token {token}")), SECRET),
        Err(AuthError::NotBearer)
    );
    assert_eq!(
        verify_app_jwt(Some(&format!("Bearer{token}")), SECRET),
        Err(AuthError::NotBearer)
    );
}

#[test]
fn the_bearer_scheme_is_read_in_any_case() {
    for header in ["Bearer t0k", "bearer t0k", "BEARER  t0k ", " BeArEr t0k"] {
        assert_eq!(bearer_token(header), Some("t0k"), "{header:?}");
    }
    for header in ["Token t0k", "Bearert0k", "Bearer", ""] {
        assert_eq!(bearer_token(header), None, "{header:?}");
    }
    let token = sign_app_jwt(&valid_claims(), SECRET);
    assert!(verify_app_jwt(Some(&format!("BEARER {token}")), SECRET).is_ok());
}

#[test]
fn refuses_alg_none() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&valid_claims()).unwrap());
    let token = format!("{header}.{claims}.");
    let err = verify_app_jwt(Some(&bearer(&token)), SECRET).unwrap_err();
    assert!(
        matches!(err, AuthError::WrongAlgorithm | AuthError::Malformed(_)),
        "{err:?}"
    );
}

#[test]
fn refuses_other_algorithms() {
    let token = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &valid_claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verify_app_jwt(Some(&bearer(&token)), SECRET),
        Err(AuthError::WrongAlgorithm)
    );
}

#[test]
fn refuses_expired_and_not_yet_valid_tokens() {
    let expired = sign_app_jwt(
        &AppClaims {
            exp: now() - 120,
            ..valid_claims()
        },
        SECRET,
    );
    assert_eq!(
        verify_app_jwt(Some(&bearer(&expired)), SECRET),
        Err(AuthError::Expired)
    );
    let future = jsonwebtoken::encode(
        &Header::default(),
        &json!({"exp": now() + 900, "nbf": now() + 600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verify_app_jwt(Some(&bearer(&future)), SECRET),
        Err(AuthError::NotYetValid)
    );
}

#[test]
fn accepts_a_token_expired_within_the_clock_leeway() {
    // Mattermost's clock may run behind ours: 10 s past `exp` is still within the 30 s leeway.
    let late = sign_app_jwt(
        &AppClaims {
            exp: now() - 10,
            ..valid_claims()
        },
        SECRET,
    );
    assert!(verify_app_jwt(Some(&bearer(&late)), SECRET).is_ok());
    let too_late = sign_app_jwt(
        &AppClaims {
            exp: now() - 40,
            ..valid_claims()
        },
        SECRET,
    );
    assert_eq!(
        verify_app_jwt(Some(&bearer(&too_late)), SECRET),
        Err(AuthError::Expired)
    );
}

#[test]
fn refuses_missing_exp() {
    let token = jsonwebtoken::encode(
        &Header::default(),
        &json!({"acting_user_id": "u1"}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert!(
        matches!(verify_app_jwt(Some(&bearer(&token)), SECRET), Err(AuthError::Malformed(m)) if m.contains("exp"))
    );
}

#[test]
fn refuses_another_installs_signature_and_garbage() {
    let token = sign_app_jwt(&valid_claims(), "another-tenant-secret");
    assert_eq!(
        verify_app_jwt(Some(&bearer(&token)), SECRET),
        Err(AuthError::BadSignature)
    );
    assert!(matches!(
        verify_app_jwt(Some("Bearer not-a-jwt"), SECRET),
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        verify_app_jwt(Some("Bearer a.b.c"), SECRET),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn call_tokens_round_trip_and_never_pass_as_app_jwts() {
    let token = CallToken {
        path: "/send".into(),
        user_id: "u1".into(),
        exp: Some(now() + 60),
        state: None,
        lookup: false,
    };
    let signed = sign_call_token(&token, SECRET);
    assert_eq!(verify_call_token(&signed, SECRET).unwrap(), token);
    assert_eq!(
        verify_call_token(&signed, "other"),
        Err(AuthError::BadSignature)
    );
    assert_eq!(
        verify_app_jwt(Some(&bearer(&signed)), SECRET),
        Err(AuthError::BadSignature)
    );
    let forever = CallToken {
        path: "/send".into(),
        ..Default::default()
    };
    assert_eq!(
        verify_call_token(&sign_call_token(&forever, SECRET), SECRET).unwrap(),
        forever
    );
    let stale = CallToken {
        exp: Some(now() - 120),
        ..forever
    };
    assert_eq!(
        verify_call_token(&sign_call_token(&stale, SECRET), SECRET),
        Err(AuthError::Expired)
    );
}

#[test]
fn command_tokens_compare_exactly_against_the_stored_hashes() {
    let abc = hash_token("abc");
    let other = hash_token("other");
    let check = |given, hashes: &[&str]| verify_command_token(given, hashes.iter().copied());
    assert_eq!(check(Some("abc"), &[&abc]), Ok(()));
    assert_eq!(
        check(Some("abc"), &[&other, &abc]),
        Ok(()),
        "any accepted one"
    );
    assert_eq!(check(Some("abd"), &[&abc]), Err(AuthError::BadToken));
    assert_eq!(check(Some("ab"), &[&abc]), Err(AuthError::BadToken));
    assert_eq!(
        check(Some(&abc), &[&abc]),
        Err(AuthError::BadToken),
        "the hash is not the token"
    );
    assert_eq!(check(Some(""), &[&abc]), Err(AuthError::MissingToken));
    assert_eq!(check(None, &[&abc]), Err(AuthError::MissingToken));
    assert_eq!(check(Some("x"), &[""]), Err(AuthError::BadToken));
    assert_eq!(check(Some("x"), &[]), Err(AuthError::BadToken));
}

#[test]
fn secrets_are_random_and_url_safe() {
    let a = generate_secret();
    assert_ne!(a, generate_secret());
    assert_eq!(a.len(), 43);
    assert!(
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
}
