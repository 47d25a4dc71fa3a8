//! `jaeger.thrift`'s `Batch` (field ids of jaeger-idl's `thrift/jaeger.thrift`) read from
//! a Thrift value tree into the protobuf model, with each span's `parentSpanId` beside
//! it (the protobuf model has no such field).

use crate::formats::thrift::Struct;

use super::model::{self, SpanRefType, ValueType};

/// A thrift batch as the model's batch, and each span's parent id (None when zero).
pub fn batch(batch: &Struct) -> (model::Batch, Vec<Option<[u8; 8]>>) {
    let process = batch.structure(1).map(|p| model::Process {
        service_name: p.string(1).unwrap_or_default(),
        tags: p.structs(2).map(tag).collect(),
    });
    let (spans, parents) = batch.structs(2).map(span).unzip();
    (model::Batch { spans, process }, parents)
}

fn span(s: &Struct) -> (model::Span, Option<[u8; 8]>) {
    let int = |id| s.int(id).unwrap_or(0);
    let trace_id = trace_id(int(2), int(1));
    let micros = |us: i64| model::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    };
    let start = micros(int(8));
    let duration = micros(int(9));
    let parent = int(4);
    let span = model::Span {
        trace_id,
        span_id: int(3).to_be_bytes().to_vec(),
        operation_name: s.string(5).unwrap_or_default(),
        references: s.structs(6).map(reference).collect(),
        flags: int(7) as u32,
        start_time: (int(8) != 0).then_some(start),
        duration: (int(9) != 0).then_some(model::Duration {
            seconds: duration.seconds,
            nanos: duration.nanos,
        }),
        tags: s.structs(10).map(tag).collect(),
        logs: s
            .structs(11)
            .map(|l| model::Log {
                timestamp: Some(micros(l.int(1).unwrap_or(0))),
                fields: l.structs(2).map(tag).collect(),
            })
            .collect(),
        ..Default::default()
    };
    (span, (parent != 0).then(|| parent.to_be_bytes()))
}

fn trace_id(high: i64, low: i64) -> Vec<u8> {
    let mut id = high.to_be_bytes().to_vec();
    id.extend_from_slice(&low.to_be_bytes());
    id
}

fn reference(r: &Struct) -> model::SpanRef {
    let int = |id| r.int(id).unwrap_or(0);
    model::SpanRef {
        ref_type: if int(1) == 1 {
            SpanRefType::FollowsFrom as i32
        } else {
            SpanRefType::ChildOf as i32
        },
        trace_id: trace_id(int(3), int(2)),
        span_id: int(4).to_be_bytes().to_vec(),
    }
}

/// Thrift's `TagType` (STRING, DOUBLE, BOOL, LONG, BINARY) as the protobuf `ValueType`;
/// an unknown one as -1 (printed `<UNSET>`, as Go's generated thrift code prints it).
fn tag(t: &Struct) -> model::KeyValue {
    let v_type = match t.int(2).unwrap_or(0) {
        0 => ValueType::String as i32,
        1 => ValueType::Float64 as i32,
        2 => ValueType::Bool as i32,
        3 => ValueType::Int64 as i32,
        4 => ValueType::Binary as i32,
        _ => -1,
    };
    model::KeyValue {
        key: t.string(1).unwrap_or_default(),
        v_type,
        v_str: t.string(3).unwrap_or_default(),
        v_float64: t.double(4).unwrap_or(0.0),
        v_bool: t.bool(5).unwrap_or(false),
        v_int64: t.int(6).unwrap_or(0),
        v_binary: t.bytes(7).map(<[u8]>::to_vec).unwrap_or_default(),
    }
}
