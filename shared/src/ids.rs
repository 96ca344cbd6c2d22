//! The one owner of the rules for ids and call paths that come from outside: tenant and app ids
//! (which end up in URLs, DynamoDB keys, Lambda alias names `t-<tenant>`, Mattermost trigger words
//! and the admin token `<tenant>.<secret>`), Mattermost's own ids, and app call paths.

/// The longest tenant or app id: room for `t-<tenant>` in a Lambda alias and for the names the
/// Apps plugin derives from an app id (it hashes whatever exceeds 64 characters).
pub const MAX_ID_LEN: usize = 32;

/// What [`valid_id`] accepts, said to the user.
pub const ID_RULE: &str =
    "1 to 32 lowercase letters, digits, `-` or `_`, starting with a letter or digit";

/// Tenant and app ids: valid unchanged in every place an id goes. No `.` (URL clients normalise
/// `.` and `..` away, Lambda alias names refuse it, and it separates the admin token's parts), no
/// upper case (Mattermost lowercases trigger words; `Acme` and `acme` would be two tenants).
pub fn valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// The longest Mattermost id accepted. Mattermost's own are 26 letters and digits
/// (`model.IsValidId`); shorter ones are accepted for hand-written test events.
pub const MAX_MATTERMOST_ID_LEN: usize = 64;

/// A Mattermost user, channel, team or post id: ASCII letters and digits only, so nothing an
/// event carries can smuggle a newline, a NUL or a path into what the host sends on.
pub fn valid_mattermost_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_MATTERMOST_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checks an optional Mattermost id field (empty means absent), naming the field when it is bad.
pub fn check_mattermost_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || valid_mattermost_id(id) {
        Ok(())
    } else {
        Err(format!(
            "`{field}` is not a Mattermost id: use 1 to {MAX_MATTERMOST_ID_LEN} ASCII letters and digits"
        ))
    }
}

/// The longest call path an app may name.
pub const MAX_CALL_PATH_LEN: usize = 256;

/// An app call path as Apps writes them (`/on-join`, `/v2/send`): absolute, clean (no empty,
/// `.` or `..` segments) and of URL-safe characters only, so appending it to a root URL cannot
/// leave that root.
pub fn valid_call_path(path: &str) -> bool {
    path.len() <= MAX_CALL_PATH_LEN
        && path.len() > 1
        && path.starts_with('/')
        && path[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_wherever_they_go() {
        for good in [
            "acme",
            "a",
            "0",
            "hello",
            "ext-app_2",
            &"a".repeat(MAX_ID_LEN),
        ] {
            assert!(valid_id(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a.b",
            "Acme",
            "-a",
            "_a",
            "a b",
            "a/b",
            "a\n",
            "é",
            "t#1",
            &"a".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn mattermost_ids_are_letters_and_digits() {
        assert!(valid_mattermost_id("c1"));
        assert!(valid_mattermost_id("4xp9fdt77pncbef59f4k1qe83o"));
        for bad in ["", "c\n1", "u\u{0}1", "a b", "a/b", "../x", &"a".repeat(65)] {
            assert!(!valid_mattermost_id(bad), "{bad:?}");
        }
        assert!(check_mattermost_id("channel_id", "").is_ok());
        assert!(
            check_mattermost_id("channel_id", "c\n1")
                .unwrap_err()
                .contains("`channel_id`")
        );
    }

    #[test]
    fn call_paths_stay_below_their_root() {
        for good in ["/on-join", "/v2/send", "/a.b/c~d"] {
            assert!(valid_call_path(good), "{good}");
        }
        for bad in [
            "",
            "/",
            "on-join",
            "//x",
            "/a//b",
            "/a/",
            "/../../../events/t/local",
            "/./x",
            "/a?b",
            "/a#b",
            "/a b",
            "/a%2e",
            &format!("/{}", "a".repeat(MAX_CALL_PATH_LEN)),
        ] {
            assert!(!valid_call_path(bad), "{bad:?}");
        }
    }
}
