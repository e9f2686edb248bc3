//! A reply on stdout: the payload as JSON for scripts (`-j`), or handed to the
//! renderer of the feature it belongs to.

use super::{addr, core, fib, link, neigh, nexthop, route, source, stats};
use crate::proto::Reply;

/// Prints `reply` as JSON or for people.
pub fn print(reply: &Reply, json: bool) {
    if json {
        print_json(reply);
    } else {
        print_text(reply);
    }
}

/// JSON for scripts: the payload alone (`{"routes": ...}` becomes `{...}`), `{}` for `done`.
pub fn print_json(reply: &Reply) {
    let value = match serde_json::to_value(reply) {
        Ok(serde_json::Value::Object(mut m)) if m.len() == 1 => {
            let key = m.keys().next().cloned().unwrap_or_default();
            m.remove(&key).unwrap_or_default()
        }
        Ok(serde_json::Value::String(_)) => serde_json::json!({}),
        Ok(v) => v,
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    println!("{value}");
}

fn print_text(reply: &Reply) {
    match reply {
        Reply::Done => {}
        Reply::Hello(h) => println!("{} (protocol {})", h.daemon, h.protocol),
        Reply::RouteChanged(c) => route::print_changed(c),
        Reply::Routes(list) => route::print_routes(list),
        Reply::RouteLookup(l) => route::print_lookup(l),
        Reply::BatchApplied(b) => route::print_batch_applied(b),
        Reply::Nexthops(list) => nexthop::print_nexthops(list),
        Reply::NexthopAdded(n) => nexthop::print_added(n),
        Reply::Neighbours(list) => neigh::print_neighbours(list),
        Reply::Addresses(list) => addr::print_addresses(list),
        Reply::Links(list) => link::print_links(list),
        Reply::Cores(list) => core::print_cores(list),
        Reply::CoreAdded(c) => core::print_added(c),
        Reply::FibStatus(s) => fib::print_status(s),
        Reply::Metrics(m) => print!("{}", crate::metrics::expose::render(m)),
        Reply::Event(e) => println!("{e}"),
        Reply::FibAudit(a) => fib::print_audit(a),
        Reply::Stats(s) => stats::print_stats(s, None),
        Reply::Sources(list) => source::print_sources(list),
    }
}
