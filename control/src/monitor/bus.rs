//! The subscribers and their bounded queues.

use super::{Event, MonitorEvent, Topic};
use crate::proto::{encode_response, Reply};
use crate::server::ReplyStream;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

/// Events a subscriber's queue holds before it counts the rest as lost.
pub const QUEUE_EVENTS: usize = 4096;

/// One subscriber's queue. Shared between the control thread (which pushes) and
/// the subscriber's stream in the server (which pops as the client reads); both
/// run on the control thread, so the lock is never contended.
#[derive(Debug)]
pub struct Queue {
    topics: u8,
    events: VecDeque<MonitorEvent>,
    cap: usize,
    /// Events not taken since the last `lost` record, and the seq of the last one.
    lost: u64,
    lost_seq: u64,
}

/// The subscribers. A subscriber's queue lives as long as its stream: when the
/// client goes, the server drops the stream, and the subscription with it.
#[derive(Debug, Default)]
pub struct Monitor {
    subs: Vec<Weak<Mutex<Queue>>>,
    /// Topics some live subscriber wants (refreshed by [`Self::refresh`]).
    wanted: u8,
    /// Whether the watchers have taken their first look (see `watch`).
    pub(super) primed: bool,
    pub(super) last: super::watch::Seen,
}

impl Monitor {
    /// A new subscriber to `topics` (every topic if empty), with a queue of `cap`.
    pub fn subscribe(&mut self, topics: &[Topic], cap: usize) -> Arc<Mutex<Queue>> {
        let bits = if topics.is_empty() {
            Topic::ALL.iter().fold(0, |b, t| b | t.bit())
        } else {
            topics.iter().fold(0, |b, t| b | t.bit())
        };
        let q = Arc::new(Mutex::new(Queue {
            topics: bits,
            events: VecDeque::new(),
            cap: cap.max(1),
            lost: 0,
            lost_seq: 0,
        }));
        self.subs.push(Arc::downgrade(&q));
        self.wanted |= bits;
        q
    }

    /// Forgets subscribers that are gone; returns whether any is left.
    pub fn refresh(&mut self) -> bool {
        self.subs.retain(|w| w.strong_count() > 0);
        self.wanted = self
            .subs
            .iter()
            .filter_map(Weak::upgrade)
            .fold(0, |b, q| b | lock(&q).topics);
        if self.subs.is_empty() {
            self.primed = false;
        }
        !self.subs.is_empty()
    }

    pub fn wants(&self, topic: Topic) -> bool {
        self.wanted & topic.bit() != 0
    }

    pub fn subscribers(&self) -> usize {
        self.subs.len()
    }

    /// Queues `event` for every subscriber of its topic (a `Lost` for those of
    /// `lost_topic`).
    pub fn emit(&mut self, seq: u64, event: Event) {
        let topic = event.topic();
        for q in self.subs.iter().filter_map(Weak::upgrade) {
            let mut q = lock(&q);
            if topic.is_some_and(|t| q.topics & t.bit() == 0) {
                continue;
            }
            q.push(MonitorEvent {
                seq,
                event: event.clone(),
            });
        }
    }

    /// `n` events of `topic` were lost before reaching any queue (the FIB's tap
    /// was full): every subscriber of it is told.
    pub fn lost(&mut self, seq: u64, topic: Topic, n: u64) {
        for q in self.subs.iter().filter_map(Weak::upgrade) {
            let mut q = lock(&q);
            if q.topics & topic.bit() != 0 {
                q.lost += n;
                q.lost_seq = q.lost_seq.max(seq);
            }
        }
    }
}

fn lock(q: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

impl Queue {
    fn push(&mut self, e: MonitorEvent) {
        // Once something is lost, later events wait behind the `lost` record
        // until there is room for both: the gap is reported where it happened.
        if self.lost == 0 && self.events.len() < self.cap {
            self.events.push_back(e);
        } else {
            self.lost += 1;
            self.lost_seq = e.seq;
        }
    }

    /// The next event to write: queued ones first, then the `lost` record.
    fn pop(&mut self) -> Option<MonitorEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        if self.lost > 0 {
            let e = MonitorEvent {
                seq: self.lost_seq,
                event: Event::Lost { events: self.lost },
            };
            self.lost = 0;
            return Some(e);
        }
        None
    }
}

/// A subscription's reply stream: one response line per event, with the
/// `monitor` request's id, for as long as the client stays.
pub struct MonitorStream {
    id: u64,
    queue: Arc<Mutex<Queue>>,
}

impl MonitorStream {
    pub fn new(id: u64, queue: Arc<Mutex<Queue>>) -> Self {
        MonitorStream { id, queue }
    }
}

impl ReplyStream for MonitorStream {
    fn fill(&mut self, out: &mut Vec<u8>, budget: usize) -> bool {
        let mut q = lock(&self.queue);
        while out.len() < budget {
            let Some(e) = q.pop() else {
                break;
            };
            encode_response(Some(self.id), &Ok(Reply::Event(e)), out);
        }
        false
    }

    fn bounded(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(n: u32) -> Event {
        Event::Route {
            table: 254,
            prefix: format!("10.{n}.0.0/16"),
            action: "add".into(),
            nexthop: Some(1),
        }
    }

    #[test]
    fn a_full_queue_reports_what_it_lost_in_place_and_topics_filter() {
        let mut m = Monitor::default();
        let q = m.subscribe(&[Topic::Route], 2);
        let all = m.subscribe(&[], 10);
        assert!(m.wants(Topic::Route) && m.wants(Topic::Source));
        for n in 0..5 {
            m.emit(u64::from(n) + 1, route(n));
        }
        m.emit(
            6,
            Event::Source {
                source: "fpm".into(),
                action: "connected".into(),
                detail: None,
            },
        );
        let mut q = lock(&q);
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].seq, 1);
        assert_eq!(got[1].seq, 2);
        assert_eq!(
            got[2],
            MonitorEvent {
                seq: 5,
                event: Event::Lost { events: 3 }
            }
        );
        let mut a = lock(&all);
        assert_eq!(std::iter::from_fn(|| a.pop()).count(), 6);
    }

    #[test]
    fn a_gone_subscriber_is_forgotten() {
        let mut m = Monitor::default();
        let q = m.subscribe(&[Topic::Neigh], 4);
        assert!(m.refresh());
        drop(q);
        assert!(!m.refresh());
        assert!(!m.wants(Topic::Neigh));
    }

    #[test]
    fn the_stream_writes_one_response_line_per_event() {
        let mut m = Monitor::default();
        let q = m.subscribe(&[], 8);
        m.emit(7, route(1));
        let mut s = MonitorStream::new(42, q);
        let mut out = Vec::new();
        assert!(!s.fill(&mut out, 1 << 16));
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["id"], 42);
        assert_eq!(v["ok"]["event"]["seq"], 7);
        assert_eq!(v["ok"]["event"]["type"], "route");
        let mut out = Vec::new();
        s.fill(&mut out, 1 << 16);
        assert!(out.is_empty());
    }
}
