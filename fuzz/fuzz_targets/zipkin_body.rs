#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| llamacol::fuzzing::zipkin_body(data));
