//! OTLP exponential histograms as Prometheus native histograms: the same buckets, so a
//! scraper that speaks the protobuf format, and Remote Write 2.0, get them without the
//! series churn that fixed `le` bounds cause when an SDK rescales. Classic buckets are
//! derived from the same value for the text formats and Remote Write 1.0.

use llamacol_api::otlp::metrics::v1::exponential_histogram_data_point::Buckets as OtlpBuckets;
use llamacol_api::otlp::metrics::v1::ExponentialHistogramDataPoint;

use super::observe::Value;

/// The finest and coarsest schema Prometheus keeps (its `schema` is OTLP's `scale`).
pub const MAX_SCHEMA: i32 = 8;
pub const MIN_SCHEMA: i32 = -4;

/// Classic conversion gives one `le` bucket per exponential bucket: past this many the
/// exposition would be unreadable, and the point is dropped from the classic formats.
const MAX_CLASSIC_BUCKETS: usize = 2000;

/// One sign's buckets, dense from `offset` (OTLP's indexing: bucket `i` covers
/// `(base^i, base^(i+1)]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buckets {
    pub offset: i32,
    pub counts: Vec<u64>,
}

/// An exponential histogram point, kept at its own scale.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeHistogram {
    pub count: u64,
    pub sum: Option<f64>,
    pub scale: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub positive: Buckets,
    pub negative: Buckets,
}

/// A run of buckets in Prometheus' sparse layout: `offset` is the gap from the previous
/// span's end (from index 0 for the first span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// One sign's buckets as Prometheus encodes them: spans, and each bucket's count as the
/// difference from the previous bucket's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sparse {
    pub spans: Vec<Span>,
    pub deltas: Vec<i64>,
}

/// What a Prometheus native histogram carries, at a schema Prometheus accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Prometheus {
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub positive: Sparse,
    pub negative: Sparse,
}

impl NativeHistogram {
    pub fn from_otlp(p: &ExponentialHistogramDataPoint) -> NativeHistogram {
        let buckets = |b: &Option<OtlpBuckets>| {
            b.as_ref().map_or_else(Buckets::default, |b| Buckets {
                offset: b.offset,
                counts: b.bucket_counts.clone(),
            })
        };
        NativeHistogram {
            count: p.count,
            sum: p.sum,
            scale: p.scale,
            zero_threshold: p.zero_threshold,
            zero_count: p.zero_count,
            positive: buckets(&p.positive),
            negative: buckets(&p.negative),
        }
    }

    /// Whether the classic form has few enough buckets to list.
    pub fn classic_fits(&self) -> bool {
        self.negative.counts.len() <= MAX_CLASSIC_BUCKETS
            && self.positive.counts.len() <= MAX_CLASSIC_BUCKETS
    }

    /// The native form, downscaled to schema 8 when finer (merging buckets, counts kept);
    /// `None` below schema -4, which Prometheus cannot represent (the classic form is
    /// used for such a point).
    pub fn to_prometheus(&self) -> Option<Prometheus> {
        if self.scale < MIN_SCHEMA {
            return None;
        }
        let shift = (self.scale - MAX_SCHEMA).max(0) as u32;
        Some(Prometheus {
            schema: self.scale.min(MAX_SCHEMA),
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            positive: sparse(&downscale(&self.positive, shift)),
            negative: sparse(&downscale(&self.negative, shift)),
        })
    }

    /// Classic buckets with the exponential boundaries: bucket `i` of scale `s` covers
    /// `(base^i, base^(i+1)]` with base = 2^(2^-s); negative buckets mirror it; the zero
    /// bucket ends at the zero threshold. Counts are kept exactly. `None` when there are
    /// too many buckets to list.
    pub fn to_classic(&self) -> Option<Value> {
        if !self.classic_fits() {
            return None;
        }
        let base = 2f64.powf(2f64.powi(-self.scale));
        let mut pairs: Vec<(f64, u64)> = Vec::new();
        // Bucket (-(base^(i+1)), -(base^i)]: upper bound -(base^i). Most negative first.
        for (k, c) in self.negative.counts.iter().enumerate().rev() {
            let i = self.negative.offset as i64 + k as i64;
            pairs.push((-base.powi(i as i32), *c));
        }
        pairs.push((self.zero_threshold, self.zero_count));
        for (k, c) in self.positive.counts.iter().enumerate() {
            let i = self.positive.offset as i64 + k as i64;
            pairs.push((base.powi((i + 1) as i32), *c));
        }
        let bounds = pairs.iter().map(|(b, _)| *b).collect();
        let mut counts: Vec<u64> = pairs.iter().map(|(_, c)| *c).collect();
        counts.push(0);
        Some(Value::Histogram {
            count: self.count,
            sum: self.sum,
            bounds,
            counts,
        })
    }
}

/// Merges `2^shift` neighbouring buckets into one (index `i` becomes `i >> shift`,
/// rounding toward minus infinity, as the exponential mapping requires).
fn downscale(b: &Buckets, shift: u32) -> Buckets {
    if shift == 0 || b.counts.is_empty() {
        return b.clone();
    }
    let first = b.offset >> shift;
    let mut counts: Vec<u64> = Vec::new();
    for (k, c) in b.counts.iter().enumerate() {
        let index = ((b.offset as i64 + k as i64) >> shift) as i32;
        let slot = (index - first) as usize;
        if counts.len() <= slot {
            counts.resize(slot + 1, 0);
        }
        counts[slot] += c;
    }
    Buckets {
        offset: first,
        counts,
    }
}

/// Dense buckets to Prometheus spans and deltas. Prometheus' bucket `j` covers
/// `(base^(j-1), base^j]`, one above OTLP's index. Empty buckets at the ends are left
/// out; a run of more than two empty buckets inside starts a new span (two or fewer are
/// cheaper written as zero deltas), as the Collector's translator does.
fn sparse(b: &Buckets) -> Sparse {
    let mut out = Sparse::default();
    let mut previous_count = 0i64;
    // Index (Prometheus') just past the last bucket written, once one is.
    let mut end: Option<i32> = None;
    let mut k = 0;
    while k < b.counts.len() {
        if b.counts[k] == 0 {
            k += 1;
            continue;
        }
        let index = b.offset + k as i32 + 1;
        match end {
            Some(e) if index - e <= 2 => {
                // Fill the short gap with zeros inside the current span.
                for _ in e..index {
                    out.deltas.push(-previous_count);
                    previous_count = 0;
                }
                if let Some(span) = out.spans.last_mut() {
                    span.length += (index - e) as u32;
                }
            }
            Some(e) => out.spans.push(Span {
                offset: index - e,
                length: 0,
            }),
            None => out.spans.push(Span {
                offset: index,
                length: 0,
            }),
        }
        let count = b.counts[k] as i64;
        out.deltas.push(count - previous_count);
        previous_count = count;
        if let Some(span) = out.spans.last_mut() {
            span.length += 1;
        }
        end = Some(index + 1);
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(offset: i32, counts: &[u64]) -> Buckets {
        Buckets {
            offset,
            counts: counts.to_vec(),
        }
    }

    /// Expands spans and deltas back into (Prometheus index, count), as a reader would.
    fn expand(s: &Sparse) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        let (mut index, mut count, mut d) = (0, 0, 0);
        for span in &s.spans {
            index += span.offset;
            for _ in 0..span.length {
                count += s.deltas[d];
                d += 1;
                out.push((index, count));
                index += 1;
            }
        }
        out
    }

    #[test]
    fn sparse_layout_shifts_by_one_and_splits_on_long_gaps() {
        let s = sparse(&buckets(-2, &[0, 3, 1, 0, 0, 4, 0, 0, 0, 2, 0]));
        assert_eq!(
            s.spans,
            vec![
                Span {
                    offset: 0,
                    length: 5
                },
                Span {
                    offset: 3,
                    length: 1
                }
            ]
        );
        assert_eq!(
            expand(&s),
            vec![(0, 3), (1, 1), (2, 0), (3, 0), (4, 4), (8, 2)]
        );
    }

    #[test]
    fn empty_buckets_give_no_span() {
        assert_eq!(sparse(&buckets(5, &[0, 0])), Sparse::default());
    }

    #[test]
    fn downscaling_merges_neighbours_rounding_down() {
        // Scale 10 to 8: four buckets become one; index -5 >> 2 = -2.
        let b = downscale(&buckets(-5, &[1, 1, 1, 1, 1, 2]), 2);
        assert_eq!(b, buckets(-2, &[1, 4, 2]));
    }

    #[test]
    fn schema_is_capped_and_floor_refused() {
        let mut h = NativeHistogram {
            count: 3,
            sum: Some(3.0),
            scale: 12,
            zero_threshold: 0.0,
            zero_count: 0,
            positive: buckets(0, &[1, 2]),
            negative: Buckets::default(),
        };
        let p = h.to_prometheus().expect("schema 12 is representable");
        assert_eq!(p.schema, 8);
        assert_eq!(expand(&p.positive), vec![(1, 3)]);
        h.scale = -5;
        assert!(h.to_prometheus().is_none());
    }
}
