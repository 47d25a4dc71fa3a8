//! Thrift reading, against bytes laid out by hand from the protocol specifications
//! (Apache Thrift's `doc/specs/thrift-compact-protocol.md` and
//! `thrift-binary-protocol.md`).

use super::*;

/// `Agent.emitBatch` as a Jaeger client sends it to port 6831 (compact protocol): a
/// process `svc` and one span with a LONG tag.
pub fn compact_emit_batch() -> Vec<u8> {
    let mut b = vec![0x82, 0x21, 0x00, 9];
    b.extend_from_slice(b"emitBatch");
    b.extend_from_slice(&[0x1C]); // args field 1: struct (Batch)
    b.extend_from_slice(&[0x1C, 0x18, 3]); // process: field 1 serviceName
    b.extend_from_slice(b"svc");
    b.push(0x00); // end of process
    b.extend_from_slice(&[0x19, 0x1C]); // field 2: list of 1 struct
    b.extend_from_slice(&[0x16, 0x0A]); // traceIdLow = 5
    b.extend_from_slice(&[0x16, 0x00]); // traceIdHigh = 0
    b.extend_from_slice(&[0x16, 0x0E]); // spanId = 7
    b.extend_from_slice(&[0x16, 0x00]); // parentSpanId = 0
    b.extend_from_slice(&[0x18, 2, b'o', b'p']); // operationName
    b.extend_from_slice(&[0x25, 0x02]); // flags (id 7) = 1
    b.extend_from_slice(&[0x16, 0xD0, 0x0F]); // startTime = 1000 us
    b.extend_from_slice(&[0x16, 0x0A]); // duration = 5 us
    b.extend_from_slice(&[0x19, 0x1C]); // tags: list of 1 struct
    b.extend_from_slice(&[0x18, 1, b'k']); // key
    b.extend_from_slice(&[0x15, 0x06]); // vType = LONG (3)
    b.extend_from_slice(&[0x46, 0x03]); // vLong (id 6) = -2
    b.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]); // end of tag, span, batch, args
    b
}

#[test]
fn reads_a_compact_emit_batch() {
    let m = read_message(Protocol::Compact, &compact_emit_batch()).expect("valid");
    assert_eq!(m.name, "emitBatch");
    let batch = m.args.structure(1).expect("batch");
    assert_eq!(
        batch.structure(1).and_then(|p| p.string(1)).as_deref(),
        Some("svc")
    );
    let span = batch.structs(2).next().expect("a span");
    assert_eq!(
        (span.int(1), span.int(3), span.int(7), span.int(8)),
        (Some(5), Some(7), Some(1), Some(1000))
    );
    let tag = span.structs(10).next().expect("a tag");
    assert_eq!(
        (tag.string(1).as_deref(), tag.int(2), tag.int(6)),
        (Some("k"), Some(3), Some(-2))
    );
}

#[test]
fn reads_binary_structs_lists_maps_and_doubles() {
    // struct { 1: bool true, 2: double 1.5, 3: list<string> ["a"], 4: map<i16,i64> {1: -1} }
    let mut b = vec![2, 0, 1, 1];
    b.extend_from_slice(&[4, 0, 2]);
    b.extend_from_slice(&1.5f64.to_be_bytes());
    b.extend_from_slice(&[15, 0, 3, 11, 0, 0, 0, 1, 0, 0, 0, 1, b'a']);
    b.extend_from_slice(&[13, 0, 4, 6, 10, 0, 0, 0, 1, 0, 1]);
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.push(0);
    let s = read_struct(Protocol::Binary, &b).expect("valid");
    assert_eq!(s.bool(1), Some(true));
    assert_eq!(s.double(2), Some(1.5));
    assert_eq!(
        s.get(3),
        Some(&Value::List(vec![Value::Binary(b"a".to_vec())]))
    );
    assert_eq!(
        s.get(4),
        Some(&Value::Map(vec![(Value::I16(1), Value::I64(-1))]))
    );
}

#[test]
fn reads_a_strict_binary_message() {
    let mut b = vec![0x80, 0x01, 0x00, 0x04, 0, 0, 0, 9];
    b.extend_from_slice(b"emitBatch");
    b.extend_from_slice(&[0, 0, 0, 1, 0]);
    let m = read_message(Protocol::Binary, &b).expect("valid");
    assert_eq!((m.name.as_str(), m.args.0.len()), ("emitBatch", 0));
}

#[test]
fn hostile_input_is_an_error_not_an_allocation() {
    // A list claiming 2^31-1 elements in a 12-byte packet.
    let b = [15, 0, 1, 12, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    assert_eq!(
        read_struct(Protocol::Binary, &b),
        Err(ThriftError::TooLarge(i64::from(i32::MAX)))
    );
    // Nesting past the limit.
    let deep: Vec<u8> = std::iter::repeat_n([12u8, 0, 1], 100).flatten().collect();
    assert_eq!(
        read_struct(Protocol::Binary, &deep),
        Err(ThriftError::TooDeep)
    );
    // Cut short, and an unknown type.
    assert_eq!(
        read_struct(Protocol::Compact, &[0x18, 5, b'a']),
        Err(ThriftError::TooLarge(5))
    );
    assert_eq!(
        read_struct(Protocol::Compact, &[0x16]),
        Err(ThriftError::Truncated)
    );
    assert_eq!(
        read_struct(Protocol::Binary, &[99, 0, 1]),
        Err(ThriftError::UnknownType(99))
    );
    assert!(read_message(Protocol::Compact, &[0x81, 0x21]).is_err());
}
