//! What the fuzz targets share: a model of the routes a route source has put into
//! fibre, kept only from the requests the source emitted.

use control::proto::{Request, RouteTarget};
use control::source::SourceView;
use fib::{Ipv4Prefix, Protocol};
use std::collections::HashMap;

/// fibre's routes from one source, as its requests left them. After every step the
/// source's own [`SourceView`] must equal it: a change the source recorded but did
/// not send (or sent but did not record) would leave fibre out of step for good.
pub struct FibModel {
    protocol: Protocol,
    routes: HashMap<(u32, Ipv4Prefix), (RouteTarget, Option<u8>)>,
}

impl FibModel {
    pub fn new(protocol: Protocol) -> Self {
        FibModel {
            protocol,
            routes: HashMap::new(),
        }
    }

    /// Applies a source's requests; they can only be its own replaces and deletes,
    /// and a delete names a route it installed.
    pub fn apply(&mut self, requests: &[Request]) {
        for r in requests {
            match r {
                Request::RouteReplace(s) => {
                    assert_eq!(s.protocol, self.protocol, "{r:?}");
                    self.routes
                        .insert((s.table, s.prefix), (s.target.clone(), s.distance));
                }
                Request::RouteDel(d) => {
                    assert_eq!(d.protocol, self.protocol, "{r:?}");
                    assert!(
                        self.routes.remove(&(d.table, d.prefix)).is_some(),
                        "delete of a route the source never installed: {r:?}"
                    );
                }
                other => panic!("a source made {other:?}"),
            }
        }
    }

    /// The view and the model agree route for route.
    pub fn check(&self, view: &SourceView) {
        assert_eq!(view.len(), self.routes.len(), "view and requests disagree");
        for r in view.routes() {
            assert_eq!(
                self.routes.get(&(r.table, r.prefix)),
                Some(&(r.target.clone(), r.distance)),
                "view holds {r:?}, fibre was told otherwise"
            );
        }
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

use control::daemon::{Backend, CoreStart, LinkState, PortMeta, Router};
use control::interfaces::PortFilter;
use control::proto::{AddrSpec, Reply, Response, RouteFilter};
use dataplane::port::soft::{SoftPacket, SoftPool};
use dataplane::wire::ethernet::EthernetAddress;
use dataplane::worker::CoreHandle;
use fib::PortId;
use fib::TableId;

/// The software backend without its cores: `daemon::soft::SoftBackend` allocates
/// a 16 Ki-buffer (32 MiB) packet pool per router, which alone holds a fuzz target
/// to a few hundred executions a second; a router per input wants something
/// lighter. Like `SoftBackend` its links are up and frames come from a `SoftPool`
/// (64 buffers); starting a core is refused (a thread per input would be the
/// fuzzer's bottleneck), so `core_add` exercises its checks and its refusal.
pub struct FuzzBackend {
    ports: usize,
    pool: SoftPool,
}

impl FuzzBackend {
    pub fn new(ports: usize) -> Self {
        FuzzBackend {
            ports,
            pool: SoftPool::new(64),
        }
    }
}

impl Backend for FuzzBackend {
    type Packet = SoftPacket;

    fn kind(&self) -> &'static str {
        "soft"
    }

    fn link(&self, port: PortId) -> LinkState {
        LinkState {
            up: usize::from(port) < self.ports,
            ..LinkState::default()
        }
    }

    fn alloc(&mut self) -> Option<SoftPacket> {
        self.pool.alloc()
    }

    fn start_core(&mut self, _: CoreStart) -> Result<CoreHandle<SoftPacket>, String> {
        Err("no forwarding cores under the fuzzer".into())
    }

    fn stop_core(&mut self, _: u32) -> Result<(), String> {
        Ok(())
    }
}

/// A router with two ports, p0 (192.0.2.1/24) and p1 (198.51.100.1/24), as
/// `control/tests/router_soft.rs` builds it, on a [`FuzzBackend`].
pub fn router() -> Router<FuzzBackend> {
    let metas = [("p0", 0u8), ("p1", 1u8)]
        .into_iter()
        .map(|(name, last)| PortMeta {
            name: name.into(),
            mac: EthernetAddress([0x02, 0xf1, 0, 0, 0, last]),
            mtu: 1500,
            table: TableId::MAIN,
        })
        .collect();
    let mut r = Router::new(
        fib::Fib::new(fib::FibConfig::default()),
        FuzzBackend::new(2),
        metas,
        4096,
    );
    for (addr, port) in [("192.0.2.1/24", "p0"), ("198.51.100.1/24", "p1")] {
        let request = Request::AddrAdd(AddrSpec {
            addr: addr.parse().unwrap(),
            port: port.parse().unwrap(),
        });
        r.handle(request).expect("the fixture's addresses");
    }
    r
}

/// The state a router shows that requests change: routes, nexthops, addresses.
pub fn visible(r: &mut Router<FuzzBackend>) -> Vec<Response> {
    vec![
        r.handle(Request::RouteShow(RouteFilter::default())),
        r.handle(Request::NexthopShow),
        r.handle(Request::AddrShow(PortFilter::default())),
    ]
}

/// What must survive a restart: [`visible`] without the ids of nexthops, which are
/// handed out afresh on every run (a route's nexthop is compared by what it says;
/// `control::daemon::journal`'s own tests compare states the same way).
pub fn restart_view(r: &mut Router<FuzzBackend>) -> Vec<Response> {
    let mut v = visible(r);
    for response in &mut v {
        match response {
            Ok(Reply::Routes(list)) => list.routes.iter_mut().for_each(|r| r.nexthop = 0),
            Ok(Reply::Nexthops(list)) => {
                list.iter_mut().for_each(|n| n.id = 0);
                list.sort_by_key(|n| format!("{n:?}"));
            }
            _ => {}
        }
    }
    v
}
