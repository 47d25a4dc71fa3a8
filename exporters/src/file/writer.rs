//! Appending lines to a file, rotating it by size the way lumberjack (the Collector's
//! rotation library) does: the full file is renamed `<stem>-<UTC time>.<ext>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::config::Rotation;

pub struct LineWriter {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Option<Rotation>,
}

impl LineWriter {
    pub fn open(path: &Path, rotation: Option<Rotation>) -> io::Result<LineWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LineWriter {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
        })
    }

    /// Writes `line` and a newline in one write, rotating first if it would not fit.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if let Some(max) = self
            .rotation
            .as_ref()
            .map(|r| r.max_megabytes * 1024 * 1024)
        {
            if self.size > 0 && self.size + len > max {
                self.rotate()?;
            }
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file.write_all(&buf)?;
        self.size += len;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.sync_data()
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let backup = self.backup_name();
        fs::rename(&self.path, &backup)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        self.prune()
    }

    fn stem_ext(&self) -> (String, String) {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = self
            .path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        (stem, ext)
    }

    fn backup_name(&self) -> PathBuf {
        let (stem, ext) = self.stem_ext();
        // 2026-11-24T18-56-03.123 (colons are not portable in file names).
        let stamp = humantime::format_rfc3339_millis(SystemTime::now())
            .to_string()
            .trim_end_matches('Z')
            .replace(':', "-");
        let mut candidate = self.path.with_file_name(format!("{stem}-{stamp}{ext}"));
        let mut n = 1;
        while candidate.exists() {
            candidate = self.path.with_file_name(format!("{stem}-{stamp}.{n}{ext}"));
            n += 1;
        }
        candidate
    }

    /// Removes the oldest backups beyond `max_backups`.
    fn prune(&self) -> io::Result<()> {
        let keep = self.rotation.as_ref().map_or(0, |r| r.max_backups);
        if keep == 0 {
            return Ok(());
        }
        let (stem, ext) = self.stem_ext();
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let prefix = format!("{stem}-");
        let mut backups: Vec<(SystemTime, PathBuf)> = fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(&prefix) && name.ends_with(&ext)
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        backups.sort();
        let excess = backups.len().saturating_sub(keep);
        for (_, old) in backups.into_iter().take(excess) {
            fs::remove_file(old)?;
        }
        Ok(())
    }
}
