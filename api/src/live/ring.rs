//! A fixed-size table of time series: one row per second at most, the last
//! [`WINDOW_SECONDS`] rows kept, so its memory is set when it is made and never grows.

use std::collections::VecDeque;

/// How far back every chart on the live page reaches: 15 minutes of one-second rows.
pub const WINDOW_SECONDS: usize = 900;

/// Rows of `(time, values...)` under fixed column names. A row recorded within the same
/// second as the last one replaces it, so a component that reads faster than once a
/// second still keeps 15 minutes.
#[derive(Debug, Clone)]
pub struct Ring {
    columns: &'static [&'static str],
    /// Unix seconds.
    times: VecDeque<f64>,
    /// Row-major, `columns.len()` values per row; NaN where a value was missing.
    values: VecDeque<f64>,
}

impl Ring {
    pub fn new(columns: &'static [&'static str]) -> Ring {
        Ring {
            columns,
            times: VecDeque::with_capacity(WINDOW_SECONDS),
            values: VecDeque::with_capacity(WINDOW_SECONDS * columns.len()),
        }
    }

    pub fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Adds a row at `time` (Unix seconds). `values` has one entry per column (`None`:
    /// missing); extra entries are ignored, missing ones are recorded as missing.
    pub fn push(&mut self, time: f64, values: &[Option<f64>]) {
        let width = self.columns.len();
        if self
            .times
            .back()
            .is_some_and(|last| time.floor() <= last.floor())
        {
            self.times.pop_back();
            self.values.truncate(self.values.len() - width);
        } else if self.times.len() == WINDOW_SECONDS {
            self.times.pop_front();
            self.values.drain(..width);
        }
        self.times.push_back(time);
        self.values
            .extend((0..width).map(|i| values.get(i).copied().flatten().unwrap_or(f64::NAN)));
    }

    /// The latest value of `column`, when the last row has one.
    pub fn last(&self, column: &str) -> Option<f64> {
        let i = self.columns.iter().position(|c| *c == column)?;
        let width = self.columns.len();
        let v = *self.values.get(self.values.len().checked_sub(width)? + i)?;
        (!v.is_nan()).then_some(v)
    }

    /// The rows after `since` (Unix seconds) as columns, the way uPlot takes them:
    /// `{"t": [...], "<column>": [...]}`, missing values as `null`.
    pub fn json_since(&self, since: f64) -> serde_json::Value {
        let first = self.times.partition_point(|t| *t <= since);
        let width = self.columns.len();
        let mut out = serde_json::Map::with_capacity(width + 1);
        out.insert(
            "t".into(),
            self.times.range(first..).map(|t| number(*t)).collect(),
        );
        for (i, name) in self.columns.iter().enumerate() {
            let column = (first..self.times.len())
                .map(|row| number(self.values[row * width + i]))
                .collect();
            out.insert((*name).into(), column);
        }
        serde_json::Value::Object(out)
    }
}

/// A JSON number, or `null` for NaN and infinities (which JSON cannot carry).
pub fn number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[&str] = &["a", "b"];

    #[test]
    fn keeps_the_last_window_and_replaces_rows_within_one_second() {
        let mut ring = Ring::new(COLUMNS);
        for s in 0..(WINDOW_SECONDS as u32 + 100) {
            ring.push(f64::from(s), &[Some(f64::from(s)), None]);
        }
        assert_eq!(ring.len(), WINDOW_SECONDS);
        assert_eq!(ring.last("a"), Some((WINDOW_SECONDS + 99) as f64));
        assert_eq!(ring.last("b"), None);
        ring.push((WINDOW_SECONDS + 99) as f64 + 0.5, &[Some(-1.0), Some(2.0)]);
        assert_eq!(ring.len(), WINDOW_SECONDS, "same second: replaced");
        assert_eq!(ring.last("a"), Some(-1.0));
        assert_eq!(ring.last("b"), Some(2.0));
    }

    #[test]
    fn json_since_returns_only_newer_rows_with_null_for_missing() {
        let mut ring = Ring::new(COLUMNS);
        ring.push(10.0, &[Some(1.0), Some(2.0)]);
        ring.push(11.0, &[None, Some(f64::INFINITY)]);
        ring.push(12.0, &[Some(3.0)]);
        assert_eq!(
            ring.json_since(10.0),
            serde_json::json!({"t": [11.0, 12.0], "a": [null, 3.0], "b": [null, null]})
        );
        assert_eq!(
            ring.json_since(0.0)["t"],
            serde_json::json!([10.0, 11.0, 12.0])
        );
    }
}
