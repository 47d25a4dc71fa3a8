//! Components' key-value state (`storage: file_storage` in a receiver such as `filelog`):
//! one subdirectory per component (`receiver-filelog`, `receiver-filelog+name`), one file
//! per key. A value is replaced by writing a temporary file, fsyncing it, renaming it over
//! the old one and fsyncing the directory, so after `set` returns the value survives a
//! crash or a power loss, and a crash during `set` leaves the old value or the new.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use llamacol_api::storage::StorageClient;
use llamacol_api::BoxError;

pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn open(dir: PathBuf) -> Result<StateDir, BoxError> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating `{}`: {e}", dir.display()))?;
        Ok(StateDir { dir })
    }

    /// A key as a file name: letters, digits, `-`, `_` and `.` kept, every other byte
    /// `%XX`, so any key maps to one name and back.
    fn path(&self, key: &str) -> PathBuf {
        let mut name = String::with_capacity(key.len());
        for b in key.bytes() {
            if b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_')
                || (b == b'.' && !name.is_empty())
            {
                name.push(b as char);
            } else {
                name.push_str(&format!("%{b:02X}"));
            }
        }
        self.dir.join(name)
    }
}

fn replace(dir: &Path, path: &Path, value: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp~");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(value)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl StorageClient for StateDir {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BoxError> {
        match tokio::fs::read(self.path(key)).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading `{key}` in `{}`: {e}", self.dir.display()).into()),
        }
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), BoxError> {
        let (dir, path, value) = (self.dir.clone(), self.path(key), value.to_vec());
        tokio::task::spawn_blocking(move || replace(&dir, &path, &value))
            .await?
            .map_err(|e| format!("writing `{key}` in `{}`: {e}", self.dir.display()).into())
    }

    async fn delete(&self, key: &str) -> Result<(), BoxError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("deleting `{key}` in `{}`: {e}", self.dir.display()).into()),
        }
    }
}
