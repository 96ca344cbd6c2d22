//! Wire types, one module per protocol family. Decoding is lenient (unknown fields are ignored,
//! bare strings are accepted where Mattermost accepts them); encoding follows Go's `omitempty`
//! rules of the original structs so that Mattermost reads exactly what it expects.

pub mod apps;
pub mod classic;
pub mod invoke;
pub mod model;

/// `skip_serializing_if` helper for Go's `omitempty` on booleans.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// `skip_serializing_if` helper for Go's `omitempty` on integers.
pub(crate) fn is_zero(n: &i64) -> bool {
    *n == 0
}
