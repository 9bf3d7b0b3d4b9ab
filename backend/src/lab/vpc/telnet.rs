//! The telnet side of a console: option negotiation as VPCS does it, and a
//! line editor that turns the client's bytes into commands.
//!
//! I/O-free: bytes in, [`Input`] events and bytes to send back out.

/// IAC WILL ECHO, IAC WILL SGA, IAC DO SGA, IAC DONT LINEMODE: the server
/// echoes, character at a time, as real VPCS negotiates.
pub const NEGOTIATION: &[u8] = &[255, 251, 1, 255, 251, 3, 255, 253, 3, 255, 254, 34];

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const IP: u8 = 244; // interrupt process
const BREAK: u8 = 243;
/// Longer lines are cut: no command needs more, and a flood must not grow memory.
pub const MAX_LINE: usize = 512;

#[derive(Debug, PartialEq, Eq)]
/// What a console client typed.
pub enum Input {
    /// A line, without its end.
    Line(String),
    /// Ctrl-C (or telnet's Interrupt Process): stop the running job.
    Interrupt,
}

#[derive(Default)]
/// Turns a telnet client's bytes into lines: strips telnet commands and options, handles backspace and Ctrl-C, bounds each line.
pub struct LineEditor {
    line: Vec<u8>,
    state: State,
    /// The last byte was CR: a following LF or NUL belongs to it.
    after_cr: bool,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    /// WILL/WONT/DO/DONT: one option byte follows.
    Option,
    Sub,
    SubIac,
}

/// What a received byte is once telnet's own sequences are taken out.
enum Byte {
    Data(u8),
    /// A command after IAC, such as IP (interrupt process).
    Command(u8),
    /// Part of a negotiation or subnegotiation.
    Telnet,
}

impl State {
    /// One byte through telnet's framing, both ways the same: options and
    /// subnegotiations are dropped, IAC IAC is a data byte 0xFF.
    fn next(self, b: u8) -> (State, Byte) {
        match (self, b) {
            (State::Data, IAC) => (State::Iac, Byte::Telnet),
            (State::Data, b) => (State::Data, Byte::Data(b)),
            (State::Iac, IAC) => (State::Data, Byte::Data(IAC)),
            (State::Iac, 251..=254) => (State::Option, Byte::Telnet),
            (State::Iac, SB) => (State::Sub, Byte::Telnet),
            (State::Iac, b) => (State::Data, Byte::Command(b)),
            (State::Option, _) => (State::Data, Byte::Telnet),
            (State::Sub, IAC) => (State::SubIac, Byte::Telnet),
            (State::Sub, _) => (State::Sub, Byte::Telnet),
            (State::SubIac, SE) => (State::Data, Byte::Telnet),
            (State::SubIac, _) => (State::Sub, Byte::Telnet),
        }
    }
}

impl LineEditor {
    /// Feeds received bytes; returns the events and the echo to send back.
    pub fn feed(&mut self, bytes: &[u8]) -> (Vec<Input>, Vec<u8>) {
        let mut events = vec![];
        let mut echo = vec![];
        for &b in bytes {
            let byte;
            (self.state, byte) = self.state.next(b);
            let b = match byte {
                Byte::Data(IAC) => {
                    self.push(IAC, &mut echo); // an escaped 0xFF is text
                    continue;
                }
                Byte::Data(b) => b,
                Byte::Command(IP | BREAK) => {
                    events.push(Input::Interrupt);
                    continue;
                }
                Byte::Command(_) | Byte::Telnet => continue,
            };
            let after_cr = std::mem::take(&mut self.after_cr);
            match b {
                b'\n' | 0 if after_cr => {}
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    echo.extend_from_slice(b"\r\n");
                    let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    events.push(Input::Line(line));
                }
                3 => {
                    self.line.clear();
                    events.push(Input::Interrupt);
                }
                8 | 127 if self.line.pop().is_some() => echo.extend_from_slice(b"\x08 \x08"),
                8 | 127 => {}
                b if (0x20..0x7f).contains(&b) || b >= 0x80 => self.push(b, &mut echo),
                _ => {} // other control characters are ignored
            }
        }
        (events, echo)
    }

    fn push(&mut self, b: u8, echo: &mut Vec<u8>) {
        if self.line.len() < MAX_LINE {
            self.line.push(b);
            echo.push(b);
        }
    }
}

/// The other way: what a console sends, as plain text for a screen that
/// is not a terminal (the dashboard's): negotiation, CR and NUL dropped.
#[derive(Default)]
pub struct Screen {
    state: State,
}

impl Screen {
    /// The printable text in `bytes`, telnet commands and escape sequences removed.
    pub fn feed(&mut self, bytes: &[u8]) -> String {
        let mut text = Vec::with_capacity(bytes.len());
        for &b in bytes {
            let byte;
            (self.state, byte) = self.state.next(b);
            match byte {
                // An escaped 0xFF is never part of UTF-8 text.
                Byte::Data(b'\r' | 0 | IAC) => {}
                Byte::Data(b) => text.push(b),
                Byte::Command(_) | Byte::Telnet => {}
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// Text for the terminal: `\n` becomes `\r\n`, and 0xFF is escaped.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for &b in text.as_bytes() {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            IAC => out.extend_from_slice(&[IAC, IAC]),
            b => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<Input> {
        LineEditor::default().feed(bytes).0
    }

    #[test]
    fn cr_lf_cr_nul_and_lf_each_end_one_line() {
        let got = lines(b"ip 1.2.3.4\r\nshow\r\0arp\nx\r");
        let want = ["ip 1.2.3.4", "show", "arp", "x"].map(|s| Input::Line(s.into()));
        assert_eq!(got, want);
    }

    #[test]
    fn negotiation_and_subnegotiation_are_skipped() {
        let mut bytes = vec![255, 253, 1, 255, 251, 31, 255, 250, 31, 0, 80, 0, 24, 255, 240];
        bytes.extend_from_slice(b"help\r\n");
        assert_eq!(lines(&bytes), [Input::Line("help".into())]);
    }

    #[test]
    fn backspace_edits_and_echoes() {
        let (events, echo) = LineEditor::default().feed(b"pinx\x7fg\r\n");
        assert_eq!(events, [Input::Line("ping".into())]);
        assert_eq!(echo, b"pinx\x08 \x08g\r\n");
    }

    #[test]
    fn ctrl_c_and_iac_ip_interrupt() {
        assert_eq!(lines(b"ping 1.1.1.1\x03"), [Input::Interrupt]);
        assert_eq!(lines(&[255, 244]), [Input::Interrupt]);
    }

    #[test]
    fn floods_and_binary_garbage_are_bounded() {
        let mut editor = LineEditor::default();
        let flood = vec![b'a'; 100_000];
        let (events, echo) = editor.feed(&flood);
        assert!(events.is_empty());
        assert_eq!(echo.len(), MAX_LINE);
        let (events, _) = editor.feed(&[0, 1, 2, 0x1b, 0xfe, 0x80, b'\n']);
        assert_eq!(events.len(), 1);
        let Input::Line(line) = &events[0] else { panic!() };
        assert_eq!(line.len(), MAX_LINE, "the rest of the flood was dropped");
    }

    #[test]
    fn output_gets_crlf() {
        assert_eq!(encode("a\nb\n"), b"a\r\nb\r\n");
    }

    #[test]
    fn a_screen_sees_text_without_negotiation_split_anywhere() {
        let mut bytes = NEGOTIATION.to_vec();
        bytes.extend([IAC, SB, 24, 1, IAC, SE]); // a subnegotiation
        bytes.extend(encode("\nVPCS> ip 10.0.0.1\n"));
        for cut in 0..bytes.len() {
            let mut screen = Screen::default();
            let text = screen.feed(&bytes[..cut]) + &screen.feed(&bytes[cut..]);
            assert_eq!(text, "\nVPCS> ip 10.0.0.1\n", "cut at {cut}");
        }
    }
}
