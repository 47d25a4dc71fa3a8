//! OTTL paths: the fields each context exposes (the Collector's `contexts/ott*`
//! documentation), how a written path resolves to one, and which context a path
//! belongs to (for the flat `statements:` form, where the context is inferred).

/// The contexts, from the widest to the narrowest. A narrower context reaches the
/// wider ones it sits in (a span's statement may read `resource.attributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContextName {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Metric,
    DataPoint,
    Log,
}

impl ContextName {
    pub const ALL: [ContextName; 7] = [
        ContextName::Resource,
        ContextName::Scope,
        ContextName::Span,
        ContextName::SpanEvent,
        ContextName::Metric,
        ContextName::DataPoint,
        ContextName::Log,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ContextName::Resource => "resource",
            ContextName::Scope => "scope",
            ContextName::Span => "span",
            ContextName::SpanEvent => "spanevent",
            ContextName::Metric => "metric",
            ContextName::DataPoint => "datapoint",
            ContextName::Log => "log",
        }
    }

    /// The name as written in a path or a `context:` key (`instrumentation_scope` is the
    /// older spelling of `scope`).
    pub fn parse(word: &str) -> Option<ContextName> {
        Some(match word {
            "resource" => ContextName::Resource,
            "scope" | "instrumentation_scope" => ContextName::Scope,
            "span" => ContextName::Span,
            "spanevent" => ContextName::SpanEvent,
            "metric" => ContextName::Metric,
            "datapoint" => ContextName::DataPoint,
            "log" => ContextName::Log,
            _ => return None,
        })
    }

    /// The contexts a statement running in `self` can read and write.
    pub fn reaches(self, other: ContextName) -> bool {
        use ContextName::*;
        match self {
            Resource => other == Resource,
            Scope => matches!(other, Resource | Scope),
            Span => matches!(other, Resource | Scope | Span),
            SpanEvent => matches!(other, Resource | Scope | Span | SpanEvent),
            Metric => matches!(other, Resource | Scope | Metric),
            DataPoint => matches!(other, Resource | Scope | Metric | DataPoint),
            Log => matches!(other, Resource | Scope | Log),
        }
    }
}

/// One field of one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ResourceAttributes,
    ResourceDroppedAttributesCount,
    ResourceSchemaUrl,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    ScopeDroppedAttributesCount,
    ScopeSchemaUrl,
    SpanTraceId,
    SpanTraceIdString,
    SpanSpanId,
    SpanSpanIdString,
    SpanParentSpanId,
    SpanParentSpanIdString,
    SpanTraceState,
    SpanName,
    SpanKind,
    SpanKindString,
    SpanKindDeprecatedString,
    SpanStartTimeUnixNano,
    SpanEndTimeUnixNano,
    SpanStartTime,
    SpanEndTime,
    SpanAttributes,
    SpanDroppedAttributesCount,
    SpanDroppedEventsCount,
    SpanDroppedLinksCount,
    SpanStatusCode,
    SpanStatusMessage,
    SpanFlags,
    EventTimeUnixNano,
    EventTime,
    EventName,
    EventAttributes,
    EventDroppedAttributesCount,
    EventIndex,
    LogTimeUnixNano,
    LogObservedTimeUnixNano,
    LogTime,
    LogObservedTime,
    LogSeverityNumber,
    LogSeverityText,
    LogBody,
    LogBodyString,
    LogAttributes,
    LogDroppedAttributesCount,
    LogFlags,
    LogTraceId,
    LogTraceIdString,
    LogSpanId,
    LogSpanIdString,
    LogEventName,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    MetricAggregationTemporality,
    MetricIsMonotonic,
    MetricMetadata,
    PointAttributes,
    PointStartTimeUnixNano,
    PointTimeUnixNano,
    PointStartTime,
    PointTime,
    PointValueDouble,
    PointValueInt,
    PointFlags,
    PointCount,
    PointSum,
    PointBucketCounts,
    PointExplicitBounds,
    PointScale,
    PointZeroCount,
    /// The statement group's scratch map (`cache`), cleared for each item.
    Cache,
}

impl Field {
    /// The context whose item holds the field.
    pub fn owner(self) -> ContextName {
        use Field::*;
        match self {
            ResourceAttributes | ResourceDroppedAttributesCount | ResourceSchemaUrl => {
                ContextName::Resource
            }
            ScopeName
            | ScopeVersion
            | ScopeAttributes
            | ScopeDroppedAttributesCount
            | ScopeSchemaUrl => ContextName::Scope,
            SpanTraceId
            | SpanTraceIdString
            | SpanSpanId
            | SpanSpanIdString
            | SpanParentSpanId
            | SpanParentSpanIdString
            | SpanTraceState
            | SpanName
            | SpanKind
            | SpanKindString
            | SpanKindDeprecatedString
            | SpanStartTimeUnixNano
            | SpanEndTimeUnixNano
            | SpanStartTime
            | SpanEndTime
            | SpanAttributes
            | SpanDroppedAttributesCount
            | SpanDroppedEventsCount
            | SpanDroppedLinksCount
            | SpanStatusCode
            | SpanStatusMessage
            | SpanFlags => ContextName::Span,
            EventTimeUnixNano
            | EventTime
            | EventName
            | EventAttributes
            | EventDroppedAttributesCount
            | EventIndex => ContextName::SpanEvent,
            LogTimeUnixNano
            | LogObservedTimeUnixNano
            | LogTime
            | LogObservedTime
            | LogSeverityNumber
            | LogSeverityText
            | LogBody
            | LogBodyString
            | LogAttributes
            | LogDroppedAttributesCount
            | LogFlags
            | LogTraceId
            | LogTraceIdString
            | LogSpanId
            | LogSpanIdString
            | LogEventName => ContextName::Log,
            MetricName
            | MetricDescription
            | MetricUnit
            | MetricType
            | MetricAggregationTemporality
            | MetricIsMonotonic
            | MetricMetadata => ContextName::Metric,
            // The cache belongs to whichever item the statement runs on.
            PointAttributes
            | PointStartTimeUnixNano
            | PointTimeUnixNano
            | PointStartTime
            | PointTime
            | PointValueDouble
            | PointValueInt
            | PointFlags
            | PointCount
            | PointSum
            | PointBucketCounts
            | PointExplicitBounds
            | PointScale
            | PointZeroCount
            | Cache => ContextName::DataPoint,
        }
    }

    /// Whether `["key"]` / `[0]` may follow the field.
    pub fn takes_keys(self) -> bool {
        matches!(
            self,
            Field::ResourceAttributes
                | Field::ScopeAttributes
                | Field::SpanAttributes
                | Field::EventAttributes
                | Field::LogAttributes
                | Field::PointAttributes
                | Field::MetricMetadata
                | Field::LogBody
                | Field::Cache
                | Field::SpanTraceState
        )
    }
}

type Table = &'static [(&'static str, Field)];

const RESOURCE: Table = &[
    ("attributes", Field::ResourceAttributes),
    (
        "dropped_attributes_count",
        Field::ResourceDroppedAttributesCount,
    ),
    ("schema_url", Field::ResourceSchemaUrl),
];

const SCOPE: Table = &[
    ("name", Field::ScopeName),
    ("version", Field::ScopeVersion),
    ("attributes", Field::ScopeAttributes),
    (
        "dropped_attributes_count",
        Field::ScopeDroppedAttributesCount,
    ),
    ("schema_url", Field::ScopeSchemaUrl),
];

const SPAN: Table = &[
    ("trace_id", Field::SpanTraceId),
    ("trace_id.string", Field::SpanTraceIdString),
    ("span_id", Field::SpanSpanId),
    ("span_id.string", Field::SpanSpanIdString),
    ("parent_span_id", Field::SpanParentSpanId),
    ("parent_span_id.string", Field::SpanParentSpanIdString),
    ("trace_state", Field::SpanTraceState),
    ("name", Field::SpanName),
    ("kind", Field::SpanKind),
    ("kind.string", Field::SpanKindString),
    ("kind.deprecated_string", Field::SpanKindDeprecatedString),
    ("start_time_unix_nano", Field::SpanStartTimeUnixNano),
    ("end_time_unix_nano", Field::SpanEndTimeUnixNano),
    ("start_time", Field::SpanStartTime),
    ("end_time", Field::SpanEndTime),
    ("attributes", Field::SpanAttributes),
    (
        "dropped_attributes_count",
        Field::SpanDroppedAttributesCount,
    ),
    ("dropped_events_count", Field::SpanDroppedEventsCount),
    ("dropped_links_count", Field::SpanDroppedLinksCount),
    ("status.code", Field::SpanStatusCode),
    ("status.message", Field::SpanStatusMessage),
    ("flags", Field::SpanFlags),
];

const SPAN_EVENT: Table = &[
    ("time_unix_nano", Field::EventTimeUnixNano),
    ("time", Field::EventTime),
    ("name", Field::EventName),
    ("attributes", Field::EventAttributes),
    (
        "dropped_attributes_count",
        Field::EventDroppedAttributesCount,
    ),
    ("event_index", Field::EventIndex),
];

const LOG: Table = &[
    ("time_unix_nano", Field::LogTimeUnixNano),
    ("observed_time_unix_nano", Field::LogObservedTimeUnixNano),
    ("time", Field::LogTime),
    ("observed_time", Field::LogObservedTime),
    ("severity_number", Field::LogSeverityNumber),
    ("severity_text", Field::LogSeverityText),
    ("body", Field::LogBody),
    ("body.string", Field::LogBodyString),
    ("attributes", Field::LogAttributes),
    ("dropped_attributes_count", Field::LogDroppedAttributesCount),
    ("flags", Field::LogFlags),
    ("trace_id", Field::LogTraceId),
    ("trace_id.string", Field::LogTraceIdString),
    ("span_id", Field::LogSpanId),
    ("span_id.string", Field::LogSpanIdString),
    ("event_name", Field::LogEventName),
];

const METRIC: Table = &[
    ("name", Field::MetricName),
    ("description", Field::MetricDescription),
    ("unit", Field::MetricUnit),
    ("type", Field::MetricType),
    (
        "aggregation_temporality",
        Field::MetricAggregationTemporality,
    ),
    ("is_monotonic", Field::MetricIsMonotonic),
    ("metadata", Field::MetricMetadata),
];

const DATA_POINT: Table = &[
    ("attributes", Field::PointAttributes),
    ("start_time_unix_nano", Field::PointStartTimeUnixNano),
    ("time_unix_nano", Field::PointTimeUnixNano),
    ("start_time", Field::PointStartTime),
    ("time", Field::PointTime),
    ("value_double", Field::PointValueDouble),
    ("value_int", Field::PointValueInt),
    ("flags", Field::PointFlags),
    ("count", Field::PointCount),
    ("sum", Field::PointSum),
    ("bucket_counts", Field::PointBucketCounts),
    ("explicit_bounds", Field::PointExplicitBounds),
    ("scale", Field::PointScale),
    ("zero_count", Field::PointZeroCount),
];

fn table(context: ContextName) -> Table {
    match context {
        ContextName::Resource => RESOURCE,
        ContextName::Scope => SCOPE,
        ContextName::Span => SPAN,
        ContextName::SpanEvent => SPAN_EVENT,
        ContextName::Metric => METRIC,
        ContextName::DataPoint => DATA_POINT,
        ContextName::Log => LOG,
    }
}

/// The context a written path names by its first segment, if it names one
/// (`span.name` -> span; `attributes` -> none).
pub fn named_context(names: &[String]) -> Option<ContextName> {
    if names.len() < 2 && names.first().map(String::as_str) != Some("resource") {
        return None;
    }
    names.first().and_then(|n| ContextName::parse(n))
}

/// Resolves a written path in a statement of `context`. With `prefixed`, every path
/// must start with a context name (the flat `statements:` form); without, a path with
/// no context name is a field of `context` itself (the `context:` groups' form).
pub fn resolve(
    context: ContextName,
    names: &[String],
    prefixed: bool,
) -> Result<(ContextName, Field), String> {
    let written = names.join(".");
    let (owner, rest) = match named_context(names) {
        Some(c) => (c, &names[1..]),
        None if prefixed => {
            return Err(format!(
                "path {written:?} has no context name; write e.g. `{}.{written}` (contexts: resource, scope, span, spanevent, metric, datapoint, log)",
                context.name()
            ))
        }
        None => (context, names),
    };
    if !context.reaches(owner) {
        return Err(format!(
            "path {written:?} belongs to the {} context, which a {} statement cannot reach",
            owner.name(),
            context.name()
        ));
    }
    let field_name = rest.join(".");
    if field_name == "cache" {
        return Ok((owner, Field::Cache));
    }
    let fields = table(owner);
    if let Some((_, field)) = fields.iter().find(|(n, _)| *n == field_name) {
        return Ok((owner, *field));
    }
    let known: Vec<&str> = fields.iter().map(|(n, _)| *n).chain(["cache"]).collect();
    let hint = known
        .iter()
        .filter(|k| strsim::levenshtein(k, &field_name) <= 3)
        .min_by_key(|k| strsim::levenshtein(k, &field_name))
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    Err(format!(
        "the {} context has no path {field_name:?}{hint}; it has {}",
        owner.name(),
        known.join(", ")
    ))
}
