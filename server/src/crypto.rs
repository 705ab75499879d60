//! Keys derived from the one configured secret: cookie encryption, token sealing at rest, CSRF
//! tokens, session-id hashing and repository secrets at rest each get their own key
//! (HKDF-SHA256), so no key serves twice.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::SecretKeySource;

#[derive(Clone)]
pub struct Keys {
    cookie: [u8; 64],
    token: [u8; 32],
    csrf: [u8; 32],
    secrets: [u8; 32],
}

/// Seals and opens repository secrets' values at rest, with a key of their own. Each value is
/// bound to its repository and name (associated data), so a value copied to another row of the
/// database does not open there.
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create the secret key file {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("the secret key file {0} is damaged; delete it to generate a new one (signed-in users sign in again)")]
    Damaged(String),
}

impl Keys {
    /// Loads the configured key, or the generated one from the data directory (creating it once).
    pub fn load(source: &SecretKeySource) -> Result<Keys, KeyError> {
        let secret = match source {
            SecretKeySource::Given(k) => k.clone(),
            SecretKeySource::File(path) => load_or_create(path)?,
        };
        Ok(Self::derive(&secret))
    }

    pub fn derive(secret: &[u8]) -> Keys {
        let hk = Hkdf::<Sha256>::new(Some(b"sicuro"), secret);
        let mut keys = Keys {
            cookie: [0; 64],
            token: [0; 32],
            csrf: [0; 32],
            secrets: [0; 32],
        };
        hk.expand(b"cookies", &mut keys.cookie)
            .expect("64 bytes is a valid length");
        hk.expand(b"tokens at rest", &mut keys.token)
            .expect("32 bytes is a valid length");
        hk.expand(b"csrf", &mut keys.csrf).expect("32 bytes is a valid length");
        hk.expand(b"repository secrets at rest", &mut keys.secrets)
            .expect("32 bytes is a valid length");
        keys
    }

    /// The sealer of repository secrets.
    pub fn secret_box(&self) -> SecretBox {
        SecretBox { key: self.secrets }
    }

    /// The key for axum-extra's private (encrypted and authenticated) cookies.
    pub fn cookie_key(&self) -> axum_extra::extract::cookie::Key {
        axum_extra::extract::cookie::Key::from(&self.cookie)
    }

    /// Encrypts a token for storage: random nonce ‖ ciphertext (XChaCha20-Poly1305).
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.token).into());
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
                .expect("encryption of a short token cannot fail"),
        );
        out
    }

    /// Decrypts a stored token; `None` if it was sealed with another key or tampered with.
    pub fn open(&self, sealed: &[u8]) -> Option<String> {
        if sealed.len() < 24 {
            return None;
        }
        let cipher = XChaCha20Poly1305::new((&self.token).into());
        let (nonce, ciphertext) = sealed.split_at(24);
        let plain = cipher.decrypt(XNonce::from_slice(nonce), ciphertext).ok()?;
        String::from_utf8(plain).ok()
    }

    /// The CSRF token of a browser session: an HMAC of its id, so it needs no storage.
    pub fn csrf_token(&self, session_id: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf).expect("any key length works");
        mac.update(session_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Compares in constant time.
    pub fn csrf_valid(&self, session_id: &str, token: &str) -> bool {
        let Ok(given) = hex::decode(token) else { return false };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf).expect("any key length works");
        mac.update(session_id.as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

impl SecretBox {
    /// random nonce ‖ XChaCha20-Poly1305(value), authenticated with the repository and name.
    pub fn seal(&self, repo_id: i64, name: &str, value: &str) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = secret_aad(repo_id, name);
        let payload = chacha20poly1305::aead::Payload {
            msg: value.as_bytes(),
            aad: &aad,
        };
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(XNonce::from_slice(&nonce), payload)
                .expect("encryption of 64 KiB cannot fail"),
        );
        out
    }

    /// The value; `None` if sealed with another key, for another row, or tampered with.
    pub fn open(&self, repo_id: i64, name: &str, sealed: &[u8]) -> Option<String> {
        if sealed.len() < 24 {
            return None;
        }
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let (nonce, ciphertext) = sealed.split_at(24);
        let aad = secret_aad(repo_id, name);
        let payload = chacha20poly1305::aead::Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let plain = cipher.decrypt(XNonce::from_slice(nonce), payload).ok()?;
        String::from_utf8(plain).ok()
    }
}

fn secret_aad(repo_id: i64, name: &str) -> Vec<u8> {
    format!("sicuro repository secret\0{repo_id}\0{name}").into_bytes()
}

/// Session ids are stored hashed, so the database alone cannot be used to take over a session.
pub fn hash_session_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// A random identifier for sessions and OAuth `state`.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn load_or_create(path: &Path) -> Result<Vec<u8>, KeyError> {
    let err = |source| KeyError::File {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let key = hex::decode(s.trim()).map_err(|_| KeyError::Damaged(path.display().to_string()))?;
            if key.len() < 32 {
                return Err(KeyError::Damaged(path.display().to_string()));
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let mut key = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            write_private(path, &hex::encode(key)).map_err(err)?;
            tracing::info!("generated a secret key in {}", path.display());
            Ok(key.to_vec())
        }
        Err(e) => Err(err(e)),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_with_the_same_key() {
        let a = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let b = Keys::derive(b"another key, also 32 bytes long!");
        let sealed = a.seal("gho_secret");
        assert!(!sealed.windows(10).any(|w| w == b"gho_secret"), "not stored in clear");
        assert_eq!(a.open(&sealed).as_deref(), Some("gho_secret"));
        assert_eq!(b.open(&sealed), None);
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(a.open(&tampered), None);
        assert_ne!(a.seal("gho_secret"), sealed, "fresh nonce each time");
    }

    #[test]
    fn secrets_have_their_own_key_and_open_only_in_their_own_row() {
        let k = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let b = k.secret_box();
        let sealed = b.seal(7, "NPM_TOKEN", "npm_0123456789");
        assert!(
            !sealed.windows(14).any(|w| w == b"npm_0123456789"),
            "not stored in clear"
        );
        assert_eq!(b.open(7, "NPM_TOKEN", &sealed).as_deref(), Some("npm_0123456789"));
        assert_eq!(b.open(8, "NPM_TOKEN", &sealed), None, "another repository");
        assert_eq!(b.open(7, "OTHER", &sealed), None, "another name");
        assert_eq!(k.open(&sealed), None, "the tokens' key does not open it");
        let other = Keys::derive(b"another key, also 32 bytes long!").secret_box();
        assert_eq!(other.open(7, "NPM_TOKEN", &sealed), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let k = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let t = k.csrf_token("session-1");
        assert!(k.csrf_valid("session-1", &t));
        assert!(!k.csrf_valid("session-2", &t));
        assert!(!k.csrf_valid("session-1", "zz"));
        assert!(!k.csrf_valid("session-1", ""));
    }

    #[test]
    fn a_generated_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let k1 = Keys::load(&SecretKeySource::File(path.clone())).unwrap();
        let k2 = Keys::load(&SecretKeySource::File(path.clone())).unwrap();
        assert_eq!(k1.csrf_token("s"), k2.csrf_token("s"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
