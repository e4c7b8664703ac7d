//! Fuzz the topology file (lib/topo/model.rs, all labs): any text the model accepts must plan
//! into well-formed commands, so `--dry-run` shows exactly what `up` runs and no field can
//! smuggle in a second command.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirelab::topo::plan::fuzz_topology(data);
});
