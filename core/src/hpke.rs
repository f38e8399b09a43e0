//! HPKE, RFC 9180, base mode only: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, and an AEAD
//! (AES-256-GCM in Samordna; AES-128-GCM only to check the RFC's published vectors).
//!
//! X25519 comes from x25519-dalek (ring cannot do static-key agreement); HKDF (as HMAC, RFC 5869)
//! and the AEAD come from ring. Secrets are zeroised when dropped.
//!
//! Section numbers below are RFC 9180's.

use ring::{aead, hkdf, hmac};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

/// Why an HPKE operation failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HpkeError {
    /// The Diffie-Hellman output was all zeros: the peer's public key is of small order (§7.1.4).
    #[error("the public key is not usable (non-contributory shared secret)")]
    NonContributory,
    /// The ciphertext or its associated data was changed, or the key is not the recipient's.
    #[error("decryption failed: the sealed key was changed or is for another key")]
    OpenFailed,
    /// A length out of range (encapsulated key, export length, sequence overflow).
    #[error("invalid length")]
    InvalidLength,
}

/// The AEAD of a suite (§7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aead {
    /// AES-128-GCM, id 0x0001. Only to check the RFC's vectors.
    Aes128Gcm,
    /// AES-256-GCM, id 0x0002. What Samordna uses.
    Aes256Gcm,
}

impl Aead {
    fn id(self) -> u16 {
        match self {
            Aead::Aes128Gcm => 0x0001,
            Aead::Aes256Gcm => 0x0002,
        }
    }
    fn ring(self) -> &'static aead::Algorithm {
        match self {
            Aead::Aes128Gcm => &aead::AES_128_GCM,
            Aead::Aes256Gcm => &aead::AES_256_GCM,
        }
    }
    fn nk(self) -> usize {
        self.ring().key_len()
    }
}

const KEM_ID: u16 = 0x0020; // DHKEM(X25519, HKDF-SHA256)
const KDF_ID: u16 = 0x0001; // HKDF-SHA256
const NH: usize = 32; // HKDF-SHA256 output
const NN: usize = 12; // AEAD nonce
/// Length of the encapsulated key (an X25519 public key).
pub const NENC: usize = 32;
const MODE_BASE: u8 = 0x00;

/// A KDF input made of several parts, fed to HMAC without concatenating secrets into a buffer.
fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[&[u8]]) -> Zeroizing<[u8; NH]> {
    // §4: LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm),
    // and RFC 5869: Extract(salt, IKM) = HMAC-Hash(salt, IKM) (an empty salt acts as HashLen zeros).
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"HPKE-v1");
    ctx.update(suite_id);
    ctx.update(label);
    for part in ikm {
        ctx.update(part);
    }
    let mut prk = Zeroizing::new([0u8; NH]);
    prk.copy_from_slice(ctx.sign().as_ref());
    prk
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8; NH],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), HpkeError> {
    // §4: LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)
    let l = u16::try_from(out.len()).map_err(|_| HpkeError::InvalidLength)?.to_be_bytes();
    hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, prk)
        .expand(&[&l, b"HPKE-v1", suite_id, label, info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| HpkeError::InvalidLength)
}

fn kem_suite_id() -> [u8; 5] {
    let [a, b] = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', a, b]
}

fn hpke_suite_id(aead: Aead) -> [u8; 10] {
    let mut id = [0u8; 10];
    id[..4].copy_from_slice(b"HPKE");
    id[4..6].copy_from_slice(&KEM_ID.to_be_bytes());
    id[6..8].copy_from_slice(&KDF_ID.to_be_bytes());
    id[8..].copy_from_slice(&aead.id().to_be_bytes());
    id
}

/// DeriveKeyPair for X25519 (§7.1.3): deterministic key pairs from input keying material.
pub fn derive_key_pair(ikm: &[u8]) -> (StaticSecret, PublicKey) {
    let suite = kem_suite_id();
    let dkp_prk = labeled_extract(&suite, b"", b"dkp_prk", &[ikm]);
    let mut sk = Zeroizing::new([0u8; 32]);
    // 32 bytes always fit an HKDF-SHA256 expansion, so this cannot fail.
    let _ = labeled_expand(&suite, &dkp_prk, b"sk", b"", sk.as_mut());
    let secret = StaticSecret::from(*sk);
    let public = PublicKey::from(&secret);
    (secret, public)
}

fn dh(sk: &StaticSecret, pk: &PublicKey) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let shared = sk.diffie_hellman(pk);
    if !shared.was_contributory() {
        return Err(HpkeError::NonContributory);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// ExtractAndExpand of DHKEM (§4.1).
fn extract_and_expand(dh: &[u8; 32], enc: &[u8; 32], pk_r: &[u8; 32]) -> Zeroizing<[u8; NH]> {
    let suite = kem_suite_id();
    let eae_prk = labeled_extract(&suite, b"", b"eae_prk", &[dh]);
    let mut kem_context = [0u8; 64];
    kem_context[..32].copy_from_slice(enc);
    kem_context[32..].copy_from_slice(pk_r);
    let mut shared = Zeroizing::new([0u8; NH]);
    let _ = labeled_expand(&suite, &eae_prk, b"shared_secret", &kem_context, shared.as_mut());
    shared
}

/// Encap with a given ephemeral secret (§4.1). Callers draw the ephemeral secret from a secure
/// random source; tests pass the RFC's.
pub fn encap(
    pk_r: &PublicKey,
    ephemeral: &StaticSecret,
) -> Result<(Zeroizing<[u8; NH]>, [u8; NENC]), HpkeError> {
    let pk_e = PublicKey::from(ephemeral);
    let dh = dh(ephemeral, pk_r)?;
    let enc = pk_e.to_bytes();
    Ok((extract_and_expand(&dh, &enc, pk_r.as_bytes()), enc))
}

/// Decap (§4.1).
pub fn decap(enc: &[u8; NENC], sk_r: &StaticSecret) -> Result<Zeroizing<[u8; NH]>, HpkeError> {
    let pk_e = PublicKey::from(*enc);
    let dh = dh(sk_r, &pk_e)?;
    let pk_r = PublicKey::from(sk_r);
    Ok(extract_and_expand(&dh, enc, pk_r.as_bytes()))
}

/// The outputs of KeySchedule (§5.1), with the secret exposed to tests for the RFC vector.
pub struct Context {
    aead: Aead,
    key: aead::LessSafeKey,
    base_nonce: [u8; NN],
    exporter_secret: Zeroizing<[u8; NH]>,
    seq: u64,
    /// `secret`, kept only to compare against the RFC's vector.
    #[cfg(test)]
    pub(crate) secret: Zeroizing<[u8; NH]>,
    #[cfg(test)]
    pub(crate) key_bytes: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("hpke::Context").field("aead", &self.aead).field("seq", &self.seq).finish()
    }
}

/// KeySchedule in base mode (§5.1): `psk` and `psk_id` are empty.
pub fn key_schedule(aead: Aead, shared_secret: &[u8; NH], info: &[u8]) -> Context {
    let suite = hpke_suite_id(aead);
    let psk_id_hash = labeled_extract(&suite, b"", b"psk_id_hash", &[b""]);
    let info_hash = labeled_extract(&suite, b"", b"info_hash", &[info]);
    let mut ks_context = [0u8; 1 + 2 * NH];
    ks_context[0] = MODE_BASE;
    ks_context[1..1 + NH].copy_from_slice(psk_id_hash.as_ref());
    ks_context[1 + NH..].copy_from_slice(info_hash.as_ref());
    let secret = labeled_extract(&suite, shared_secret, b"secret", &[b""]);

    let mut key = Zeroizing::new(vec![0u8; aead.nk()]);
    let mut base_nonce = [0u8; NN];
    let mut exporter_secret = Zeroizing::new([0u8; NH]);
    // Lengths are at most 32 bytes: the expansions cannot fail.
    let _ = labeled_expand(&suite, &secret, b"key", &ks_context, &mut key);
    let _ = labeled_expand(&suite, &secret, b"base_nonce", &ks_context, &mut base_nonce);
    let _ = labeled_expand(&suite, &secret, b"exp", &ks_context, exporter_secret.as_mut());
    let unbound =
        aead::UnboundKey::new(aead.ring(), &key).unwrap_or_else(|_| unreachable!("key length is Nk"));
    Context {
        aead,
        key: aead::LessSafeKey::new(unbound),
        base_nonce,
        exporter_secret,
        seq: 0,
        #[cfg(test)]
        secret,
        #[cfg(test)]
        key_bytes: key,
    }
}

impl Context {
    /// The nonce for the current sequence number (§5.2): base_nonce XOR I2OSP(seq, Nn).
    fn nonce(&self) -> aead::Nonce {
        let mut n = self.base_nonce;
        for (b, s) in n[NN - 8..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        aead::Nonce::assume_unique_for_key(n)
    }

    fn advance(&mut self) -> Result<(), HpkeError> {
        self.seq = self.seq.checked_add(1).ok_or(HpkeError::InvalidLength)?;
        Ok(())
    }

    /// The current sequence number.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// The base nonce (for checking the RFC's vector).
    pub fn base_nonce(&self) -> &[u8; NN] {
        &self.base_nonce
    }

    /// ContextS.Seal (§5.2).
    pub fn seal(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, HpkeError> {
        let mut buf = pt.to_vec();
        self.key
            .seal_in_place_append_tag(self.nonce(), aead::Aad::from(aad), &mut buf)
            .map_err(|_| HpkeError::InvalidLength)?;
        self.advance()?;
        Ok(buf)
    }

    /// ContextR.Open (§5.2). The plaintext is zeroised on drop.
    pub fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, HpkeError> {
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = self
            .key
            .open_in_place(self.nonce(), aead::Aad::from(aad), &mut buf)
            .map_err(|_| HpkeError::OpenFailed)?
            .len();
        buf.truncate(len);
        self.advance()?;
        Ok(buf)
    }

    /// Context.Export (§5.3).
    pub fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<(), HpkeError> {
        labeled_expand(&hpke_suite_id(self.aead), &self.exporter_secret, b"sec", exporter_context, out)
    }
}

/// SetupBaseS (§5.1.1) with a caller-drawn ephemeral secret.
pub fn setup_base_s(
    aead: Aead,
    pk_r: &PublicKey,
    info: &[u8],
    ephemeral: &StaticSecret,
) -> Result<([u8; NENC], Context), HpkeError> {
    let (shared, enc) = encap(pk_r, ephemeral)?;
    Ok((enc, key_schedule(aead, &shared, info)))
}

/// SetupBaseR (§5.1.1).
pub fn setup_base_r(
    aead: Aead,
    enc: &[u8; NENC],
    sk_r: &StaticSecret,
    info: &[u8],
) -> Result<Context, HpkeError> {
    let shared = decap(enc, sk_r)?;
    Ok(key_schedule(aead, &shared, info))
}

/// Single-shot seal (§6.1) in Samordna's suite (AES-256-GCM): returns (enc, ciphertext).
pub fn seal(
    pk_r: &PublicKey,
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
    ephemeral: &StaticSecret,
) -> Result<([u8; NENC], Vec<u8>), HpkeError> {
    let (enc, mut ctx) = setup_base_s(Aead::Aes256Gcm, pk_r, info, ephemeral)?;
    Ok((enc, ctx.seal(aad, pt)?))
}

/// Single-shot open (§6.1) in Samordna's suite.
pub fn open(
    enc: &[u8; NENC],
    sk_r: &StaticSecret,
    info: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HpkeError> {
    setup_base_r(Aead::Aes256Gcm, enc, sk_r, info)?.open(aad, ct)
}

impl Drop for Context {
    fn drop(&mut self) {
        self.base_nonce.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `key: value` pairs of the RFC's vector file, in order; hex values may continue on following lines.
    fn parse_vectors(text: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("~~~") {
                continue;
            }
            match line.split_once(':') {
                Some((k, v))
                    if !k.is_empty()
                        && k.chars().all(|c| {
                            c.is_ascii_lowercase() || c == '_' || c == ' ' || c.is_ascii_uppercase()
                        }) =>
                {
                    out.push((k.trim().to_owned(), v.trim().to_owned()));
                }
                _ if line.chars().all(|c| c.is_ascii_hexdigit()) => {
                    if let Some(last) = out.last_mut() {
                        last.1.push_str(line);
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn arr32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    #[test]
    fn rfc9180_a_1_1_base_mode_vector() {
        let pairs = parse_vectors(include_str!("../tests/vectors/rfc9180-a1-1-base.txt"));
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("mode"), "0");
        assert_eq!(get("kem_id"), "32");
        assert_eq!(get("kdf_id"), "1");
        assert_eq!(get("aead_id"), "1", "the RFC vector is for AES-128-GCM");

        let (sk_e, pk_e) = derive_key_pair(&h(get("ikmE")));
        assert_eq!(sk_e.to_bytes(), arr32(get("skEm")));
        assert_eq!(pk_e.to_bytes(), arr32(get("pkEm")));
        let (sk_r, pk_r) = derive_key_pair(&h(get("ikmR")));
        assert_eq!(sk_r.to_bytes(), arr32(get("skRm")));
        assert_eq!(pk_r.to_bytes(), arr32(get("pkRm")));

        let (shared, enc) = encap(&pk_r, &sk_e).unwrap();
        assert_eq!(enc, arr32(get("enc")));
        assert_eq!(*shared, arr32(get("shared_secret")));
        assert_eq!(*decap(&enc, &sk_r).unwrap(), arr32(get("shared_secret")));

        let info = h(get("info"));
        let mut sender = key_schedule(Aead::Aes128Gcm, &shared, &info);
        assert_eq!(*sender.secret, arr32(get("secret")));
        assert_eq!(sender.key_bytes.as_slice(), h(get("key")).as_slice());
        assert_eq!(sender.base_nonce().as_slice(), h(get("base_nonce")).as_slice());
        assert_eq!(*sender.exporter_secret, arr32(get("exporter_secret")));
        let mut receiver = setup_base_r(Aead::Aes128Gcm, &enc, &sk_r, &info).unwrap();

        // Encryptions: each group starts with "sequence number"; skipped numbers are sealed and discarded.
        let mut checked = 0;
        for (i, (k, v)) in pairs.iter().enumerate() {
            if k != "sequence number" {
                continue;
            }
            let seq: u64 = v.parse().unwrap();
            let field = |name: &str| h(&pairs[i + 1..].iter().find(|(k, _)| k == name).unwrap().1);
            while sender.sequence() < seq {
                sender.seal(b"", b"").unwrap();
                receiver.seq += 1;
            }
            assert_eq!(sender.nonce().as_ref(), field("nonce").as_slice(), "nonce at {seq}");
            let ct = sender.seal(&field("aad"), &field("pt")).unwrap();
            assert_eq!(ct, field("ct"), "ciphertext at {seq}");
            assert_eq!(receiver.open(&field("aad"), &ct).unwrap().as_slice(), field("pt").as_slice());
            checked += 1;
        }
        assert_eq!(checked, 6, "all six encryptions of the vector were checked");

        // Exports: only complete entries (the vector file ends inside the third).
        let mut exports = 0;
        for (i, (k, v)) in pairs.iter().enumerate() {
            if k != "exporter_context" {
                continue;
            }
            let (Some((lk, l)), Some((ek, expected))) = (pairs.get(i + 1), pairs.get(i + 2)) else {
                continue;
            };
            assert_eq!((lk.as_str(), ek.as_str()), ("L", "exported_value"));
            let mut out = vec![0u8; l.parse().unwrap()];
            sender.export(&h(v), &mut out).unwrap();
            assert_eq!(out, h(expected));
            exports += 1;
        }
        assert!(exports >= 2, "exports checked: {exports}");
    }

    #[test]
    fn aes_256_gcm_round_trip_and_tamper() {
        let (sk_r, pk_r) = derive_key_pair(b"recipient");
        let (eph, _) = derive_key_pair(b"ephemeral");
        let (enc, ct) = seal(&pk_r, b"info", b"aad", b"content key", &eph).unwrap();
        assert_eq!(open(&enc, &sk_r, b"info", b"aad", &ct).unwrap().as_slice(), b"content key");
        assert_eq!(open(&enc, &sk_r, b"info", b"other aad", &ct), Err(HpkeError::OpenFailed));
        assert_eq!(open(&enc, &sk_r, b"other info", b"aad", &ct), Err(HpkeError::OpenFailed));
        let (other, _) = derive_key_pair(b"someone else");
        assert_eq!(open(&enc, &other, b"info", b"aad", &ct), Err(HpkeError::OpenFailed));
    }

    #[test]
    fn non_contributory_shared_secrets_are_rejected() {
        let (eph, _) = derive_key_pair(b"ephemeral");
        let (sk_r, _) = derive_key_pair(b"recipient");
        // The identity and a point of order 8 on Curve25519 (RFC 7748 §6.1 advice; libsodium's blocklist).
        let small_order: [[u8; 32]; 2] = [
            [0; 32],
            hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .unwrap()
                .try_into()
                .unwrap(),
        ];
        for point in small_order {
            assert_eq!(encap(&PublicKey::from(point), &eph).err(), Some(HpkeError::NonContributory));
            assert_eq!(decap(&point, &sk_r).err(), Some(HpkeError::NonContributory));
        }
    }
}
