//! Random identifiers and the digests used to verify secrets and tokens.
//!
//! Client secrets are 42 random alphanumerics (~250 bits), so a fast salted SHA-256 is as
//! strong as a slow password hash here: nobody can brute-force that space, and a fast digest
//! keeps `/oauth/access_token` cheap. Comparisons are on digests and constant-time.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a generated `client_id`, in characters (as in Elastic Path's examples).
pub const CLIENT_ID_CHARS: usize = 42;
/// Length of a generated `client_secret`, in characters.
pub const CLIENT_SECRET_CHARS: usize = 42;
/// Random bytes in an access token (hex-encoded: 40 characters, like Elastic Path's).
pub const TOKEN_BYTES: usize = 20;
/// Random bytes of a secret's salt.
pub const SALT_BYTES: usize = 16;

/// `n` random ASCII letters and digits from the thread-local CSPRNG.
pub fn random_alphanumeric(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A fresh access token.
pub fn new_token() -> String {
    let bytes: [u8; TOKEN_BYTES] = rand::thread_rng().gen();
    hex(&bytes)
}

/// A fresh salt, hex-encoded (it is stored and hashed in this form).
pub fn new_salt() -> String {
    let bytes: [u8; SALT_BYTES] = rand::thread_rng().gen();
    hex(&bytes)
}

/// hex(SHA-256(salt · secret)): what a key record stores instead of its secret.
pub fn secret_hash(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    hex(&h.finalize())
}

/// Whether `presented` is the secret whose salted hash is `stored_hash`.
pub fn verify_secret(salt: &str, stored_hash: &str, presented: &str) -> bool {
    let computed = secret_hash(salt, presented);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Constant-time comparison of a configured plain secret (the admin client's) with a
/// presented one: both are hashed first so neither length nor content leaks through timing.
pub fn plain_secret_matches(configured: &str, presented: &str) -> bool {
    let a = Sha256::digest(configured.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    a.ct_eq(&b).into()
}

/// SHA-256 of an access token: its engine key, so stored data holds no usable token.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identifiers_have_the_documented_shape() {
        let id = random_alphanumeric(CLIENT_ID_CHARS);
        assert_eq!(id.len(), CLIENT_ID_CHARS);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, random_alphanumeric(CLIENT_ID_CHARS));
        let t = new_token();
        assert_eq!(t.len(), 2 * TOKEN_BYTES);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(new_salt().len(), 2 * SALT_BYTES);
    }

    #[test]
    fn secrets_verify_only_with_their_own_salt_and_value() {
        let salt = new_salt();
        let hash = secret_hash(&salt, "s3cret");
        assert!(verify_secret(&salt, &hash, "s3cret"));
        assert!(!verify_secret(&salt, &hash, "s3cre"));
        assert!(!verify_secret(&new_salt(), &hash, "s3cret"));
        assert!(!hash.contains("s3cret"));
    }

    #[test]
    fn plain_secret_comparison() {
        assert!(plain_secret_matches("admin-secret", "admin-secret"));
        assert!(!plain_secret_matches("admin-secret", "admin-secreT"));
        assert!(!plain_secret_matches("admin-secret", ""));
    }

    #[test]
    fn hex_encodes_lowercase() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
