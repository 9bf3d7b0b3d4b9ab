//! A PC's packet capture: a pcap file that tshark and Wireshark read, even
//! while it grows.
//!
//! The file is written on a thread of its own. Every PC runs on the lab's
//! thread, and frames are handled inside other PCs' sends, so a write there
//! (one system call per frame) or a slow disk would hold up the whole lab.
//! The lab's side only queues a copy of the frame; the writer flushes
//! whenever it has caught up, so a reader sees each frame at once.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapPacket, PcapWriter};
use tokio::sync::oneshot;

/// Frames queued for the writer before new ones are left out of the file.
const QUEUE: usize = 4096;

enum Message {
    Frame(Duration, Vec<u8>),
    /// Everything before it is written: say so and stop.
    Finish(oneshot::Sender<()>),
}

/// The lab's end of a running capture. Dropping it ends the capture.
pub(crate) struct Capture {
    queue: SyncSender<Message>,
    /// Frames the writer had no room for.
    skipped: u64,
}

impl Capture {
    /// Writes the pcap header and starts the writer.
    pub(crate) fn start(file: File) -> io::Result<Capture> {
        let file = Shared(Arc::new(Mutex::new(BufWriter::new(file))));
        let writer = PcapWriter::new(file.clone()).map_err(io::Error::other)?;
        file.lock().flush()?;
        let (queue, frames) = sync_channel(QUEUE);
        let spawned = std::thread::Builder::new().name("patchbay-capture".into());
        spawned.spawn(move || write(writer, file, frames))?;
        Ok(Capture { queue, skipped: 0 })
    }

    /// Queues a copy of `frame`, stamped now. False once the writer has
    /// stopped (its disk failed): the capture is over, the PC goes on.
    pub(crate) fn record(&mut self, frame: &[u8]) -> bool {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        match self.queue.try_send(Message::Frame(now, frame.to_vec())) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.skipped += 1;
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Ends the capture; `done` hears when the file is complete.
    pub(crate) fn finish(self, done: oneshot::Sender<()>) {
        // Blocks only while the queue is full, which a finishing writer empties.
        let _ = self.queue.send(Message::Finish(done));
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.skipped > 0 {
            tracing::warn!(frames = self.skipped, "packet capture left out frames: the disk fell behind");
        }
    }
}

/// The buffered file, shared by the pcap writer and the thread that flushes
/// it (`PcapWriter` lends its writer to nobody). Only the writer thread
/// touches it once started, so the lock is never contended.
#[derive(Clone)]
struct Shared(Arc<Mutex<BufWriter<File>>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, BufWriter<File>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.lock().write(bytes)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

/// The writer thread: frames in order, a flush whenever the queue is empty.
fn write(mut writer: PcapWriter<Shared>, file: Shared, frames: Receiver<Message>) {
    let mut pending = false;
    loop {
        let message = match frames.try_recv() {
            Ok(message) => message,
            Err(_) if pending => {
                // Caught up: let readers of the file see everything so far.
                if let Err(e) = file.lock().flush() {
                    return tracing::error!("packet capture stopped: {e}");
                }
                pending = false;
                continue;
            }
            Err(_) => match frames.recv() {
                Ok(message) => message,
                Err(_) => return, // the capture was dropped
            },
        };
        match message {
            Message::Frame(at, frame) => {
                let packet = PcapPacket::new(at, frame.len() as u32, &frame);
                if let Err(e) = writer.write_packet(&packet) {
                    return tracing::error!("packet capture stopped: {e}");
                }
                pending = true;
            }
            Message::Finish(done) => {
                if let Err(e) = file.lock().flush() {
                    tracing::error!("packet capture: {e}");
                }
                let _ = done.send(());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_reach_the_file_in_order_and_finish_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pcap");
        let mut capture = Capture::start(File::create(&path).unwrap()).unwrap();
        for i in 0..100u8 {
            assert!(capture.record(&[i; 60]));
        }
        let (done, finished) = oneshot::channel();
        capture.finish(done);
        finished.blocking_recv().expect("the writer says when it is done");
        let mut reader = pcap_file::pcap::PcapReader::new(File::open(&path).unwrap()).unwrap();
        let mut seen = vec![];
        while let Some(packet) = reader.next_packet() {
            seen.push(packet.unwrap().data[0]);
        }
        assert_eq!(seen, (0..100).collect::<Vec<u8>>());
    }

    #[test]
    fn a_frame_is_readable_before_the_capture_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.pcap");
        let mut capture = Capture::start(File::create(&path).unwrap()).unwrap();
        assert!(capture.record(&[7; 60]));
        // 24 bytes of file header, 16 of packet header, 60 of frame.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() < 100 {
            assert!(std::time::Instant::now() < deadline, "the writer flushes once caught up");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(capture);
    }
}
