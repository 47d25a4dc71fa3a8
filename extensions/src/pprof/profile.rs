//! A CPU profile in the pprof format (`profile.proto` of github.com/google/pprof), from
//! the stacks the sampling profiler took: samples (count and CPU nanoseconds) per stack,
//! each frame a location with its (inlined) functions and lines, the thread as a label.

use std::collections::HashMap;
use std::io::Write;

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueType {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(int64, tag = "1")]
    pub key: i64,
    #[prost(int64, tag = "2")]
    pub str: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Location {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "3")]
    pub address: u64,
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Line {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Function {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
}

/// Strings, locations and functions, each kept once.
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    functions: Vec<Function>,
    function_ids: HashMap<(String, String), u64>,
    locations: Vec<Location>,
    location_ids: HashMap<Vec<(u64, i64)>, u64>,
}

impl Tables {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (name.to_string(), file.to_string());
        if let Some(id) = self.function_ids.get(&key) {
            return *id;
        }
        let id = self.functions.len() as u64 + 1;
        let (name_id, file_id) = (self.string(name), self.string(file));
        self.functions.push(Function {
            id,
            name: name_id,
            system_name: name_id,
            filename: file_id,
        });
        self.function_ids.insert(key, id);
        id
    }

    fn location(&mut self, lines: Vec<(u64, i64)>, address: u64) -> u64 {
        if let Some(id) = self.location_ids.get(&lines) {
            return *id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(Location {
            id,
            address,
            line: lines
                .iter()
                .map(|(function_id, line)| Line {
                    function_id: *function_id,
                    line: *line,
                })
                .collect(),
        });
        self.location_ids.insert(lines, id);
        id
    }
}

/// The profile of `report`, gzip-compressed as Go's `net/http/pprof` serves it.
pub fn encode(report: &pprof::Report) -> std::io::Result<Vec<u8>> {
    let mut t = Tables::default();
    t.string("");
    let period = 1_000_000_000 / i64::from(report.timing.frequency.max(1));
    let (samples, count, cpu, nanoseconds, thread) = (
        t.string("samples"),
        t.string("count"),
        t.string("cpu"),
        t.string("nanoseconds"),
        t.string("thread"),
    );
    let mut sample = Vec::with_capacity(report.data.len());
    for (frames, n) in &report.data {
        let mut location_id = Vec::with_capacity(frames.frames.len());
        for frame in &frames.frames {
            // One address, its inlined functions innermost first.
            let lines: Vec<(u64, i64)> = frame
                .iter()
                .map(|symbol| {
                    let f = t.function(&symbol.name(), &symbol.filename());
                    (f, i64::from(symbol.lineno()))
                })
                .collect();
            let address = frame
                .first()
                .and_then(|s| s.addr)
                .map_or(0, |a| a as usize as u64);
            location_id.push(t.location(lines, address));
        }
        let name = frames.thread_name_or_id();
        sample.push(Sample {
            location_id,
            value: vec![*n as i64, *n as i64 * period],
            label: vec![Label {
                key: thread,
                str: t.string(&name),
            }],
        });
    }
    let start = report
        .timing
        .start_time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let profile = Profile {
        sample_type: vec![
            ValueType {
                r#type: samples,
                unit: count,
            },
            ValueType {
                r#type: cpu,
                unit: nanoseconds,
            },
        ],
        sample,
        location: t.locations,
        function: t.functions,
        string_table: t.strings,
        time_nanos: start.as_nanos() as i64,
        duration_nanos: report.timing.duration.as_nanos() as i64,
        period_type: Some(ValueType {
            r#type: cpu,
            unit: nanoseconds,
        }),
        period,
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&profile.encode_to_vec())?;
    gz.finish()
}
