//! net_tap moved into a network namespace the test creates: the kernel's
//! ARP and `ping` from inside the namespace are answered by a small ARP /
//! ICMP-echo responder built on the port layer. Needs root (TUNSETIFF,
//! `ip netns`). Namespace, interface and processes are cleaned up however
//! the test ends.
#![cfg(feature = "dpdk")]

mod dpdk_util;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dataplane::dpdk::{Eal, PortConfig};
use dataplane::port::{Burst, Packet, Port};
use dpdk_util::eal_args;

const OUR_IP: [u8; 4] = [10, 213, 0, 2];

fn ip(args: &[&str]) -> std::process::Output {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deletes the namespace and kills the ping (by its PID) on drop. Declared
/// before the EAL so it drops after the port (which removes the TAP).
struct Cleanup {
    netns: String,
    ping: Option<Child>,
}
impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut c) = self.ping.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

#[derive(Default, Debug)]
struct Answered {
    arp: u64,
    echo: u64,
    ignored: u64,
}

fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Rewrites a request into its reply in place; false if the frame is not
/// an ARP request or ICMP echo request for `OUR_IP`.
fn answer(f: &mut [u8], mac: [u8; 6], n: &mut Answered) -> bool {
    if f.len() < 42 {
        return false;
    }
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    if ethertype == 0x0806 && f[14..22] == [0, 1, 8, 0, 6, 4, 0, 1] && f[38..42] == OUR_IP {
        let (sha, spa): ([u8; 6], [u8; 4]) =
            (f[22..28].try_into().unwrap(), f[28..32].try_into().unwrap());
        f[0..6].copy_from_slice(&sha);
        f[6..12].copy_from_slice(&mac);
        f[21] = 2; // reply
        f[22..28].copy_from_slice(&mac);
        f[28..32].copy_from_slice(&OUR_IP);
        f[32..38].copy_from_slice(&sha);
        f[38..42].copy_from_slice(&spa);
        n.arp += 1;
        return true;
    }
    if ethertype == 0x0800 && f[14] >> 4 == 4 && f[23] == 1 && f[30..34] == OUR_IP {
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        let icmp = 14 + ihl;
        if total < ihl + 8 || f.len() < 14 + total || f[icmp] != 8 {
            return false;
        }
        let src: [u8; 6] = f[6..12].try_into().unwrap();
        f[0..6].copy_from_slice(&src);
        f[6..12].copy_from_slice(&mac);
        let sip: [u8; 4] = f[26..30].try_into().unwrap();
        f[26..30].copy_from_slice(&OUR_IP);
        f[30..34].copy_from_slice(&sip); // swapping keeps the IP checksum
        f[icmp] = 0; // echo reply
        f[icmp + 2..icmp + 4].copy_from_slice(&[0, 0]);
        let c = csum(&f[icmp..14 + total]);
        f[icmp + 2..icmp + 4].copy_from_slice(&c.to_be_bytes());
        n.echo += 1;
        return true;
    }
    n.ignored += 1;
    false
}

#[test]
fn tap_in_netns_answers_arp_and_ping() {
    let pid = std::process::id();
    let iface = format!("fibtap{}", pid % 100_000);
    let mut cleanup = Cleanup {
        netns: format!("fibre-tap-{pid}"),
        ping: None,
    };
    let ns = cleanup.netns.clone();

    let vdev = format!("--vdev=net_tap0,iface={iface}");
    let eal = Eal::init(&eal_args("tap", &[&vdev])).expect("EAL starts (net_tap needs root)");
    let id = eal.port_by_name("net_tap0").unwrap();
    let pool = eal.mempool("tap_pool", 2047, 64, 2048).unwrap();
    let port = eal.start_port(id, pool, &PortConfig::default()).unwrap();
    assert!(
        port.spreads_flows(),
        "a tap hands flows to its queues itself: every queue must be polled"
    );
    let mac = port.mac().unwrap();

    ip(&["netns", "add", &ns]);
    ip(&["link", "set", &iface, "netns", &ns]);
    ip(&["-n", &ns, "addr", "add", "10.213.0.1/24", "dev", &iface]);
    ip(&["-n", &ns, "link", "set", &iface, "up"]);
    ip(&["-n", &ns, "link", "set", "lo", "up"]);

    cleanup.ping = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "ping",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                "10.213.0.2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ping runs (Debian package iputils-ping)"),
    );

    let mut q = port.queue(0).unwrap();
    let mut n = Answered::default();
    let mut burst = Burst::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if q.rx_burst(&mut burst) > 0 {
            burst.retain(|p| answer(p.data_mut(), mac, &mut n));
            q.tx_burst(&mut burst);
        }
        if let Some(st) = cleanup.ping.as_mut().unwrap().try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let child = cleanup.ping.take().unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}\nresponder: {n:?}, port counters {:?}", q.counters());
    assert!(status.is_some(), "ping did not finish in time:\n{text}");
    assert!(out.status.success(), "ping failed:\n{text}");
    assert!(text.contains("3 received"), "{text}");
    assert!(n.arp >= 1, "the kernel's ARP request was answered");
    assert!(n.echo >= 3, "three echo requests answered");
    let neigh = ip(&["-n", &ns, "neigh", "show", "10.213.0.2"]);
    let want = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    assert!(
        String::from_utf8_lossy(&neigh.stdout).contains(&want),
        "the kernel learned our MAC {want}"
    );
    drop(burst);
    drop(q);
    drop(port);
    drop(eal);
}
