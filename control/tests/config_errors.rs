//! fibred's configuration: the example parses to what it says, and every kind of
//! mistake is refused with its line, column and reason.

use control::config::*;
use control::proto::{PortRef, RouteTarget};
use std::net::Ipv4Addr;

const EXAMPLE: &str = include_str!("../examples/fibred.toml");

#[test]
fn the_example_parses() {
    let cfg = Config::parse_for(EXAMPLE, "fibred.toml", &[0, 1]).unwrap();
    assert_eq!(cfg.ports.len(), 3);
    assert_eq!(cfg.ports[0].name, "p0");
    assert_eq!(cfg.ports[0].device, "net_memif0");
    assert_eq!(cfg.ports[0].mac.unwrap().to_string(), "02:f1:b2:00:00:00");
    assert_eq!(cfg.ports[1].addrs.len(), 2);
    assert_eq!(cfg.ports[1].mtu, 1500);
    assert_eq!(cfg.ports[2].device, "net_null0");
    assert_eq!(cfg.cores.set, CoreSet::Cpus(vec![1]));
    assert_eq!(cfg.cores.burst, 32);
    assert_eq!(cfg.fib.max_tbl8_groups, Some(32768));
    assert_eq!(cfg.fib.ring_size, Some(4096));
    assert_eq!(cfg.control_socket.to_str(), Some("/run/fibre/fibred.sock"));
    assert!(cfg.state_file.is_some());
    assert!(cfg.eal.iter().any(|a| a.starts_with("--vdev=net_memif0")));
    assert_eq!(
        cfg.nexthops[0],
        NexthopConfig {
            name: "upstream".into(),
            target: RouteTarget::Via {
                gateway: Ipv4Addr::new(192, 0, 2, 254),
                port: Some(PortRef::Index(0))
            }
        }
    );
    assert_eq!(cfg.routes.len(), 5);
    assert_eq!(
        cfg.routes[0].target, cfg.nexthops[0].target,
        "a named nexthop's target"
    );
    assert_eq!(cfg.routes[2].distance, Some(10));
    assert_eq!(cfg.routes[3].target, RouteTarget::Blackhole);
    assert_eq!(cfg.routes[4].target, RouteTarget::Dev(PortRef::Index(2)));
    assert_eq!(cfg.routes[0].table, 254);
    assert_eq!(cfg.neighbours.len(), 2);
    assert_eq!(cfg.neighbours[1].port, 1);
    assert_eq!(cfg.port_index("lab"), Some(2));
}

#[test]
fn a_minimal_file_gets_defaults() {
    let cfg = Config::parse("[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\n", "m").unwrap();
    assert_eq!(cfg.cores.set, CoreSet::Count(1));
    assert_eq!(cfg.cores.rx_ring, 1024);
    assert_eq!(cfg.control_socket.to_str(), Some(DEFAULT_CONTROL_SOCKET));
    assert_eq!(cfg.state_file, None);
    assert!(Config::parse("", "empty").unwrap().ports.is_empty());
}

const PORTS: &str = "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\naddr = \"192.0.2.1/24\"\n";

/// Parses `text` and checks the error's line, column and message.
fn refused(text: &str, line: usize, column: usize, want: &str) {
    // A machine with 64 CPUs online, whatever this one has.
    let online: Vec<usize> = (0..64).collect();
    let e = Config::parse_for(text, "t.toml", &online).expect_err(text);
    assert!(
        e.message.contains(want),
        "{text:?}\n  wanted {want:?}\n  got {e}"
    );
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "{text:?}: position of {e}"
    );
    assert!(e
        .to_string()
        .starts_with(&format!("t.toml:{line}:{column}: ")));
}

#[test]
fn syntax_and_type_errors_carry_positions() {
    refused("eal = [\"a\"\n", 1, 11, "");
    refused("x = 1\n", 1, 1, "unknown field `x`");
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = true\n",
        3,
        8,
        "invalid type",
    );
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\nmtu = 70000\n",
        4,
        7,
        "",
    );
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\nmac = \"02:00:00\"\n",
        4,
        7,
        "invalid MAC address",
    );
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\naddr = \"192.0.2.1\"\n",
        4,
        8,
        "invalid interface address",
    );
    refused(
        &format!("{PORTS}[[route]]\nprefix = \"10.1.0.0/8\"\nblackhole = true\n"),
        6,
        10,
        "host bits are set (did you mean 10.0.0.0/8?)",
    );
    refused(
        &format!("{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"192.0.2.300\"\n"),
        7,
        7,
        "invalid",
    );
    refused(
        &format!("{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\ngateway = \"192.0.2.3\"\n"),
        7,
        1,
        "unknown field `gateway`",
    );
}

#[test]
fn semantic_errors_name_the_line() {
    // Ports.
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\n[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\n",
        5,
        8,
        "duplicate port \"p0\"",
    );
    refused("[[port]]\nname = \"p0\"\n", 2, 8, "needs dpdk");
    // Software ports are for in-process tests (control::daemon::soft), not fibred.
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_ring0\"\nsoft = true\n",
        4,
        1,
        "unknown field `soft`",
    );
    refused(
        "[[port]]\nname = \"3\"\ndpdk = \"net_null0\"\n",
        2,
        8,
        "not a number",
    );
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\nmtu = 40\n",
        4,
        7,
        "mtu 40 out of range",
    );
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\nmac = \"01:00:5e:00:00:01\"\n",
        4,
        7,
        "must be a unicast address",
    );
    refused(
        &format!("{PORTS}[[port]]\nname = \"p1\"\ndpdk = \"net_null0\"\naddr = \"192.0.2.9/24\"\n"),
        8,
        8,
        "overlaps 192.0.2.0/24 on port \"p0\"",
    );
    refused(
        &format!("{PORTS}[[port]]\nname = \"p1\"\ndpdk = \"net_null0\"\naddr = \"192.0.2.1/30\"\n"),
        8,
        8,
        "already on port \"p0\"",
    );
    refused(
        "[[port]]\nname = \"p0\"\ndpdk = \"net_null0\"\naddr = \"192.0.2.0/24\"\n",
        4,
        8,
        "network or broadcast",
    );
    // Cores.
    refused(
        "[cores]\ncpus = [1, 2, 1]\n",
        2,
        15,
        "CPU 1 is listed twice",
    );
    refused("[cores]\ncount = 0\n", 2, 9, "at least 1");
    refused("[cores]\ncpus = [1]\ncount = 2\n", 3, 9, "not both");
    refused(
        "[cores]\ncount = 1\nrx_ring = 1000\n",
        3,
        11,
        "power of two",
    );
    refused(
        "[cores]\ncount = 1\nburst = 0\n",
        3,
        9,
        "burst 0 out of range",
    );
    refused("[fib]\nring_size = 100\n", 2, 13, "power of two");
    // Routes.
    refused(
        &format!("{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"192.0.2.9\"\nport = \"p9\"\n"),
        8,
        8,
        "unknown port \"p9\" (ports: p0)",
    );
    refused(
        &format!("{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"203.0.113.1\"\n"),
        7,
        7,
        "gateway 203.0.113.1 is not in any interface subnet",
    );
    refused(
        &format!("{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\n"),
        6,
        10,
        "no target",
    );
    refused(
        &format!(
            "{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\nblackhole = true\nvia = \"192.0.2.9\"\n"
        ),
        6,
        10,
        "give one of via, blackhole or nexthop",
    );
    refused(
        &format!(
            "{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\nblackhole = true\n[[route]]\nprefix = \"10.0.0.0/8\"\nblackhole = true\n"
        ),
        9,
        10,
        "duplicate route 10.0.0.0/8 in table main",
    );
    refused(
        &format!("{PORTS}[[route]]\nprefix = \"10.0.0.0/8\"\nnexthop = \"nope\"\n"),
        7,
        11,
        "unknown nexthop \"nope\"",
    );
    refused(
        &format!("{PORTS}[[route]]\nblackhole = true\n"),
        5,
        1,
        "needs a prefix",
    );
    // Nexthops.
    refused(
        &format!("{PORTS}[[nexthop]]\nname = \"a\"\nblackhole = true\n[[nexthop]]\nname = \"a\"\nblackhole = true\n"),
        9,
        8,
        "duplicate nexthop \"a\"",
    );
    // Neighbours.
    refused(
        &format!("{PORTS}[[neighbour]]\naddr = \"10.9.9.9\"\nmac = \"02:00:00:00:00:01\"\nport = \"p0\"\n"),
        6,
        8,
        "not in any subnet of port \"p0\"",
    );
    refused(
        &format!("{PORTS}[[neighbour]]\naddr = \"192.0.2.9\"\nmac = \"ff:ff:ff:ff:ff:ff\"\nport = \"p0\"\n"),
        7,
        7,
        "unicast",
    );
    refused(
        &format!("{PORTS}[[neighbour]]\naddr = \"192.0.2.9\"\nmac = \"02:00:00:00:00:01\"\nport = \"eth0\"\n"),
        8,
        8,
        "unknown port \"eth0\"",
    );
    refused("control_socket = \"\"\n", 1, 18, "must not be empty");
}

#[test]
fn unreadable_file_says_so() {
    let e = Config::load(std::path::Path::new("/nonexistent/fibred.toml")).unwrap_err();
    assert!(e.message.contains("cannot read"), "{e}");
}

#[test]
fn cpus_must_be_online_and_tbl8_groups_in_range() {
    let e = Config::parse_for("[cores]\ncpus = [0, 3]\n", "t.toml", &[0, 1, 2, 5, 6, 7])
        .expect_err("CPU 3 is offline");
    assert_eq!((e.line, e.column), (2, 12));
    assert!(
        e.message
            .contains("CPU 3 is not online on this machine (online: 0-2,5-7)"),
        "{e}"
    );
    assert!(Config::parse_for("[cores]\ncpus = [0, 5]\n", "t.toml", &[0, 1, 2, 5]).is_ok());
    refused(
        "[fib]\nmax_tbl8_groups = 100000\n",
        2,
        19,
        "fib.max_tbl8_groups = 100000: the DIR-24-8 layout addresses at most",
    );
    refused(
        "[fib]\naudit_interval = 99999999\n",
        2,
        18,
        "fib.audit_interval = 99999999 s: at most 604800 s",
    );
    let cfg = Config::parse_for("[fib]\naudit_interval = 0\n", "t.toml", &[0]).unwrap();
    assert_eq!(cfg.fib.audit_interval, Some(0));
    assert_eq!(parse_cpu_list("0-3,6"), Some(vec![0, 1, 2, 3, 6]));
    assert_eq!(parse_cpu_list("0"), Some(vec![0]));
    assert_eq!(parse_cpu_list("3-1"), None);
    assert_eq!(parse_cpu_list("x"), None);
}
