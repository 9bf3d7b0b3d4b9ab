//! One console line run from outside the console: the lab connects to a
//! started PC's console as one more telnet client (the session is shared,
//! as with every client), waits for the prompt, types the line and returns
//! what the PC printed up to the next prompt. This is how OSC types into a
//! PC (`/lab/.../vms/{v}/console`), the way the dashboard's console does.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use uuid::Uuid;

use super::vpc::telnet::{Screen, MAX_LINE};
use super::{Lab, LabError, Result};

/// Longest a line may run (a `ping -c 5` takes five seconds).
const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most output kept of one line; a longer answer is cut here.
const MAX_OUTPUT: usize = 64 * 1024;

impl Lab {
    /// Runs `line` on the PC's console and returns its output (the echo and the prompt left out).
    pub async fn console_line(&self, project: Uuid, vm: Uuid, line: &str) -> Result<String> {
        let line: String = line.chars().filter(|c| !c.is_control()).take(MAX_LINE).collect();
        let console = self.console_addr(project, vm).await?;
        let unreachable =
            |e: std::io::Error| LabError::Conflict(format!("The console is not reachable: {e}"));
        let mut tcp = TcpStream::connect(console).await.map_err(unreachable)?;
        let mut screen = Screen::default();
        let mut seen = String::new();
        let run = async {
            // The banner ends with the prompt; the prompt is its last line.
            read_until(&mut tcp, &mut screen, &mut seen, |s| s.ends_with("> ")).await?;
            let prompt = seen.rsplit('\n').next().unwrap_or_default().to_owned();
            seen.clear();
            tcp.write_all(format!("{line}\r\n").as_bytes()).await?;
            read_until(&mut tcp, &mut screen, &mut seen, |s| s.ends_with(&format!("\n{prompt}"))).await?;
            Ok::<_, std::io::Error>(prompt)
        };
        let prompt = match timeout(LINE_TIMEOUT, run).await {
            Ok(r) => r.map_err(unreachable)?,
            Err(_) => {
                return Err(LabError::Conflict(format!("The console did not answer within {LINE_TIMEOUT:?}")))
            }
        };
        let output = seen.strip_suffix(prompt.as_str()).unwrap_or(&seen);
        // The console echoes what was typed, on a line of its own.
        let output = output.split_once('\n').map_or("", |(_echo, rest)| rest);
        Ok(output.to_owned())
    }
}

/// Reads the console into `seen` (bounded by [`MAX_OUTPUT`]) until `done` says so.
async fn read_until(
    tcp: &mut TcpStream,
    screen: &mut Screen,
    seen: &mut String,
    done: impl Fn(&str) -> bool,
) -> std::io::Result<()> {
    let mut buffer = [0u8; 4096];
    while !done(seen) {
        let n = tcp.read(&mut buffer).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        seen.push_str(&screen.feed(&buffer[..n]));
        if seen.len() > MAX_OUTPUT {
            // Keep the tail, where the prompt will be.
            let cut = (seen.len() - MAX_OUTPUT..seen.len()).find(|&i| seen.is_char_boundary(i));
            seen.drain(..cut.unwrap_or(seen.len()));
        }
    }
    Ok(())
}
