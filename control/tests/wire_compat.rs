//! Protocol v1 stays wire-compatible: a fixed script of requests (JSON lines, as a
//! client sends them) is answered by an in-process `Router`, and every encoded
//! answer must equal, byte for byte, what the daemon answered when the golden file
//! `tests/wire/v1.golden` was recorded. Fields that depend on the clock (uptime,
//! commit and apply stamps) are zeroed before comparing.
//!
//! `FIBRE_BLESS=1 cargo test -p control --test wire_compat` rewrites the golden
//! file; do that only for a deliberate, versioned protocol change.

use control::daemon::{Backend, CoreStart, LinkState, PortMeta, Router};
use control::interfaces::LinkCounters;
use control::proto::{decode_request, encode_response};
use dataplane::port::soft::SoftPacket;
use dataplane::wire::ethernet::EthernetAddress;
use dataplane::worker::CoreHandle;
use fib::{Fib, FibConfig, PortId, TableId};

/// Ports without cores: every answer here comes from the control plane's state.
struct NoCores;

impl Backend for NoCores {
    type Packet = SoftPacket;
    fn kind(&self) -> &'static str {
        "none"
    }
    fn link(&self, port: PortId) -> LinkState {
        LinkState {
            up: port == 0,
            speed_mbps: (port == 0).then_some(10_000),
            counters: LinkCounters {
                rx_packets: 11,
                rx_bytes: 1100,
                rx_dropped: 1,
                tx_packets: 22,
                tx_bytes: 2200,
                tx_dropped: 2,
                rx_missed: 1,
                ..LinkCounters::default()
            },
        }
    }
    fn alloc(&mut self) -> Option<SoftPacket> {
        None
    }
    fn start_core(&mut self, _: CoreStart) -> Result<CoreHandle<SoftPacket>, String> {
        Err("no cores in this test".into())
    }
    fn stop_core(&mut self, _: u32) -> Result<(), String> {
        Ok(())
    }
}

/// Every request kind, with the arguments' optional fields both present and absent,
/// and the refusals a client meets most.
const SCRIPT: &[&str] = &[
    r#"{"v":1,"id":1,"request":"hello"}"#,
    r#"{"v":1,"id":2,"request":{"addr_add":{"addr":"192.0.2.1/24","port":"p0"}}}"#,
    r#"{"v":1,"id":3,"request":{"addr_add":{"addr":"198.51.100.1/24","port":1}}}"#,
    r#"{"v":1,"id":4,"request":{"addr_add":{"addr":"192.0.2.1/24","port":1}}}"#,
    r#"{"v":1,"id":5,"request":{"neigh_add":{"addr":"192.0.2.2","port":"p0","mac":"02:00:00:00:00:02"}}}"#,
    r#"{"v":1,"id":6,"request":{"neigh_add":{"addr":"192.0.2.3","port":"p0"}}}"#,
    r#"{"v":1,"id":7,"request":{"nexthop_add":{"via":{"gateway":"192.0.2.2"}}}}"#,
    r#"{"v":1,"id":8,"request":{"nexthop_add":{"dev":"p1"}}}"#,
    r#"{"v":1,"id":9,"request":{"nexthop_add":"blackhole"}}"#,
    r#"{"v":1,"id":10,"request":{"route_add":{"prefix":"10.0.0.0/8","target":{"via":{"gateway":"192.0.2.2"}}}}}"#,
    r#"{"v":1,"id":11,"request":{"route_add":{"prefix":"10.1.0.0/16","target":{"dev":"p1"},"distance":3}}}"#,
    r#"{"v":1,"id":12,"request":{"route_add":{"prefix":"10.2.0.0/16","target":{"nexthop":1}}}}"#,
    r#"{"v":1,"id":13,"request":{"route_add":{"prefix":"10.3.0.0/16","target":{"multipath":[{"via":{"gateway":"192.0.2.2"}},{"via":{"gateway":"198.51.100.9","port":1}}]}}}}"#,
    r#"{"v":1,"id":14,"request":{"route_add":{"prefix":"10.4.0.0/16","target":"blackhole","protocol":"kernel"}}}"#,
    r#"{"v":1,"id":15,"request":{"route_replace":{"prefix":"10.0.0.0/8","target":{"via":{"gateway":"198.51.100.7","port":"p1"}}}}}"#,
    r#"{"v":1,"id":16,"request":{"route_add":{"prefix":"10.0.0.0/8","target":"blackhole"}}}"#,
    r#"{"v":1,"id":17,"request":{"route_add":{"table":100,"prefix":"10.5.0.0/16","target":{"via":{"gateway":"203.0.113.1"}}}}}"#,
    r#"{"v":1,"id":18,"request":{"route_load":{"table":100,"protocol":"frr","distance":20,"routes":[{"prefix":"172.16.0.0/12","target":"blackhole"},{"prefix":"172.17.0.0/16","target":{"via":{"gateway":"203.0.113.1"}}},{"prefix":"172.18.0.0/16","target":{"dev":"p9"}}]}}}"#,
    r#"{"v":1,"id":19,"request":{"route_load":{"replace":false,"routes":[{"prefix":"10.0.0.0/8","target":"blackhole"},{"prefix":"10.6.0.0/16","target":"blackhole"}]}}}"#,
    r#"{"v":1,"id":20,"request":{"route_show":{}}}"#,
    r#"{"v":1,"id":21,"request":{"route_show":{"table":254,"protocol":"static","prefix":"10.0.0.0/8","limit":3}}}"#,
    r#"{"v":1,"id":22,"request":{"route_get":{"addr":"10.3.1.1"}}}"#,
    r#"{"v":1,"id":23,"request":{"route_get":{"addr":"10.0.0.1"}}}"#,
    r#"{"v":1,"id":24,"request":{"route_get":{"addr":"100.64.0.1","table":100}}}"#,
    r#"{"v":1,"id":25,"request":{"route_get":{"addr":"10.0.0.1","core":0}}}"#,
    r#"{"v":1,"id":26,"request":"nexthop_show"}"#,
    r#"{"v":1,"id":27,"request":{"neigh_show":{}}}"#,
    r#"{"v":1,"id":28,"request":{"neigh_show":{"port":"p1"}}}"#,
    r#"{"v":1,"id":29,"request":{"addr_show":{}}}"#,
    r#"{"v":1,"id":30,"request":{"link_show":{}}}"#,
    r#"{"v":1,"id":31,"request":{"link_show":{"port":"p9"}}}"#,
    r#"{"v":1,"id":32,"request":"core_show"}"#,
    r#"{"v":1,"id":33,"request":{"core_add":{}}}"#,
    r#"{"v":1,"id":34,"request":{"core_add":{"cpu":1}}}"#,
    r#"{"v":1,"id":35,"request":{"core_del":{"id":5}}}"#,
    r#"{"v":1,"id":36,"request":"fib_status"}"#,
    r#"{"v":1,"id":37,"request":"stats"}"#,
    r#"{"v":1,"id":38,"request":"source_show"}"#,
    r#"{"v":1,"id":39,"request":{"route_del":{"prefix":"10.4.0.0/16","protocol":"kernel"}}}"#,
    r#"{"v":1,"id":40,"request":{"route_del":{"prefix":"10.4.0.0/16"}}}"#,
    r#"{"v":1,"id":41,"request":{"nexthop_del":{"id":1}}}"#,
    r#"{"v":1,"id":42,"request":{"nexthop_del":{"id":999}}}"#,
    r#"{"v":1,"id":43,"request":{"neigh_del":{"addr":"192.0.2.2","port":"p0"}}}"#,
    r#"{"v":1,"id":44,"request":{"neigh_del":{"addr":"192.0.2.99","port":"p0"}}}"#,
    r#"{"v":1,"id":45,"request":{"addr_del":{"addr":"198.51.100.1/24","port":"p1"}}}"#,
    r#"{"v":1,"id":46,"request":{"addr_del":{"addr":"198.51.100.1/24","port":"p1"}}}"#,
    r#"{"v":1,"id":47,"request":{"route_add":{"prefix":"10.7.0.0/16","target":{"via":{"gateway":"198.51.100.1"}}}}}"#,
    r#"{"v":1,"id":48,"request":{"route_add":{"prefix":"10.8.0.0/33","target":"blackhole"}}}"#,
    r#"{"v":1,"id":49,"request":{"neigh_add":{"addr":"192.0.2.4","port":"p0","mac":"01:00:00:00:00:01"}}}"#,
    r#"{"v":1,"id":50,"request":{"no_such_request":{}}}"#,
    r#"{"v":2,"id":51,"request":"hello"}"#,
    r#"{"v":1,"id":52,"request":{"route_show":{"bogus":1}}}"#,
    r#"not json"#,
    r#"{"v":1,"id":53,"request":{"neigh_add":{"addr":"192.0.2.5","port":"p0","mac":"02:00:00:00:00"}}}"#,
    r#"{"v":1,"id":54,"request":"route_show"}"#,
    r#"{"v":1,"id":55,"request":"fib_status"}"#,
];

/// Clock-dependent fields, zeroed in both the answer and the golden file.
const CLOCK_FIELDS: &[&str] = &[
    "\"uptime_ms\":",
    "\"committed_at_ns\":",
    "\"applied_at_ns\":",
];

fn zero_clock_fields(line: &str) -> String {
    let mut out = line.to_string();
    for field in CLOCK_FIELDS {
        let mut from = 0;
        while let Some(at) = out[from..].find(field) {
            let start = from + at + field.len();
            let end = start
                + out[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(out.len() - start);
            out.replace_range(start..end, "0");
            from = start + 1;
        }
    }
    out
}

fn router() -> Router<NoCores> {
    let port = |name: &str, last: u8, table: u32| PortMeta {
        name: name.into(),
        mac: EthernetAddress([0x02, 0, 0, 0, 0xf0, last]),
        mtu: 1500,
        table: TableId(table),
    };
    Router::new(
        Fib::new(FibConfig::default()),
        NoCores,
        vec![port("p0", 0, 254), port("p1", 1, 254), port("p2", 2, 100)],
        1024,
    )
}

/// The script's answers, one encoded line each (a request the codec refuses is
/// answered by the codec's error, as the server does).
fn answers() -> Vec<String> {
    let mut router = router();
    let mut out = Vec::new();
    for line in SCRIPT {
        let mut buf = Vec::new();
        match decode_request(line.as_bytes()) {
            Ok((id, request)) => encode_response(Some(id), &router.handle(request), &mut buf),
            Err(e) => encode_response(e.id, &Err(e.error), &mut buf),
        }
        let text = String::from_utf8(buf).expect("utf-8");
        out.push(zero_clock_fields(text.trim_end()));
    }
    out
}

#[test]
fn v1_answers_are_byte_identical_to_the_golden_file() {
    let golden_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/wire/v1.golden");
    let got = answers();
    if std::env::var_os("FIBRE_BLESS").is_some() {
        std::fs::write(golden_path, got.join("\n") + "\n").expect("writing the golden file");
        return;
    }
    let golden = std::fs::read_to_string(golden_path).expect("reading the golden file");
    let want: Vec<&str> = golden.lines().collect();
    assert_eq!(want.len(), SCRIPT.len(), "one golden line per request");
    for ((request, got), want) in SCRIPT.iter().zip(&got).zip(&want) {
        assert_eq!(got, want, "answer to {request}");
    }
}
