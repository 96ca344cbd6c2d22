//! App JWTs and signed call tokens: what is signed verifies to the same claims, any single-byte
//! change does not verify, and no header or token text panics the verifier.

use proptest::prelude::*;

use super::{config, json_value, nasty_string};
use crate::auth::{
    AppClaims, CallToken, now, sign_app_jwt, sign_call_token, verify_app_jwt, verify_call_token,
    verify_command_token,
};

fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{43}",
        nasty_string().prop_filter("an install always has a secret", |s| !s.is_empty()),
    ]
}

fn app_claims() -> impl Strategy<Value = AppClaims> {
    (
        0u64..1_000_000,
        nasty_string(),
        prop_oneof![Just(String::new()), nasty_string()],
    )
        .prop_map(|(ahead, acting_user_id, iss)| AppClaims {
            exp: now() + 60 + ahead,
            acting_user_id,
            iss,
        })
}

fn call_token() -> impl Strategy<Value = CallToken> {
    (
        nasty_string(),
        nasty_string(),
        prop::option::of(0u64..1_000_000),
        prop::option::of(json_value(&[]).prop_filter("null is no state", |v| !v.is_null())),
        any::<bool>(),
    )
        .prop_map(|(path, user_id, ahead, state, lookup)| CallToken {
            path,
            user_id,
            exp: ahead.map(|a| now() + 60 + a),
            state,
            lookup,
        })
}

/// `token` with the byte at `at` replaced by a different printable ASCII byte.
fn with_one_byte_changed(token: &str, at: prop::sample::Index, to: u8) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = at.index(bytes.len());
    bytes[i] = if bytes[i] == to {
        b'!' + (to - b'!' + 1) % 94
    } else {
        to
    };
    String::from_utf8(bytes).expect("JWTs are ASCII")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn app_jwts_verify_to_their_claims(claims in app_claims(), secret in secret()) {
        let token = sign_app_jwt(&claims, &secret);
        let header = format!("Bearer {token}");
        prop_assert_eq!(verify_app_jwt(Some(&header), &secret), Ok(claims));
    }

    #[test]
    fn a_changed_byte_breaks_an_app_jwt(
        claims in app_claims(),
        secret in secret(),
        at in any::<prop::sample::Index>(),
        to in b'!'..=b'~',
    ) {
        let token = with_one_byte_changed(&sign_app_jwt(&claims, &secret), at, to);
        let header = format!("Bearer {token}");
        prop_assert!(verify_app_jwt(Some(&header), &secret).is_err(), "{}", token);
    }

    #[test]
    fn call_tokens_verify_to_their_claims(token in call_token(), secret in secret()) {
        let signed = sign_call_token(&token, &secret);
        prop_assert_eq!(verify_call_token(&signed, &secret), Ok(token));
    }

    #[test]
    fn a_changed_byte_breaks_a_call_token(
        token in call_token(),
        secret in secret(),
        at in any::<prop::sample::Index>(),
        to in b'!'..=b'~',
    ) {
        let changed = with_one_byte_changed(&sign_call_token(&token, &secret), at, to);
        prop_assert!(verify_call_token(&changed, &secret).is_err(), "{}", changed);
    }

    /// The two kinds never pass for each other, even under the same install secret.
    #[test]
    fn call_tokens_are_not_app_jwts(claims in app_claims(), token in call_token(), secret in secret()) {
        let jwt = sign_app_jwt(&claims, &secret);
        prop_assert!(verify_call_token(&jwt, &secret).is_err());
        let signed = sign_call_token(&token, &secret);
        let header = format!("Bearer {signed}");
        prop_assert!(verify_app_jwt(Some(&header), &secret).is_err());
    }

    #[test]
    fn any_header_or_token_text_is_refused_without_panic(text in nasty_string(), secret in secret()) {
        prop_assert!(verify_app_jwt(Some(&text), &secret).is_err());
        let header = format!("Bearer {text}");
        prop_assert!(verify_app_jwt(Some(&header), &secret).is_err());
        prop_assert!(verify_call_token(&text, &secret).is_err());
        let _ = verify_command_token(Some(&text), [secret.as_str(), ""]);
    }
}
