//! `X-Hub-Signature-256`: HMAC-SHA256 of the exact body with the webhook secret, compared in
//! constant time. SHA-1 signatures (`X-Hub-Signature`) are not accepted.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("malformed X-Hub-Signature-256 header (expected sha256=<64 hex digits>)")]
    Malformed,
    #[error("signature does not match the webhook secret")]
    Mismatch,
}

pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex_sig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let given = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// The header GitHub would send for `body` (for tests and the fake GitHub).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in GitHub's documentation ("Validating webhook deliveries", testing the
    /// webhook payload validation): secret, payload and the signature GitHub sends for them.
    #[test]
    fn githubs_documented_example_verifies() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(verify(secret, Some(header), body), Ok(()));
        assert_eq!(sign(secret, body), header);
        assert_eq!(
            verify(secret, Some(header), b"Hello, World?"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn only_the_exact_sha256_signature_passes() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let good = sign(b"s3cret", body);
        assert_eq!(verify(b"s3cret", Some(&good), body), Ok(()));
        assert_eq!(verify(b"other", Some(&good), body), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"s3cret", Some(&good), b"{}"), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"s3cret", None, body), Err(SignatureError::Missing));
        assert_eq!(
            verify(b"s3cret", Some(&good[..good.len() - 2]), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"s3cret", Some("sha1=0123456789abcdef0123456789abcdef01234567"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"s3cret", Some(&good.replace("sha256=", "sha256=zz")[..71]), body),
            Err(SignatureError::Malformed)
        );
    }
}
