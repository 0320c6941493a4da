use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A per-tenant HMAC key. Fingerprints are `hex(HMAC-SHA256(key, value))`.
#[derive(Clone)]
pub struct FingerprintKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

impl FingerprintKey {
    /// A key from raw bytes.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// The key for `tenant`, derived from a deployment-wide master key, so one secret
    /// configures every tenant and fingerprints never collide across tenants.
    pub fn for_tenant(master: &[u8], tenant: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(master).unwrap_or_else(|_| unreachable_mac());
        mac.update(b"sightline-fingerprint-v1\0");
        mac.update(tenant.as_bytes());
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    /// Hex fingerprint of `value`.
    pub fn fingerprint(&self, value: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_mac());
        mac.update(value);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// HMAC accepts keys of any length; this is never reached.
fn unreachable_mac() -> HmacSha256 {
    #[allow(clippy::unwrap_used)]
    HmacSha256::new_from_slice(b"k").unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_tenant_same_fingerprint() {
        let a = FingerprintKey::for_tenant(b"master", "acme");
        let b = FingerprintKey::for_tenant(b"master", "acme");
        let other = FingerprintKey::for_tenant(b"master", "globex");
        assert_eq!(a.fingerprint(b"s3cret"), b.fingerprint(b"s3cret"));
        assert_ne!(a.fingerprint(b"s3cret"), other.fingerprint(b"s3cret"));
        assert_ne!(a.fingerprint(b"s3cret"), a.fingerprint(b"s3cres"));
        assert_eq!(a.fingerprint(b"x").len(), 64);
        assert!(!format!("{a:?}").contains("master"));
    }
}
