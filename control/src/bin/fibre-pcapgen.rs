//! `fibre-pcapgen`: writes a pcap of valid 64-byte IPv4/UDP frames whose
//! destinations are random addresses inside the routes of a route file, for DPDK's
//! net_pcap to replay (`infinite_rx=1`) as a traffic generator into fibred.

use anyhow::{Context, Result};
use clap::Parser;
use dataplane::wire::ethernet::{EtherType, EthernetAddress, Repr as EthernetRepr};
use dataplane::wire::ipv4::{Protocol, Repr as Ipv4Repr};
use fib::routefile::parse_line;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Write a pcap of 64-byte IPv4 frames to random destinations of a route table")]
struct Args {
    /// RouteViews route file (`prefix/len<TAB>asn` lines).
    routes: PathBuf,
    /// Output pcap.
    out: PathBuf,
    /// Frames to write.
    #[arg(long, default_value_t = 8192)]
    frames: usize,
    /// Destination MAC: the receiving router port's (its `[[port]] mac`, or the device's
    /// own), since fibred drops unicast frames for any other MAC (`l2_other_host`).
    #[arg(long, default_value = "02:00:00:00:00:01")]
    dst_mac: EthernetAddress,
    /// Source address of every frame.
    #[arg(long, default_value = "192.0.2.10")]
    src: Ipv4Addr,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.routes)
        .with_context(|| format!("reading {}", args.routes.display()))?;
    let mut prefixes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(r) =
            parse_line(line).with_context(|| format!("{}:{}", args.routes.display(), n + 1))?
        {
            prefixes.push(r.prefix);
        }
    }
    anyhow::ensure!(
        !prefixes.is_empty(),
        "{} holds no routes",
        args.routes.display()
    );
    let mut rng = SmallRng::seed_from_u64(0xF1B4E);
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // Classic pcap: microsecond timestamps (all zero here), Ethernet.
    let mut out = PcapWriter::new(std::io::BufWriter::new(file))?;
    let eth = EthernetRepr {
        src_addr: EthernetAddress([0x02, 0, 0, 0, 0, 0x10]),
        dst_addr: args.dst_mac,
        vlan: None,
        ethertype: EtherType::IPV4,
    };
    for _ in 0..args.frames {
        let p = prefixes[rng.random_range(0..prefixes.len())];
        let dst = Ipv4Addr::from(p.first() | (rng.random::<u32>() & !fib::prefix::mask(p.len())));
        // 14 + 20 + 8 + 18 = 60 bytes, 64 on the wire with the FCS.
        let ip = Ipv4Repr::new(args.src, dst, Protocol::UDP, 26, 64);
        let mut frame = vec![0u8; 60];
        let hl = eth.emit(&mut frame)?;
        ip.emit(&mut frame[hl..])?;
        frame[hl + 20..hl + 28].copy_from_slice(&[0x03, 0xe8, 0x07, 0xd0, 0, 26, 0, 0]);
        out.write_packet(&PcapPacket::new(Duration::ZERO, 60, &frame))
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    out.into_writer()
        .flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "fibre-pcapgen: {} frames to destinations in {} routes -> {}",
        args.frames,
        prefixes.len(),
        args.out.display()
    );
    Ok(())
}
