//! Span formats other than OTLP that receivers read and exporters write (Jaeger, Zipkin,
//! and the Thrift encoding both use), with their translation to and from OTLP. Here, in
//! the API crate, because more than one component speaks each (the `jaeger` receiver
//! and exporter, the `zipkin` receiver and exporter, and a Kafka topic carrying either).

pub mod jaeger;
pub mod thrift;
pub mod zipkin;

#[cfg(test)]
mod test_support;
