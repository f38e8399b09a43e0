//! The principal's X25519 encryption secrets, one file per key: `PROFILE/keys/<key_id>.key`, holding
//! the 32 secret bytes as 64 hex digits. Files are created with mode 0600 and refused if anyone
//! else can read them. Old keys are kept: they still open the envelopes sealed to them.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use ring::rand::{SecureRandom, SystemRandom};
use samordna_core::{KeyId, envelope::RecipientSecret};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The file name suffix of key files.
pub const KEY_FILE_SUFFIX: &str = ".key";

/// Why the key store could not be used. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// A file or directory could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A key file is readable by other users than its owner.
    #[error("the encryption key {0} can be read by other users; run `chmod 600 {0}`")]
    Permissions(PathBuf),
    /// A key file does not hold 64 hex digits.
    #[error("{0} is not a Samordna key file (it must hold the key as 64 hex digits)")]
    Malformed(PathBuf),
    /// A key file's name is not the id of the key it holds.
    #[error("{path} holds the key {key_id}; rename it to {key_id}{KEY_FILE_SUFFIX}")]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// The id of the key inside.
        key_id: KeyId,
    },
    /// The system's random source failed.
    #[error("the system's random source failed; no key was made")]
    Random,
}

/// A key loaded from the store.
#[derive(Debug)]
pub struct StoredKey {
    /// The secret (zeroised when dropped).
    pub secret: RecipientSecret,
    /// Its file.
    pub path: PathBuf,
    /// When the file was written, if the file system knows.
    pub created: Option<OffsetDateTime>,
}

/// The key directory of a profile.
#[derive(Clone, Debug)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The store in `dir` (usually [`crate::profile::Profile::keys_dir`]). Nothing is read yet.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a key.
    pub fn path_of(&self, key_id: &KeyId) -> PathBuf {
        self.dir.join(format!("{key_id}{KEY_FILE_SUFFIX}"))
    }

    /// Makes a new key from the system's random source and stores it.
    pub fn generate(&self) -> Result<StoredKey, KeyStoreError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(secret.as_mut()).map_err(|_| KeyStoreError::Random)?;
        self.store(&secret)
    }

    /// Stores a secret as a new file (never overwriting one), mode 0600 from the start.
    pub fn store(&self, secret: &[u8; 32]) -> Result<StoredKey, KeyStoreError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| KeyStoreError::Io { path, source }
        };
        // The directory only lists key ids (public), but there is no reason for others to look.
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(io_err(&self.dir))?;
        let key = RecipientSecret::from_bytes(*secret);
        let path = self.path_of(key.key_id());
        let mut text = Zeroizing::new(hex::encode(secret));
        text.push('\n');
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err(&path))?;
        // The umask can only narrow the mode; make it exactly 0600 so the owner can read it back.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io_err(&path))?;
        let created = modified(&path);
        Ok(StoredKey { secret: key, path, created })
    }

    /// Loads one key file, refusing it if others can read it or if it is not what its name says.
    pub fn load_file(path: &Path) -> Result<StoredKey, KeyStoreError> {
        let io_err = |source| KeyStoreError::Io { path: path.to_owned(), source };
        let meta = fs::metadata(path).map_err(io_err)?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyStoreError::Permissions(path.to_owned()));
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io_err)?);
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), bytes.as_mut())
            .map_err(|_| KeyStoreError::Malformed(path.to_owned()))?;
        let secret = RecipientSecret::from_bytes(*bytes);
        let expected = format!("{}{KEY_FILE_SUFFIX}", secret.key_id());
        if path.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
            return Err(KeyStoreError::NameMismatch {
                path: path.to_owned(),
                key_id: secret.key_id().clone(),
            });
        }
        Ok(StoredKey {
            secret,
            path: path.to_owned(),
            created: meta.modified().ok().map(OffsetDateTime::from),
        })
    }

    /// Loads one key by id.
    pub fn load(&self, key_id: &KeyId) -> Result<StoredKey, KeyStoreError> {
        Self::load_file(&self.path_of(key_id))
    }

    /// Loads every key, newest first. A missing directory is an empty store; any unusable key file
    /// is an error (a key silently skipped could mean an envelope that silently does not open).
    pub fn load_all(&self) -> Result<Vec<StoredKey>, KeyStoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(KeyStoreError::Io { path: self.dir.clone(), source }),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| KeyStoreError::Io { path: self.dir.clone(), source })?;
            let path = entry.path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(KEY_FILE_SUFFIX)) {
                keys.push(Self::load_file(&path)?);
            }
        }
        keys.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.path.cmp(&b.path)));
        Ok(keys)
    }
}

fn modified(path: &Path) -> Option<OffsetDateTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok().map(OffsetDateTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_private_files_and_reloads_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys"));
        assert!(store.load_all().unwrap().is_empty(), "a missing directory is an empty store");

        let a = store.generate().unwrap();
        let b = store.generate().unwrap();
        assert_ne!(a.secret.key_id(), b.secret.key_id());
        for k in [&a, &b] {
            assert_eq!(fs::metadata(&k.path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(k.path, store.path_of(k.secret.key_id()));
            let text = fs::read_to_string(&k.path).unwrap();
            assert_eq!(text.trim().len(), 64, "hex of 32 bytes");
        }
        assert_eq!(fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777, 0o700);

        let all = store.load_all().unwrap();
        let mut ids: Vec<_> = all.iter().map(|k| k.secret.key_id().clone()).collect();
        ids.sort();
        let mut expected = vec![a.secret.key_id().clone(), b.secret.key_id().clone()];
        expected.sort();
        assert_eq!(ids, expected);
        let again = store.load(a.secret.key_id()).unwrap();
        assert_eq!(again.secret.public_key(), a.secret.public_key());
    }

    #[test]
    fn never_overwrites_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        store.store(&[7; 32]).unwrap();
        assert!(matches!(store.store(&[7; 32]), Err(KeyStoreError::Io { .. })));
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = store.generate().unwrap();
        for mode in [0o640, 0o604, 0o644] {
            fs::set_permissions(&k.path, fs::Permissions::from_mode(mode)).unwrap();
            let err = store.load_all().unwrap_err();
            assert!(matches!(err, KeyStoreError::Permissions(_)), "{mode:o}: {err}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        fs::set_permissions(&k.path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(store.load_all().unwrap().len(), 1);
    }

    #[test]
    fn refuses_files_that_are_not_what_their_name_says() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = store.generate().unwrap();
        let renamed = dir.path().join("N-00000000000000000000000000.key");
        fs::rename(&k.path, &renamed).unwrap();
        assert!(matches!(store.load_all(), Err(KeyStoreError::NameMismatch { .. })));
        fs::write(&renamed, "not hex\n").unwrap();
        fs::set_permissions(&renamed, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(store.load_all(), Err(KeyStoreError::Malformed(_))));
        // Other files in the directory are not keys and are left alone.
        fs::remove_file(&renamed).unwrap();
        fs::write(dir.path().join("README"), "notes").unwrap();
        assert!(store.load_all().unwrap().is_empty());
    }
}
