//! Open Parquet files per signal and partition. Each file is written as
//! `part-<unix-ms>-<id>.parquet.tmp` beside its final name, and on close fsynced and
//! renamed (then the directory fsynced), so a reader never sees a partial `.parquet`
//! file; a crash leaves at most the open `.tmp` files, removed on the next start.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::config::{ParquetCompression, ParquetConfig};
use super::schema::SCHEMA_VERSION;

const TMP_SUFFIX: &str = ".parquet.tmp";

/// Columns of the three tables with min/max statistics (row-group and page pruning). Not
/// `trace_id`: random ids give every page and row group nearly the whole range, so its
/// min/max would prune nothing and cost two 32-byte comparisons per row.
const FILTERED_COLUMNS: [&str; 15] = [
    "start_time",
    "end_time",
    "time",
    "observed_time",
    "duration_ns",
    "name",
    "service_name",
    "status_code",
    "gen_ai_operation_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "gen_ai_provider_name",
    "error_type",
    "metric_name",
    "severity_number",
];

/// Columns of the three tables written without a dictionary.
const UNIQUE_COLUMNS: [&str; 8] = [
    "trace_id",
    "span_id",
    "parent_span_id",
    "start_time",
    "end_time",
    "duration_ns",
    "time",
    "observed_time",
];

struct OpenFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    done: PathBuf,
    opened: Instant,
}

pub struct Files {
    root: PathBuf,
    props: WriterProperties,
    max_bytes: u64,
    max_age: Duration,
    open: HashMap<(String, String), OpenFile>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Files {
    /// Files under `root` (the `path`, or the staging directory of an `s3://` path).
    pub fn new(c: &ParquetConfig, root: PathBuf) -> Result<Files, parquet::errors::ParquetError> {
        let compression = match c.compression {
            ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::try_new(c.compression_level)?),
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::None => Compression::UNCOMPRESSED,
        };
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(c.row_group_size))
            .set_dictionary_enabled(true)
            // Min/max of every map key and value cost two comparisons per entry and help
            // no reader (none prunes row groups on map entries): statistics only for the
            // top-level columns queries filter on.
            .set_statistics_enabled(EnabledStatistics::None);
        for column in FILTERED_COLUMNS {
            props = props
                .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::Page);
        }
        // Ids and times are (nearly) unique per row: a dictionary would only be built,
        // outgrow its page and be thrown away, costing a hash and compare per value.
        for column in UNIQUE_COLUMNS {
            props = props.set_column_dictionary_enabled(ColumnPath::from(column), false);
        }
        let props = props
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "schema_version".to_string(),
                SCHEMA_VERSION.to_string(),
            )]))
            .build();
        Ok(Files {
            root,
            props,
            max_bytes: c.max_file_size_mib << 20,
            max_age: c.max_file_age,
            open: HashMap::new(),
        })
    }

    /// Appends `batch` to the open file of (`signal`, `partition`), opening one if needed;
    /// closes it once it is past the size bound.
    pub fn write(
        &mut self,
        signal: &str,
        partition: &str,
        batch: &RecordBatch,
    ) -> std::io::Result<()> {
        let key = (signal.to_string(), partition.to_string());
        if !self.open.contains_key(&key) {
            let file = self.create(signal, partition, batch)?;
            self.open.insert(key.clone(), file);
        }
        let Some(file) = self.open.get_mut(&key) else {
            return Ok(());
        };
        file.writer.write(batch).map_err(to_io)?;
        if file.writer.bytes_written() as u64 + file.writer.in_progress_size() as u64
            >= self.max_bytes
        {
            if let Some(f) = self.open.remove(&key) {
                finish(f)?;
            }
        }
        Ok(())
    }

    fn create(
        &self,
        signal: &str,
        partition: &str,
        batch: &RecordBatch,
    ) -> std::io::Result<OpenFile> {
        let dir = self.root.join(signal).join(partition);
        std::fs::create_dir_all(&dir)?;
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let id = unique_id();
        let done = dir.join(format!("part-{ms}-{id}.parquet"));
        let tmp = dir.join(format!("part-{ms}-{id}{TMP_SUFFIX}"));
        let file = File::create(&tmp)?;
        let writer =
            ArrowWriter::try_new(file, batch.schema(), Some(self.props.clone())).map_err(to_io)?;
        Ok(OpenFile {
            writer,
            tmp,
            done,
            opened: Instant::now(),
        })
    }

    /// Closes the files opened `max_file_age` ago or earlier.
    pub fn close_old(&mut self) -> std::io::Result<()> {
        let old: Vec<(String, String)> = self
            .open
            .iter()
            .filter(|(_, f)| f.opened.elapsed() >= self.max_age)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            if let Some(f) = self.open.remove(&k) {
                finish(f)?;
            }
        }
        Ok(())
    }

    pub fn close_all(&mut self) -> std::io::Result<()> {
        let mut first_error = None;
        for (_, f) in self.open.drain() {
            match finish(f) {
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Footer, fsync, rename, fsync the directory.
fn finish(f: OpenFile) -> std::io::Result<()> {
    let file = f.writer.into_inner().map_err(to_io)?;
    file.sync_all()?;
    std::fs::rename(&f.tmp, &f.done)?;
    if let Some(dir) = f.done.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Removes `.parquet.tmp` files left under `root` by a crash; returns how many.
pub fn remove_leftovers(root: &Path) -> usize {
    let mut removed = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.to_string_lossy().ends_with(TMP_SUFFIX)
                && std::fs::remove_file(&path).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

fn to_io(e: impl std::error::Error + Send + Sync + 'static) -> std::io::Error {
    std::io::Error::other(e)
}

/// 32 hex digits, unique per process and time (pid, nanoseconds, a sequence), mixed.
fn unique_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let a = mix(nanos ^ (u64::from(std::process::id()) << 40));
    let b = mix(seq ^ a.rotate_left(17));
    format!("{a:016x}{b:016x}")
}

/// `date=YYYY-MM-DD/hour=HH` of a Unix time in nanoseconds (UTC).
pub fn partition(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let hour = (secs % 86_400) / 3600;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("date={year:04}-{month:02}-{day:02}/hour={hour:02}")
}

#[cfg(test)]
mod tests {
    use super::partition;

    #[test]
    fn partitions_are_utc_dates_and_hours() {
        assert_eq!(partition(0), "date=1970-01-01/hour=00");
        // 2026-11-26T03:40:00Z
        assert_eq!(
            partition(1_795_664_400_000_000_000),
            "date=2026-11-26/hour=03"
        );
        // 2024-02-29T23:59:59Z (a leap day)
        assert_eq!(
            partition(1_709_251_199_000_000_000),
            "date=2024-02-29/hour=23"
        );
    }
}
