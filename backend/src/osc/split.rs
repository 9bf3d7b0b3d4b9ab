//! `#split`: messages larger than a datagram, cut into numbered fragments
//! (`#split i n blob`) and put together again per sender.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::codec::{self, Arg, Message};

/// Replies larger than this travel as `#split` fragments.
pub const MAX_DATAGRAM: usize = 60_000;
/// Largest message reassembled from fragments.
pub const MAX_SPLIT: usize = 16 * 1024 * 1024;

/// Splits an encoded message that is too large for one datagram.
pub fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.len() <= MAX_DATAGRAM {
        return vec![bytes.to_vec()];
    }
    let chunk = MAX_DATAGRAM - 64;
    let n = bytes.len().div_ceil(chunk);
    bytes
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| {
            codec::encode_message(&Message::new(
                "#split",
                vec![Arg::Int(i as i32), Arg::Int(n as i32), Arg::Blob(c.to_vec())],
            ))
        })
        .collect()
}

/// Fragments of one `#split` message from one sender.
pub struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    size: usize,
    since: Instant,
}

/// Collects `#split i n blob` fragments; returns the whole message when complete.
pub fn reassemble(
    partials: &mut HashMap<SocketAddr, Partial>,
    peer: SocketAddr,
    m: &Message,
) -> Result<Option<Vec<u8>>, String> {
    let (Some(i), Some(n), Some(Arg::Blob(data))) =
        (m.args.first().and_then(Arg::as_i64), m.args.get(1).and_then(Arg::as_i64), m.args.get(2))
    else {
        return Err("#split takes: fragment number, fragment count, blob".into());
    };
    if n < 1 || i < 0 || i >= n || n > (MAX_SPLIT / 1024) as i64 {
        return Err(format!("bad fragment {i} of {n}"));
    }
    partials.retain(|_, p| p.since.elapsed() < Duration::from_secs(10));
    let p = partials.entry(peer).or_insert_with(|| Partial {
        parts: vec![None; n as usize],
        size: 0,
        since: Instant::now(),
    });
    if p.parts.len() != n as usize {
        *p = Partial { parts: vec![None; n as usize], size: 0, since: Instant::now() };
    }
    p.size += data.len();
    if p.size > MAX_SPLIT {
        partials.remove(&peer);
        return Err("split message larger than 16 MiB".into());
    }
    p.parts[i as usize] = Some(data.clone());
    if p.parts.iter().all(Option::is_some) {
        let p = partials.remove(&peer).expect("present");
        return Ok(Some(p.parts.into_iter().flatten().flatten().collect()));
    }
    Ok(None)
}
