//! Editing the resource of every resource block of an encoded export request without
//! decoding the rest: what processors that only stamp or read resource attributes
//! (`k8s_attributes`, `resource`, `resource_detection`) need. Traces, metrics and logs
//! requests share the shape this relies on: `repeated Resource{Spans,Metrics,Logs} = 1`,
//! each with `Resource resource = 1`, whose `repeated KeyValue attributes = 1`.

use bytes::{BufMut, Bytes, BytesMut};

use super::attrs::WireAttrs;
use super::{fields, len_field_size, put_len_prefix, WireError};

/// Calls `edit` with the attributes of each resource block's resource (empty for a block
/// without one), read in place. Returns the request with the changed resources written
/// anew and everything else copied as it came, or `None` when `edit` changed nothing
/// (the caller keeps the bytes it has). A block that carries its resource in more than one
/// field (legal protobuf, written by no encoder) is an error: decode that request instead.
pub fn edit_resources(
    buf: &[u8],
    mut edit: impl FnMut(usize, &mut WireAttrs<'_>),
) -> Result<Option<Bytes>, WireError> {
    // (whole field range, its new body when changed)
    let mut blocks: Vec<(std::ops::Range<usize>, Option<BytesMut>)> = Vec::new();
    let mut any = false;
    for (index, field) in fields(buf).enumerate() {
        let field = field?;
        let whole = field.start..field.value.end;
        if (field.number, field.wire_type) != (1, 2) {
            blocks.push((whole, None));
            continue;
        }
        let block = &buf[field.value.clone()];
        let rewritten = edit_block(block, |attrs| edit(index, attrs))?;
        any |= rewritten.is_some();
        blocks.push((whole, rewritten));
    }
    if !any {
        return Ok(None);
    }
    let size: usize = blocks
        .iter()
        .map(|(whole, new)| {
            new.as_ref()
                .map_or(whole.len(), |b| len_field_size(b.len()))
        })
        .sum();
    let mut out = BytesMut::with_capacity(size);
    for (whole, new) in blocks {
        match new {
            Some(body) => {
                put_len_prefix(&mut out, 1, body.len());
                out.put_slice(&body);
            }
            None => out.put_slice(&buf[whole]),
        }
    }
    Ok(Some(out.freeze()))
}

/// One resource block: its new body when `edit` changed the resource's attributes.
fn edit_block(
    block: &[u8],
    edit: impl FnOnce(&mut WireAttrs<'_>),
) -> Result<Option<BytesMut>, WireError> {
    // The resource, and the block's other fields (spans, scope blocks, schema URL) to copy.
    let mut resource: Option<std::ops::Range<usize>> = None;
    let mut others: Vec<std::ops::Range<usize>> = Vec::new();
    for field in fields(block) {
        let field = field?;
        if (field.number, field.wire_type) != (1, 2) {
            others.push(field.start..field.value.end);
        } else if resource.is_some() {
            return Err(WireError::Malformed {
                offset: field.start,
                what: "a resource block with two resource fields",
            });
        } else {
            resource = Some(field.value);
        }
    }
    let resource_bytes = resource.map_or(&[][..], |r| &block[r]);
    let mut attrs = WireAttrs::new();
    let mut rest: Vec<std::ops::Range<usize>> = Vec::new();
    for field in fields(resource_bytes) {
        let field = field?;
        if (field.number, field.wire_type) == (1, 2) {
            attrs.add_encoded(&resource_bytes[field.value])?;
        } else {
            rest.push(field.start..field.value.end);
        }
    }
    edit(&mut attrs);
    if !attrs.changed() {
        return Ok(None);
    }
    let resource_len = attrs.encoded_len() + rest.iter().map(|r| r.len()).sum::<usize>();
    let mut body = BytesMut::with_capacity(
        len_field_size(resource_len) + others.iter().map(|r| r.len()).sum::<usize>(),
    );
    put_len_prefix(&mut body, 1, resource_len);
    attrs.write(1, &mut body);
    for r in rest {
        body.put_slice(&resource_bytes[r]);
    }
    for r in others {
        body.put_slice(&block[r]);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
    use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use crate::otlp::common::v1::any_value::Value;
    use crate::otlp::logs::v1::ResourceLogs;
    use crate::wire::attrs::{get_str, Attrs};

    fn traces() -> ExportTraceServiceRequest {
        let mut request = crate::testing::sample_traces(3, 2);
        // The second block has no resource at all.
        request.resource_spans[1].resource = None;
        request.resource_spans[2].schema_url = "https://opentelemetry.io/schemas/1.26.0".into();
        request
    }

    #[test]
    fn only_changed_resources_are_rewritten_and_the_rest_is_as_decoding_would_give() {
        let request = traces();
        let bytes = request.encode_to_vec();
        assert_eq!(edit_resources(&bytes, |_, _| {}).expect("walks"), None);

        let edited = edit_resources(&bytes, |index, attrs| {
            if index != 0 {
                attrs.add("k8s.pod.name", Value::StringValue(format!("pod-{index}")));
            }
        })
        .expect("walks")
        .expect("changed");
        let got = ExportTraceServiceRequest::decode(edited).expect("decodes");
        let mut want = request.clone();
        for (i, rs) in want.resource_spans.iter_mut().enumerate().skip(1) {
            rs.resource
                .get_or_insert_with(Default::default)
                .attributes
                .push(crate::attributes::string(
                    "k8s.pod.name",
                    &format!("pod-{i}"),
                ));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn reads_what_the_rules_read_and_works_for_logs() {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(crate::otlp::resource::v1::Resource {
                    attributes: vec![crate::attributes::string("k8s.pod.ip", "10.1.0.7")],
                    dropped_attributes_count: 3,
                    ..Default::default()
                }),
                ..Default::default()
            }],
        };
        let bytes = request.encode_to_vec();
        let edited = edit_resources(&bytes, |_, attrs| {
            let ip = get_str(attrs, "k8s.pod.ip").map(|s| s.into_owned());
            assert_eq!(ip.as_deref(), Some("10.1.0.7"));
            attrs.add("k8s.pod.name", Value::StringValue("llama-0".into()));
        })
        .expect("walks")
        .expect("changed");
        let got = ExportLogsServiceRequest::decode(edited).expect("decodes");
        let resource = got.resource_logs[0].resource.clone().expect("resource");
        assert_eq!(
            resource.dropped_attributes_count, 3,
            "other resource fields kept"
        );
        assert_eq!(resource.attributes.len(), 2);
    }

    #[test]
    fn damaged_requests_are_errors_not_panics() {
        let bytes = traces().encode_to_vec();
        for cut in 0..bytes.len() {
            let _ = edit_resources(&bytes[..cut], |_, attrs| {
                attrs.add("x", Value::BoolValue(true));
            });
        }
    }
}
