//! `fibrectl route load FILE`: a whole route file, streamed to the daemon in
//! batches with several in flight, so the daemon always has the next one to apply.

use super::failure::{daemon, usage, Failure};
use super::route_file::{self, RouteLine};
use super::session::Session;
use super::words::parse_table;
use super::ClientError;
use crate::proto::{
    BatchRoute, PortRef, Reply, Request, RouteBatch, RouteTarget, DEFAULT_BATCH_ROUTES,
    MAX_BATCH_ERRORS,
};
use anyhow::Context as _;
use clap::Args;
use fib::Protocol;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct LoadArgs {
    file: PathBuf,
    /// Nexthop id for RouteViews lines (repeat to spread origin ASes over several: AS mod count).
    #[arg(long = "nexthop")]
    nexthops: Vec<u32>,
    /// Gateway for RouteViews lines (instead of --nexthop).
    #[arg(long, conflicts_with = "nexthops")]
    via: Option<Ipv4Addr>,
    /// Port of --via.
    #[arg(long, requires = "via")]
    dev: Option<String>,
    #[arg(long, default_value = "main", value_parser = parse_table)]
    table: u32,
    #[arg(long = "proto", default_value = "static")]
    protocol: Protocol,
    /// Routes per batch message.
    #[arg(long, default_value_t = DEFAULT_BATCH_ROUTES as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Batches sent ahead of their answers.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    window: u64,
}

/// Parses the whole file first (a bad line sends nothing), then streams batches with
/// `window` of them in flight.
pub fn run(args: LoadArgs, session: &Session) -> Result<(), Failure> {
    let routes = read_routes(&args)?;
    let total = routes.len();
    let mut client = session.connect()?;
    let bar = if std::io::stderr().is_terminal() && !session.json {
        ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} routes  {per_sec}  eta {eta}")
            .context("progress style")?,
    );
    let started = Instant::now();
    let batch_len = args.batch as usize;
    let window = args.window as usize;
    // The batches in flight, oldest first: (id, index of its first route, routes).
    let mut in_flight: std::collections::VecDeque<(u64, usize, usize)> = Default::default();
    let mut applied = 0usize;
    let mut failed = 0usize;
    let mut errors: Vec<String> = Vec::new();
    let mut chunks = routes.chunks(batch_len).enumerate().peekable();
    let mut seq = 0;
    let mut batches = 0usize;
    while chunks.peek().is_some() || !in_flight.is_empty() {
        while in_flight.len() < window {
            let Some((i, chunk)) = chunks.next() else {
                break;
            };
            let req = Request::RouteLoad(RouteBatch {
                table: args.table,
                protocol: args.protocol,
                distance: None,
                replace: true,
                routes: chunk.to_vec(),
            });
            let id = client.send(&req)?;
            in_flight.push_back((id, i * batch_len, chunk.len()));
            batches += 1;
        }
        let Some((want, first, len)) = in_flight.pop_front() else {
            break;
        };
        let (got, response) = client.recv()?;
        if got != Some(want) {
            if let (None, Err(e)) = (got, &response) {
                return Err(ClientError::Daemon(e.clone()).into());
            }
            return Err(ClientError::UnexpectedId { want, got }.into());
        }
        match response {
            Ok(Reply::BatchApplied(b)) => {
                applied += b.applied;
                failed += b.failed;
                seq = b.seq;
                for e in b.errors {
                    if errors.len() < MAX_BATCH_ERRORS {
                        let r = routes.get(first + e.index);
                        errors.push(format!(
                            "{}: {}",
                            r.map_or_else(|| "?".into(), |r| r.prefix.to_string()),
                            e.message
                        ));
                    }
                }
            }
            Ok(other) => return Err(daemon(format!("fibred answered route_load with {other:?}"))),
            Err(e) => {
                return Err(daemon(format!(
                    "fibred refused a batch after {applied} routes: {e}"
                )))
            }
        }
        bar.inc(len as u64);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    if session.json {
        println!(
            "{}",
            serde_json::json!({
                "routes": total, "applied": applied, "failed": failed, "batches": batches,
                "seconds": secs, "routes_per_second": rate.round(), "seq": seq, "errors": errors,
            })
        );
    } else {
        println!(
            "loaded {applied} of {total} routes in {batches} batches in {secs:.2}s ({:.0} routes/s), seq {seq}",
            rate
        );
        for e in &errors {
            eprintln!("fibrectl: refused: {e}");
        }
    }
    if failed > 0 {
        return Err(daemon(format!("{failed} of {total} routes were refused")));
    }
    Ok(())
}

/// Every route of the file, with RouteViews lines sent where the options say.
fn read_routes(args: &LoadArgs) -> Result<Vec<BatchRoute>, Failure> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        usage(format!(
            "route load: cannot read {}: {e}",
            args.file.display()
        ))
    })?;
    let dev: Option<PortRef> = args.dev.as_deref().map(|d| d.parse().expect("infallible"));
    let mut routes: Vec<BatchRoute> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = route_file::parse_line(line).map_err(|e| {
            usage(format!(
                "route load: {}:{}: {e}",
                args.file.display(),
                i + 1
            ))
        })?;
        let (prefix, asn) = match parsed {
            None => continue,
            Some(RouteLine::Route(route)) => {
                routes.push(route);
                continue;
            }
            Some(RouteLine::OriginAs { prefix, asn }) => (prefix, asn),
        };
        let target = if let Some(gateway) = args.via {
            RouteTarget::Via {
                gateway,
                port: dev.clone(),
            }
        } else if !args.nexthops.is_empty() {
            RouteTarget::Nexthop(args.nexthops[asn as usize % args.nexthops.len()])
        } else {
            return Err(usage(format!(
                "route load: {}:{}: a RouteViews line (prefix<TAB>AS) needs --nexthop ID or --via GW to say where its routes go",
                args.file.display(),
                i + 1
            )));
        };
        routes.push(BatchRoute { prefix, target });
    }
    Ok(routes)
}
