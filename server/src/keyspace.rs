//! How dialect data is laid out in the engine's single key space.
//!
//! Every engine key is `dialect byte · tenant length (u16 BE) · tenant · table byte · rest`.
//! The length prefix makes one tenant's keys never a prefix-match for another's, so tenants
//! are isolated by construction and prefix scans stay inside one (tenant, table).

/// The four dialects (and the server's own bookkeeping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Dialect {
    KeyValues = b'b',
    AppKeys = b'e',
    KeyStore = b'a',
    Voximplant = b'v',
}

/// The prefix shared by every key of one (dialect, tenant, table).
pub fn prefix(dialect: Dialect, tenant: &str, table: u8) -> Vec<u8> {
    let tenant = tenant.as_bytes();
    assert!(
        tenant.len() <= u16::MAX as usize,
        "tenant names are bounded by config"
    );
    let mut k = Vec::with_capacity(4 + tenant.len());
    k.push(dialect as u8);
    k.extend_from_slice(&(tenant.len() as u16).to_be_bytes());
    k.extend_from_slice(tenant);
    k.push(table);
    k
}

/// The engine key of `rest` in (dialect, tenant, table).
pub fn key(dialect: Dialect, tenant: &str, table: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = prefix(dialect, tenant, table);
    k.extend_from_slice(rest);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_never_share_a_prefix() {
        let a = prefix(Dialect::KeyStore, "ab", b'i');
        let b = key(Dialect::KeyStore, "a", b'i', b"b");
        assert!(!b.starts_with(&a));
        let c = key(Dialect::KeyStore, "ab", b'i', b"x");
        assert!(c.starts_with(&a));
    }

    #[test]
    fn dialects_never_share_a_prefix() {
        let a = prefix(Dialect::KeyStore, "t", b'i');
        let b = key(Dialect::KeyValues, "t", b'i', b"x");
        assert!(!b.starts_with(&a));
    }
}
