//! Every fuzz target (`llamacol::fuzzing`, driven by cargo fuzz under `fuzz/`) run over
//! its corpus (`fuzz/corpus/<target>/`: seeds from the test fixtures, what the fuzzers
//! found worth keeping, and every input that once crashed), so a crash that was fixed
//! stays fixed. No new inputs are generated here; `scripts/fuzz TARGET SECONDS` does that.

#[test]
fn every_fuzz_target_survives_its_corpus() {
    let mut ran = Vec::new();
    for (name, target) in llamacol::fuzzing::TARGETS {
        let dir = std::path::Path::new("fuzz/corpus").join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{name}: an empty corpus tests nothing");
        for input in &inputs {
            let data = std::fs::read(input).expect("input");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", input.display());
        }
        ran.push(format!("{name}: {}", inputs.len()));
    }
    eprintln!("corpus inputs run: {}", ran.join(", "));
}
