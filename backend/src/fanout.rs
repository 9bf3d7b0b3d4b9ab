//! One publisher, many consumers, each with its own queue bounded in
//! events and in bytes: the notification hub and the OSC traffic feed use it.
//!
//! tokio's broadcast bounds a lagging consumer by events only, so one
//! consumer that never reads holds `capacity` events of any size (1 MB
//! scripts: a gigabyte). Here a consumer that falls more than `capacity`
//! events behind loses the oldest and is told how many; one whose queue
//! passes its byte budget, or the largest queue when all of them together
//! pass the total, is told once and closed, so its memory is freed at once.
//! The publisher never waits and never slows the other consumers; a
//! consumer's driver can wait on [`Receiver::closed`] while it is stuck
//! writing, so that it drops its client at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;

/// What a fanned-out value is counted as.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

/// What each consumer may hold, and all of them together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Events a consumer may lag behind before it loses the oldest.
    pub events: usize,
    /// Bytes a consumer may have queued before it is closed.
    pub bytes: usize,
    /// Bytes all consumers together may have queued.
    pub total_bytes: usize,
}

/// What a consumer receives.
#[derive(Debug, PartialEq)]
pub enum Recv<T> {
    Item(T),
    /// This many events were lost (the consumer fell `events` behind).
    Missed(u64),
    /// The consumer fell this many bytes behind and is closed: it gets
    /// nothing more and should end.
    Closed {
        bytes: usize,
    },
}

type Filter<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Notify,
    /// Woken when the queue is closed.
    gone: Notify,
    wants: Option<Filter<T>>,
}

struct State<T> {
    items: VecDeque<T>,
    bytes: usize,
    missed: u64,
    closed: Option<usize>,
}

struct Shared<T> {
    /// What the consumers are, for the log line when one is closed.
    name: &'static str,
    queues: Mutex<Vec<Weak<Queue<T>>>>,
    /// Receivers alive: read for every OSC message (is anyone watching?), so not under the lock.
    receivers: AtomicUsize,
    total: AtomicUsize,
    limits: Limits,
}

/// The publishing side; clones publish to the same consumers.
pub(crate) struct Fanout<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Fanout<T> {
    fn clone(&self) -> Self {
        Fanout { shared: self.shared.clone() }
    }
}

/// One consumer; dropping it unsubscribes.
pub struct Receiver<T> {
    queue: Arc<Queue<T>>,
    shared: Arc<Shared<T>>,
}

fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T: Clone + Weigh> Fanout<T> {
    /// `name` says what the consumers are in the log (`notification stream`).
    pub(crate) fn new(name: &'static str, limits: Limits) -> Self {
        let limits = Limits { events: limits.events.max(1), ..limits };
        let queues = Mutex::default();
        let (receivers, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
        Fanout { shared: Arc::new(Shared { name, queues, receivers, total, limits }) }
    }

    /// A consumer of every value.
    pub(crate) fn subscribe(&self) -> Receiver<T> {
        self.subscribe_to(None)
    }

    /// A consumer of the values `wants` accepts (only those count against it).
    pub(crate) fn subscribe_filtered(
        &self,
        wants: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Receiver<T> {
        self.subscribe_to(Some(Box::new(wants)))
    }

    fn subscribe_to(&self, wants: Option<Filter<T>>) -> Receiver<T> {
        let state = State { items: VecDeque::new(), bytes: 0, missed: 0, closed: None };
        let queue =
            Arc::new(Queue { state: Mutex::new(state), ready: Notify::new(), gone: Notify::new(), wants });
        lock(&self.shared.queues).push(Arc::downgrade(&queue));
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver { queue, shared: self.shared.clone() }
    }

    /// Consumers subscribed now.
    pub(crate) fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Relaxed)
    }

    /// Queues `value` for every consumer that wants it.
    pub(crate) fn send(&self, value: T) {
        let Limits { events, bytes: budget, total_bytes } = self.shared.limits;
        let size = value.bytes();
        let mut queues = lock(&self.shared.queues);
        queues.retain(|q| q.strong_count() > 0);
        let (mut open, mut closed) = (vec![], vec![]);
        for queue in queues.iter().filter_map(Weak::upgrade) {
            if queue.wants.as_ref().is_some_and(|wants| !wants(&value)) {
                continue;
            }
            let mut state = lock(&queue.state);
            if state.closed.is_some() {
                continue;
            }
            if state.items.len() == events {
                let oldest = state.items.pop_front().expect("full");
                state.bytes -= oldest.bytes();
                self.shared.total.fetch_sub(oldest.bytes(), Ordering::Relaxed);
                state.missed += 1;
            }
            state.items.push_back(value.clone());
            state.bytes += size;
            self.shared.total.fetch_add(size, Ordering::Relaxed);
            if state.bytes > budget {
                closed.push(close(&self.shared, &queue, &mut state));
            } else {
                open.push((state.bytes, queue.clone()));
            }
            drop(state);
            queue.ready.notify_one();
        }
        // Over the total: the consumers furthest behind go, until it holds.
        if self.shared.total.load(Ordering::Relaxed) > total_bytes {
            open.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
            for (_, queue) in open {
                if self.shared.total.load(Ordering::Relaxed) <= total_bytes {
                    break;
                }
                closed.push(close(&self.shared, &queue, &mut lock(&queue.state)));
                queue.ready.notify_one();
            }
        }
        // Logged with no lock held: the log feeds notifications, which are sent here.
        drop(queues);
        for bytes in closed {
            let name = self.shared.name;
            crate::limit_log::limit_hit(name, format_args!("closed a {name} {bytes} bytes behind"));
        }
    }
}

/// Frees a consumer's queue and marks it closed with what it held; returns that.
fn close<T: Weigh>(shared: &Shared<T>, queue: &Queue<T>, state: &mut State<T>) -> usize {
    let bytes = state.bytes;
    shared.total.fetch_sub(bytes, Ordering::Relaxed);
    state.closed = Some(bytes);
    state.items = VecDeque::new();
    state.bytes = 0;
    queue.gone.notify_waiters();
    bytes
}

impl<T: Weigh> Receiver<T> {
    /// The next value, or news of a loss; waits until there is one.
    pub async fn recv(&mut self) -> Recv<T> {
        loop {
            if let Some(r) = self.try_recv() {
                return r;
            }
            // A value queued since the look above left a permit: no wake-up is lost.
            self.queue.ready.notified().await;
        }
    }

    /// Returns once this consumer has been closed for falling too far behind.
    pub async fn closed(&self) {
        loop {
            let gone = self.queue.gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if lock(&self.queue.state).closed.is_some() {
                return;
            }
            gone.await;
        }
    }

    /// What [`Receiver::recv`] would give now, without waiting.
    pub fn try_recv(&mut self) -> Option<Recv<T>> {
        let mut state = lock(&self.queue.state);
        if let Some(bytes) = state.closed {
            return Some(Recv::Closed { bytes });
        }
        if state.missed > 0 {
            return Some(Recv::Missed(std::mem::take(&mut state.missed)));
        }
        let item = state.items.pop_front()?;
        state.bytes -= item.bytes();
        self.shared.total.fetch_sub(item.bytes(), Ordering::Relaxed);
        Some(Recv::Item(item))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let state = lock(&self.queue.state);
        self.shared.total.fetch_sub(state.bytes, Ordering::Relaxed);
        self.shared.receivers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for Vec<u8> {
        fn bytes(&self) -> usize {
            self.len()
        }
    }

    fn fanout() -> Fanout<Vec<u8>> {
        Fanout::new("test consumer", Limits { events: 4, bytes: 1000, total_bytes: 2500 })
    }

    #[test]
    fn every_consumer_gets_every_value_in_order() {
        let f = fanout();
        let (mut a, mut b) = (f.subscribe(), f.subscribe());
        f.send(vec![1]);
        f.send(vec![2]);
        for r in [&mut a, &mut b] {
            assert_eq!(r.try_recv(), Some(Recv::Item(vec![1])));
            assert_eq!(r.try_recv(), Some(Recv::Item(vec![2])));
            assert_eq!(r.try_recv(), None);
        }
        assert_eq!(f.shared.total.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_consumer_behind_in_events_loses_the_oldest_and_is_told() {
        let f = fanout();
        let mut slow = f.subscribe();
        for i in 0..6 {
            f.send(vec![i]);
        }
        assert_eq!(slow.try_recv(), Some(Recv::Missed(2)));
        assert_eq!(slow.try_recv(), Some(Recv::Item(vec![2])), "then the newest four");
    }

    #[test]
    fn a_consumer_over_its_bytes_is_closed_and_the_others_go_on() {
        let f = fanout();
        let (mut stuck, mut reader) = (f.subscribe(), f.subscribe());
        for _ in 0..3 {
            f.send(vec![0; 400]);
            assert!(matches!(reader.try_recv(), Some(Recv::Item(_))));
        }
        assert_eq!(stuck.try_recv(), Some(Recv::Closed { bytes: 1200 }));
        assert_eq!(stuck.try_recv(), Some(Recv::Closed { bytes: 1200 }), "and stays closed");
        assert_eq!(f.shared.total.load(Ordering::Relaxed), 0, "its memory is freed at once");
        f.send(vec![1]);
        assert_eq!(reader.try_recv(), Some(Recv::Item(vec![1])));
    }

    #[test]
    fn over_the_total_the_consumer_furthest_behind_goes() {
        let f = fanout();
        let mut ahead = f.subscribe();
        f.send(vec![0; 100]);
        let mut behind: Vec<_> = (0..3).map(|_| f.subscribe()).collect();
        assert!(matches!(ahead.try_recv(), Some(Recv::Item(_))));
        // Three consumers hold 900 bytes each (within 1,000): 2,700 together, over 2,500.
        for _ in 0..3 {
            f.send(vec![0; 300]);
            assert!(matches!(ahead.try_recv(), Some(Recv::Item(_))));
        }
        let closed = behind
            .iter_mut()
            .map(|r| r.try_recv())
            .filter(|r| matches!(r, Some(Recv::Closed { bytes: 900 })))
            .count();
        assert_eq!(closed, 1, "one consumer went, one of the largest");
        // The other two keep theirs, less the one value each just took.
        assert_eq!(f.shared.total.load(Ordering::Relaxed), 600 + 600);
        f.send(vec![1]);
        assert_eq!(ahead.try_recv(), Some(Recv::Item(vec![1])), "the one that keeps up is not touched");
    }

    #[test]
    fn filtered_consumers_count_only_what_they_take_and_dropped_ones_free_theirs() {
        let f = fanout();
        let mut odd = f.subscribe_filtered(|v: &Vec<u8>| v[0] % 2 == 1);
        let all = f.subscribe();
        for i in 0..4 {
            f.send(vec![i]);
        }
        assert_eq!(odd.try_recv(), Some(Recv::Item(vec![1])));
        assert_eq!(odd.try_recv(), Some(Recv::Item(vec![3])));
        assert_eq!(f.receiver_count(), 2);
        drop(all);
        assert_eq!((f.receiver_count(), f.shared.total.load(Ordering::Relaxed)), (1, 0));
    }

    #[tokio::test]
    async fn a_driver_stuck_writing_learns_its_consumer_was_closed() {
        let f = fanout();
        let stuck = f.subscribe();
        let sender = f.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            sender.send(vec![0; 1001]);
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), stuck.closed()).await.expect("woken");
    }

    #[tokio::test]
    async fn recv_waits_for_a_value() {
        let f = fanout();
        let mut r = f.subscribe();
        let sender = f.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            sender.send(vec![9]);
        });
        assert_eq!(r.recv().await, Recv::Item(vec![9]));
    }
}
