//! Trace and span ids (and other bytes) as lowercase hex, as OTLP/JSON, Prometheus
//! exemplars, Parquet columns and Graphistry nodes write them.

pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(b.len() * 2);
    for x in b {
        out.push(DIGITS[usize::from(x >> 4)] as char);
        out.push(DIGITS[usize::from(x & 0xf)] as char);
    }
    out
}
