//! Deadlines finer than tokio's timer wheel, which counts whole
//! milliseconds (measured: future bundles over TCP ran 0.9 ms late at the
//! median and 2 ms at p99 on tokio's `sleep_until`). One thread keeps the
//! deadlines of the stream transports' future bundles and sleeps to the
//! earliest with a futex timeout, which the kernel keeps to within its
//! timer slack (about 50 µs).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Deadlines held before those nobody waits for any longer are swept.
const SWEEP_AT: usize = 1024;

/// A deadline and whom to wake; ordered by time, then by arrival.
struct Waiting {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiting {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Waiting {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

fn timer() -> &'static Sender<(Instant, oneshot::Sender<()>)> {
    static TIMER: OnceLock<Sender<(Instant, oneshot::Sender<()>)>> = OnceLock::new();
    TIMER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        std::thread::Builder::new()
            .name("patchbay-deadlines".into())
            .spawn(move || {
                let mut heap: BinaryHeap<Reverse<Waiting>> = BinaryHeap::new();
                let mut seq = 0u64;
                loop {
                    let now = Instant::now();
                    while heap.peek().is_some_and(|w| w.0.at <= now) {
                        let _ = heap.pop().expect("peeked").0.wake.send(());
                    }
                    let wait = heap.peek().map_or(Duration::from_secs(3600), |w| w.0.at - now);
                    match rx.recv_timeout(wait) {
                        Ok((at, wake)) => {
                            seq += 1;
                            heap.push(Reverse(Waiting { at, seq, wake }));
                            if heap.len() > SWEEP_AT {
                                heap.retain(|w| !w.0.wake.is_closed());
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .expect("spawn the deadline thread");
        tx
    })
}

/// Completes at `at`, to within the kernel's timer slack. Dropping it
/// early is fine: the thread forgets it when it would fire, or sooner.
pub(crate) async fn sleep_until(at: Instant) {
    let (wake, woken) = oneshot::channel();
    if timer().send((at, wake)).is_err() {
        return tokio::time::sleep_until(at.into()).await; // the thread is gone: tokio's timer
    }
    let _ = woken.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadlines_are_kept_closely_and_in_order() {
        let t0 = Instant::now();
        let (a, b) = (t0 + Duration::from_millis(30), t0 + Duration::from_millis(10));
        let order = std::sync::Mutex::new(vec![]);
        tokio::join!(
            async {
                sleep_until(a).await;
                order.lock().unwrap().push(("a", Instant::now()));
            },
            async {
                sleep_until(b).await;
                order.lock().unwrap().push(("b", Instant::now()));
            }
        );
        let order = order.into_inner().unwrap();
        assert_eq!(order.iter().map(|o| o.0).collect::<Vec<_>>(), ["b", "a"]);
        assert!(order[0].1 >= b && order[1].1 >= a, "never early");
        // Dropped before their time: forgotten, and the thread goes on.
        for _ in 0..2 * SWEEP_AT {
            drop(tokio::time::timeout(Duration::ZERO, sleep_until(t0 + Duration::from_secs(60))).await);
        }
        let c = Instant::now() + Duration::from_millis(5);
        sleep_until(c).await;
        assert!(Instant::now() >= c);
    }
}
