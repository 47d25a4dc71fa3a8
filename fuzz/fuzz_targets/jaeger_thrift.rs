#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| llamacol::fuzzing::jaeger_thrift(data));
