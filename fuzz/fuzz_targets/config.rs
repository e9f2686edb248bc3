//! `fibred`'s configuration file over arbitrary UTF-8:
//! `Config::parse_for(text, "fuzz.toml", &[0, 1])` (two online CPUs).
//!
//! Invariants: no panic; a refusal names the file, has a position (line ≥ 1,
//! column ≥ 1, the line within the text) and prints as `fuzz.toml:LINE:COLUMN: ...`;
//! a configuration that validates is one `fibred` can start with: its state, as
//! `daemon::startup::configured_router` applies it, is accepted by a `Router` (on
//! `fibre_fuzz::FuzzBackend`)
//! (validation owns every refusal, so that each comes with a line number).

#![no_main]

use control::config::Config;
use control::daemon::startup::configured_router;
use control::daemon::PortMeta;
use dataplane::wire::ethernet::EthernetAddress;
use fib::TableId;
use fibre_fuzz::FuzzBackend;
use libfuzzer_sys::fuzz_target;

/// Configurations with more ports than this are validated but not started.
const MAX_PORTS: usize = 64;

fuzz_target!(|text: &str| {
    match Config::parse_for(text, "fuzz.toml", &[0, 1]) {
        Err(e) => {
            assert_eq!(e.file, "fuzz.toml");
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.toml:"), "{shown}");
            assert!(e.line >= 1, "a refusal without a line: {shown}");
            assert!(e.column >= 1, "a refusal without a column: {shown}");
            assert!(
                e.line <= text.split('\n').count(),
                "line past the end of the text: {shown}"
            );
            assert!(!e.message.is_empty(), "{shown}");
        }
        Ok(cfg) => {
            if cfg.ports.len() > MAX_PORTS {
                return;
            }
            let metas = cfg
                .ports
                .iter()
                .enumerate()
                .map(|(i, p)| PortMeta {
                    name: p.name.clone(),
                    mac: p
                        .mac
                        .unwrap_or(EthernetAddress([0x02, 0xf1, 0, 0, 0, i as u8])),
                    mtu: p.mtu,
                    table: TableId(p.table),
                })
                .collect();
            if let Err(e) = configured_router(&cfg, FuzzBackend::new(cfg.ports.len()), metas) {
                panic!("a configuration that validates is refused at start-up: {e:#}");
            }
        }
    }
});
