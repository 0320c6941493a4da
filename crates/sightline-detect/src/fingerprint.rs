use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A per-tenant HMAC key. Fingerprints are `hex(HMAC-SHA256(key, value))`.
///
/// Holds the keyed HMAC state (the hashed inner and outer pads), so a fingerprint costs only
/// the hashing of the value; cloning it is a copy of that state.
#[derive(Clone)]
pub struct FingerprintKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

impl FingerprintKey {
    /// A key from raw bytes.
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(key.as_ref()).unwrap_or_else(|_| unreachable_mac()),
        }
    }

    /// The key for `tenant`, derived from a deployment-wide master key, so one secret
    /// configures every tenant and fingerprints never collide across tenants.
    pub fn for_tenant(master: &[u8], tenant: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(master).unwrap_or_else(|_| unreachable_mac());
        mac.update(b"sightline-fingerprint-v1\0");
        mac.update(tenant.as_bytes());
        Self::new(mac.finalize().into_bytes())
    }

    /// Hex fingerprint of `value`.
    pub fn fingerprint(&self, value: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(value);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The master key and the tenant keys derived from it, each derived once: long-running
/// services fingerprint every call, and deriving a key costs more than using one.
pub struct KeyRing {
    master: Vec<u8>,
    tenants: RwLock<HashMap<String, FingerprintKey>>,
}

/// Derived keys kept at most; past this (tenant ids from a misbehaving identity source, say)
/// the cache starts over rather than grow.
const KEY_RING_CAPACITY: usize = 4096;

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(..)")
    }
}

impl KeyRing {
    /// A ring over `master`.
    pub fn new(master: impl Into<Vec<u8>>) -> Self {
        Self {
            master: master.into(),
            tenants: RwLock::default(),
        }
    }

    /// `tenant`'s key: [`FingerprintKey::for_tenant`] of the master key, cached.
    pub fn tenant(&self, tenant: &str) -> FingerprintKey {
        if let Some(key) = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
        {
            return key.clone();
        }
        let key = FingerprintKey::for_tenant(&self.master, tenant);
        let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        if tenants.len() >= KEY_RING_CAPACITY {
            tenants.clear();
        }
        tenants.insert(tenant.to_string(), key.clone());
        key
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

    #[test]
    fn fingerprints_are_hmac_sha256_and_the_ring_derives_the_same_keys() {
        // RFC 4231, test case 2.
        assert_eq!(
            FingerprintKey::new(b"Jefe").fingerprint(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let ring = KeyRing::new(b"master".to_vec());
        for tenant in ["acme", "globex", "acme"] {
            assert_eq!(
                ring.tenant(tenant).fingerprint(b"s3cret"),
                FingerprintKey::for_tenant(b"master", tenant).fingerprint(b"s3cret")
            );
        }
        assert!(!format!("{ring:?}").contains("master"));
    }
}
