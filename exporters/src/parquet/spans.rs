//! The spans table (README, "Parquet schema"), built from spans read in place (`raw`).
//! This is the exporter's hot path (issue 13's benchmark), so: one typed builder per
//! column (no downcast per value), builders sized from the batch before the first row,
//! a resource's attributes and service name read once per resource rather than per row,
//! promoted columns appended straight from the attribute's bytes, text from the wire
//! checked as UTF-8 once per column (`raw::utf8`), numbers printed with `itoa` and `ryu`
//! (BENCHMARKS.md, "Parquet exporter").

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BinaryBuilder, Int64Builder, ListBuilder, MapArray, MapBuilder, RecordBatch,
    StringArray, StringBuilder, StructArray, StructBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Fields};
use arrow::error::ArrowError;

use super::raw;
use super::schema::{attrs_builder, field, map_type, record_batch, ts_builder, ts_type, Attrs};
use llamacol_api::repeated::{self, Repeated};

/// One span's row, with its resource and scope: the encoded messages' bodies, read in
/// place (`raw`).
struct SpanRow<'a> {
    pub resource: &'a [u8],
    /// The scope's name and version, read once per scope.
    pub scope_name: &'a [u8],
    pub scope_version: &'a [u8],
    pub span: &'a [u8],
}

/// The span attributes promoted to their own columns, in column order.
const PROMOTED: [&str; 7] = [
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "error.type",
];

/// Which promoted column an attribute key fills, if any.
fn promoted_index(key: &[u8]) -> Option<usize> {
    // Every promoted key starts with one of these two letters: most keys are passed by
    // one byte comparison.
    if !matches!(key.first(), Some(b'g' | b'e')) {
        return None;
    }
    PROMOTED.iter().position(|p| p.as_bytes() == key)
}

/// A promoted token count: integers as they are, doubles truncated, numeric strings parsed.
fn promoted_int(value: &[u8]) -> Option<i64> {
    match raw::scalar(value) {
        raw::Scalar::Int(i) => Some(i),
        raw::Scalar::Double(d) => Some(d as i64),
        raw::Scalar::Str(s) => std::str::from_utf8(s).ok()?.parse().ok(),
        _ => None,
    }
}

fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", ts_type(), true),
        Field::new("name", DataType::Utf8, true),
        Field::new("attributes", map_type(), true),
    ])
}

fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("span_id", DataType::Utf8, true),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("attributes", map_type(), true),
    ])
}

const SPAN_KINDS: [&str; 6] = [
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
];
const STATUS_CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];

/// A resource's attributes as text, and its service name: read once for all the rows
/// that share the resource (every span of a request usually does), and appended to each
/// row's map as whole arrays.
struct ResourceText<'a> {
    /// The encoded resource these were read from (compared by address and length).
    source: Option<&'a [u8]>,
    keys: StringArray,
    values: StringArray,
    service_name: Option<String>,
    /// The text every row of this resource repeats: attribute keys and values, service name.
    bytes: usize,
}

impl Default for ResourceText<'_> {
    fn default() -> Self {
        ResourceText {
            source: None,
            keys: StringBuilder::new().finish(),
            values: StringBuilder::new().finish(),
            service_name: None,
            bytes: 0,
        }
    }
}

impl<'a> ResourceText<'a> {
    fn read(&mut self, resource: &'a [u8]) {
        let same = self
            .source
            .is_some_and(|s| std::ptr::eq(s, resource) || s == resource);
        if same {
            return;
        }
        self.source = Some(resource);
        self.service_name = None;
        let (mut keys, mut values) = (StringBuilder::new(), StringBuilder::new());
        for kv in raw::repeated(resource, 1) {
            let (key, v) = raw::key_value(kv);
            let text = v.map(raw::value_text).unwrap_or_default();
            if key == b"service.name" && self.service_name.is_none() {
                self.service_name = Some(text.clone());
            }
            keys.append_value(raw::text(key));
            values.append_value(text);
        }
        (self.keys, self.values) = (keys.finish(), values.finish());
        self.bytes = self.keys.values().len()
            + self.values.values().len()
            + self.service_name.as_ref().map_or(0, String::len);
    }

    /// Appends the attributes as one row's map entry list.
    fn append_to(&self, map: &mut Attrs) -> Result<(), ArrowError> {
        map.keys().append_array(&self.keys)?;
        map.values().append_array(&self.values)?;
        map.append(true)
    }
}

/// The spans table's builders, one per column in column order.
struct SpanColumns {
    trace_id: BinaryBuilder,
    span_id: BinaryBuilder,
    parent_span_id: BinaryBuilder,
    trace_state: BinaryBuilder,
    name: BinaryBuilder,
    kind: StringBuilder,
    start_time: TimestampNanosecondBuilder,
    end_time: TimestampNanosecondBuilder,
    duration_ns: Int64Builder,
    status_code: StringBuilder,
    status_message: BinaryBuilder,
    service_name: StringBuilder,
    resource_attributes: Attrs,
    scope_name: BinaryBuilder,
    scope_version: BinaryBuilder,
    attributes: WireAttrs,
    events: ListBuilder<StructBuilder>,
    links: ListBuilder<StructBuilder>,
    /// gen_ai_operation_name, gen_ai_provider_name, gen_ai_request_model,
    /// gen_ai_response_model.
    promoted_text: [BinaryBuilder; 4],
    input_tokens: Int64Builder,
    output_tokens: Int64Builder,
    error_type: BinaryBuilder,
    /// The resource and scope text the rows so far repeat (`llamacol_api::repeated`).
    repeated: Repeated,
}

/// An attribute map whose text is checked as UTF-8 once per column (`raw::utf8`).
type WireAttrs = MapBuilder<BinaryBuilder, BinaryBuilder>;

/// Text checked as UTF-8 once the column is done (`raw::utf8`): wire bytes, and ids in
/// hex, for `rows` values of about `bytes` bytes each.
fn wire(rows: usize, bytes: usize) -> BinaryBuilder {
    BinaryBuilder::with_capacity(rows, rows * bytes)
}

/// A map built from wire bytes, with its keys and values checked as UTF-8: the type of
/// every other attribute map (`map_type`).
fn utf8_map(map: MapArray) -> Result<MapArray, ArrowError> {
    let DataType::Map(entries_field, ordered) = map_type() else {
        unreachable!("map_type is a map")
    };
    let DataType::Struct(fields) = entries_field.data_type().clone() else {
        unreachable!("a map's entries are a struct")
    };
    let (_, offsets, entries, nulls, _) = map.into_parts();
    let (_, columns, entry_nulls) = entries.into_parts();
    let text = |i: usize| -> ArrayRef { Arc::new(raw::utf8(columns[i].as_binary::<i32>())) };
    let entries = StructArray::try_new(fields, vec![text(0), text(1)], entry_nulls)?;
    MapArray::try_new(entries_field, offsets, entries, nulls, ordered)
}

/// A text column of strings we hold (names from a table, resource text) for
/// `rows` values of about `bytes` bytes each.
fn strings(rows: usize, bytes: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * bytes)
}

impl SpanColumns {
    /// Builders sized for `rows` spans of `span_bytes` encoded bytes in all: growing a
    /// buffer by doubling copies everything appended so far, each time.
    fn new(rows: usize, span_bytes: usize, repeated_limit: usize) -> SpanColumns {
        let ts = || ts_builder_with_capacity(rows);
        SpanColumns {
            trace_id: wire(rows, 32),
            span_id: wire(rows, 16),
            parent_span_id: wire(rows, 16),
            trace_state: wire(rows, 0),
            name: wire(rows, 24),
            kind: strings(rows, 8),
            start_time: ts(),
            end_time: ts(),
            duration_ns: Int64Builder::with_capacity(rows),
            status_code: strings(rows, 5),
            status_message: wire(rows, 0),
            service_name: strings(rows, 16),
            resource_attributes: MapBuilder::with_capacity(
                None,
                strings(rows * 8, 16),
                strings(rows * 8, 24),
                rows,
            ),
            scope_name: wire(rows, 16),
            scope_version: wire(rows, 8),
            // The attribute map's text is most of a span.
            attributes: MapBuilder::with_capacity(
                None,
                BinaryBuilder::with_capacity(span_bytes / 24, span_bytes / 2),
                BinaryBuilder::with_capacity(span_bytes / 24, span_bytes / 2),
                rows,
            ),
            events: ListBuilder::new(StructBuilder::new(
                event_fields(),
                vec![
                    Box::new(ts_builder()),
                    Box::new(StringBuilder::new()),
                    Box::new(attrs_builder()),
                ],
            )),
            links: ListBuilder::new(StructBuilder::new(
                link_fields(),
                vec![
                    Box::new(StringBuilder::new()),
                    Box::new(StringBuilder::new()),
                    Box::new(StringBuilder::new()),
                    Box::new(attrs_builder()),
                ],
            )),
            promoted_text: std::array::from_fn(|_| wire(rows, 12)),
            input_tokens: Int64Builder::with_capacity(rows),
            output_tokens: Int64Builder::with_capacity(rows),
            error_type: wire(rows, 0),
            repeated: Repeated::within(REPEATED_TEXT, repeated_limit),
        }
    }

    fn push<'a>(
        &mut self,
        r: &SpanRow<'a>,
        s: &raw::Span<'a>,
        lists: &raw::SpanLists<'a>,
        resource: &mut ResourceText<'a>,
    ) -> Result<(), ArrowError> {
        resource.read(r.resource);
        let repeated = resource.bytes + r.scope_name.len() + r.scope_version.len();
        self.repeated
            .add("span", repeated, 1)
            .map_err(|e| ArrowError::InvalidArgumentError(e.to_string()))?;
        raw::append_hex(&mut self.trace_id, s.trace_id);
        raw::append_hex(&mut self.span_id, s.span_id);
        if s.parent_span_id.is_empty() {
            self.parent_span_id.append_null();
        } else {
            raw::append_hex(&mut self.parent_span_id, s.parent_span_id);
        }
        self.trace_state.append_value(s.trace_state);
        self.name.append_value(s.name);
        self.kind.append_value(
            SPAN_KINDS
                .get(s.kind as usize)
                .copied()
                .unwrap_or("UNSPECIFIED"),
        );
        self.start_time.append_value(s.start as i64);
        self.end_time.append_value(s.end as i64);
        self.duration_ns.append_value(s.end as i64 - s.start as i64);
        self.status_code.append_value(
            STATUS_CODES
                .get(s.status_code as usize)
                .copied()
                .unwrap_or("UNSET"),
        );
        self.status_message.append_value(s.status_message);
        self.service_name
            .append_option(resource.service_name.as_deref());
        resource.append_to(&mut self.resource_attributes)?;
        self.scope_name.append_value(r.scope_name);
        self.scope_version.append_value(r.scope_version);
        let mut promoted: [Option<&[u8]>; 7] = [None; 7];
        for kv in &lists.attributes {
            let (key, value) = raw::key_value(kv);
            self.attributes.keys().append_value(key);
            raw::append_value(self.attributes.values(), value);
            if let Some(i) = promoted_index(key) {
                promoted[i] = promoted[i].or(Some(value.unwrap_or_default()));
            }
        }
        let _ = self.attributes.append(true);
        self.push_events(&lists.events);
        self.push_links(&lists.links);
        for (b, value) in self.promoted_text.iter_mut().zip(promoted) {
            match value {
                Some(v) => raw::append_value(b, Some(v)),
                None => b.append_null(),
            }
        }
        self.input_tokens
            .append_option(promoted[4].and_then(promoted_int));
        self.output_tokens
            .append_option(promoted[5].and_then(promoted_int));
        match promoted[6] {
            Some(v) => raw::append_value(&mut self.error_type, Some(v)),
            None => self.error_type.append_null(),
        }
        Ok(())
    }

    fn push_events(&mut self, events: &[&[u8]]) {
        for e in events {
            let st = self.events.values();
            let time = raw::each(e)
                .filter(|(n, w, _)| *n == 1 && *w == 1)
                .map(|(_, _, b)| raw::fixed64(b))
                .last()
                .unwrap_or(0);
            field::<TimestampNanosecondBuilder>(st, 0).append_value(time as i64);
            field::<StringBuilder>(st, 1).append_value(raw::text(raw::single(e, 2)));
            put_raw_attrs(field::<Attrs>(st, 2), raw::repeated(e, 3));
            st.append(true);
        }
        self.events.append(true);
    }

    fn push_links(&mut self, links: &[&[u8]]) {
        for l in links {
            let st = self.links.values();
            raw::append_hex(field::<StringBuilder>(st, 0), raw::single(l, 1));
            raw::append_hex(field::<StringBuilder>(st, 1), raw::single(l, 2));
            field::<StringBuilder>(st, 2).append_value(raw::text(raw::single(l, 3)));
            put_raw_attrs(field::<Attrs>(st, 3), raw::repeated(l, 4));
            st.append(true);
        }
        self.links.append(true);
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let text = |b: &mut BinaryBuilder| -> ArrayRef { Arc::new(raw::utf8(&b.finish())) };
        let [operation, provider, request_model, response_model] = &mut self.promoted_text;
        let columns: [(&'static str, bool, ArrayRef); 25] = [
            ("trace_id", false, text(&mut self.trace_id)),
            ("span_id", false, text(&mut self.span_id)),
            ("parent_span_id", true, text(&mut self.parent_span_id)),
            ("trace_state", false, text(&mut self.trace_state)),
            ("name", false, text(&mut self.name)),
            ("kind", false, Arc::new(self.kind.finish())),
            ("start_time", false, Arc::new(self.start_time.finish())),
            ("end_time", false, Arc::new(self.end_time.finish())),
            ("duration_ns", false, Arc::new(self.duration_ns.finish())),
            ("status_code", false, Arc::new(self.status_code.finish())),
            ("status_message", false, text(&mut self.status_message)),
            ("service_name", true, Arc::new(self.service_name.finish())),
            (
                "resource_attributes",
                false,
                Arc::new(self.resource_attributes.finish()),
            ),
            ("scope_name", false, text(&mut self.scope_name)),
            ("scope_version", false, text(&mut self.scope_version)),
            (
                "attributes",
                false,
                Arc::new(utf8_map(self.attributes.finish())?),
            ),
            ("events", false, Arc::new(self.events.finish())),
            ("links", false, Arc::new(self.links.finish())),
            ("gen_ai_operation_name", true, text(operation)),
            ("gen_ai_provider_name", true, text(provider)),
            ("gen_ai_request_model", true, text(request_model)),
            ("gen_ai_response_model", true, text(response_model)),
            (
                "gen_ai_usage_input_tokens",
                true,
                Arc::new(self.input_tokens.finish()),
            ),
            (
                "gen_ai_usage_output_tokens",
                true,
                Arc::new(self.output_tokens.finish()),
            ),
            ("error_type", true, text(&mut self.error_type)),
        ];
        record_batch(columns)
    }
}

fn ts_builder_with_capacity(rows: usize) -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC")
}

/// Appends encoded `KeyValue`s as one map entry list, read in place.
fn put_raw_attrs<'a>(b: &mut Attrs, key_values: impl IntoIterator<Item = &'a [u8]>) {
    for kv in key_values {
        let (key, value) = raw::key_value(kv);
        b.keys().append_value(raw::text(key));
        raw::append_value(b.values(), value);
    }
    // A map entry list is always valid (possibly empty).
    let _ = b.append(true);
}

/// The span tables of one batch, one per hour partition (nearly always one), filled as
/// each span is read: one walk over each span's bytes, while they are in the cache.
struct SpanTables<'a> {
    /// Arrival time, for spans without a start time.
    now: u64,
    /// Capacity for the first table: the whole batch.
    rows: usize,
    bytes: usize,
    tables: Vec<(u64, SpanColumns)>,
    /// Index in `tables` of the last span's hour.
    last: usize,
    lists: raw::SpanLists<'a>,
    resource: ResourceText<'a>,
    repeated_limit: usize,
    /// The first row that could not be added: the batch is refused.
    error: Option<ArrowError>,
}

const HOUR_NANOS: u64 = 3_600_000_000_000;

/// What every row of the three tables repeats (`llamacol_api::repeated`): past its limit in one
/// table (at most 1 GiB, under the 2 GiB an Arrow text column holds), a batch is refused.
pub(super) const REPEATED_TEXT: &str = "resource and scope text";

impl<'a> SpanTables<'a> {
    /// Tables for a batch of `rows` spans in `bytes` encoded bytes, arriving at `now`.
    pub fn new(rows: usize, bytes: usize, now: u64, repeated_limit: usize) -> SpanTables<'a> {
        SpanTables {
            now,
            rows,
            bytes,
            tables: Vec::new(),
            last: 0,
            lists: raw::SpanLists::default(),
            resource: ResourceText::default(),
            repeated_limit,
            error: None,
        }
    }

    pub fn push(&mut self, row: &SpanRow<'a>) {
        if self.error.is_some() {
            return;
        }
        let s = raw::Span::read(row.span, &mut self.lists);
        let start = super::time_or_now(s.start, self.now);
        let hour = start / HOUR_NANOS;
        if self.tables.get(self.last).is_none_or(|(h, _)| *h != hour) {
            self.last = match self.tables.iter().position(|(h, _)| *h == hour) {
                Some(i) => i,
                None => {
                    // The first table takes the whole batch's size; a second hour in one
                    // batch is rare, and grows as it needs.
                    let (rows, bytes) = if self.tables.is_empty() {
                        (self.rows, self.bytes)
                    } else {
                        (0, 0)
                    };
                    self.tables
                        .push((hour, SpanColumns::new(rows, bytes, self.repeated_limit)));
                    self.tables.len() - 1
                }
            };
        }
        let (_, columns) = &mut self.tables[self.last];
        let pushed = columns.push(row, &s, &self.lists, &mut self.resource);
        self.error = pushed.err();
    }

    /// Each hour's partition name (`super::writer::partition`) and its table.
    pub fn finish(self) -> Result<Vec<(String, RecordBatch)>, ArrowError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.tables
            .into_iter()
            .map(|(hour, columns)| {
                Ok((
                    super::writer::partition(hour * HOUR_NANOS),
                    columns.finish()?,
                ))
            })
            .collect()
    }
}

/// The spans tables of an encoded `ExportTraceServiceRequest` of `items` spans arriving
/// at `now`: each hour's partition name and its table.
pub fn tables(
    bytes: &[u8],
    items: usize,
    now: u64,
) -> Result<Vec<(String, RecordBatch)>, ArrowError> {
    tables_within(bytes, items, now, repeated::LIMIT)
}

/// `tables` with at most `repeated_limit` bytes of resource and scope text repeated in one
/// table.
fn tables_within(
    bytes: &[u8],
    items: usize,
    now: u64,
    repeated_limit: usize,
) -> Result<Vec<(String, RecordBatch)>, ArrowError> {
    let mut tables = SpanTables::new(items, bytes.len(), now, repeated_limit);
    let mut spans = Vec::new();
    for rs in raw::repeated(bytes, 1) {
        let resource = raw::single(rs, 1);
        for ss in raw::repeated(rs, 2) {
            // Encoders write the scope (field 1) before the spans (field 2): each span
            // is then written as it is reached, while its bytes are in the cache (a walk
            // to find the spans, then another to write them, missed the cache twice per
            // span). Spans before any scope wait for the last scope in the message; a
            // scope after spans were written applies to the spans after it.
            let mut scope: Option<(&[u8], &[u8])> = None;
            spans.clear();
            for (number, wire, body) in raw::each(ss) {
                match (number, wire, scope) {
                    (1, 2, _) => {
                        scope = Some((raw::single(body, 1), raw::single(body, 2)));
                    }
                    (2, 2, Some((scope_name, scope_version))) if spans.is_empty() => {
                        tables.push(&SpanRow {
                            resource,
                            scope_name,
                            scope_version,
                            span: body,
                        });
                    }
                    (2, 2, _) => spans.push(body),
                    _ => {}
                }
            }
            let (scope_name, scope_version) = scope.unwrap_or_default();
            for span in &spans {
                tables.push(&SpanRow {
                    resource,
                    scope_name,
                    scope_version,
                    span,
                });
            }
        }
    }
    tables.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use llamacol_api::otlp::common::v1::InstrumentationScope;
    use llamacol_api::otlp::trace::v1::{ScopeSpans, Span};
    use prost::Message;

    /// Field `number` holding `body`, length-delimited.
    fn field(number: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    }

    fn scope(name: &str) -> Vec<u8> {
        ScopeSpans {
            scope: Some(InstrumentationScope {
                name: name.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn span(name: &str) -> Vec<u8> {
        ScopeSpans {
            spans: vec![Span {
                name: name.into(),
                start_time_unix_nano: 1_795_662_000_000_000_000,
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// A resource repeated on every span past the limit refuses the batch with an error
    /// that says why, never a panic or a column past 2 GiB; under it the batch is written.
    #[test]
    fn resource_text_repeated_past_the_limit_refuses_the_batch() {
        use llamacol_api::attributes::string;
        use llamacol_api::otlp::resource::v1::Resource;
        use llamacol_api::otlp::trace::v1::ResourceSpans;
        let request = ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("k8s.pod.annotations", &"x".repeat(1000))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..20)
                    .map(|_| Span {
                        start_time_unix_nano: 1_795_662_000_000_000_000,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = field(1, &request.encode_to_vec());
        let error = tables_within(&bytes, 20, 0, 10_000).expect_err("past the limit");
        assert!(
            error.to_string().contains("repeated on every span"),
            "{error}"
        );
        let written = tables_within(&bytes, 20, 0, 1 << 20).expect("under the limit");
        assert_eq!(written[0].1.num_rows(), 20);
    }

    /// Spans written as reached when their scope came first, held for the scope when it
    /// comes after them, and given no scope when there is none.
    #[test]
    fn each_span_gets_the_scope_its_message_gives_it() {
        let scope_spans = [
            [span("s1"), scope("late"), span("s2")].concat(),
            [scope("early"), span("s3"), scope("second"), span("s4")].concat(),
            span("s5"),
        ];
        let resource: Vec<u8> = scope_spans.iter().flat_map(|ss| field(2, ss)).collect();
        let request = field(1, &resource);
        let tables = tables(&request, 5, 0).expect("tables");
        assert_eq!(tables.len(), 1);
        let batch = &tables[0].1;
        let text = |name: &str| -> Vec<String> {
            let column = batch
                .column_by_name(name)
                .expect("column")
                .as_string::<i32>();
            column.iter().map(|v| v.unwrap_or("").to_string()).collect()
        };
        assert_eq!(text("name"), ["s1", "s2", "s3", "s4", "s5"]);
        assert_eq!(text("scope_name"), ["late", "late", "early", "second", ""]);
    }
}
