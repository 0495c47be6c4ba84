//! API tokens this console issues: `rgat_` and 43 base64url characters
//! (256 random bits). The prefix lets secret scanners recognise one; only
//! the SHA-256 of the whole token is stored, with a short hint to tell
//! tokens apart.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// What every token starts with.
pub const PREFIX: &str = "rgat_";

/// A new token: the secret (shown once), its hash and its hint.
pub struct Minted {
    pub secret: String,
    pub hash: String,
    pub hint: String,
}

pub fn mint() -> Minted {
    let bytes: [u8; 32] = rand::random();
    let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    Minted { hash: hash(&secret), hint: secret.chars().take(PREFIX.len() + 6).collect(), secret }
}

/// Hex SHA-256: what is stored and looked up.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a bearer value looks like one of ours (and not a JWT).
pub fn is_ours(token: &str) -> bool {
    token.len() == PREFIX.len() + 43 && token.starts_with(PREFIX) && token[PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_recognised_and_hashed() {
        let m = mint();
        assert!(is_ours(&m.secret));
        assert_eq!(hash(&m.secret), m.hash);
        assert!(m.secret.starts_with(&m.hint));
        assert_ne!(mint().secret, m.secret);
        assert!(!is_ours("eyJhbGciOiJSUzI1NiJ9.e30.sig"));
        assert!(!is_ours(&format!("{PREFIX}short")));
    }
}
