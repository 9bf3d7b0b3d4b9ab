//! `patchbay osc`: a shell for any Patchbay (or OSW-style) server, in the
//! spirit of osw-cli. It speaks only OSC: every command below is one or more
//! queries or edits, and replies are printed as they arrive.
//!
//! Commands: `discover`, `open HOST:PORT`, `ls [PATH]`, `cd PATH`, `pwd`,
//! `doc [PATH]`, `type [PATH]`, `get PATH`, `set PATH VALUE...`,
//! `add TYPE NAME [ARGS...]`, `delete NAME`, `connect OUTLET INLET`,
//! `disconnect OUTLET INLET`, `send ADDRESS [ARGS...]`, `help`, `quit`.
//! Paths are relative to the current patch unless they start with `/`.
//! Tab completes addresses from live listings; history is kept in
//! `~/.patchbay_history`.

use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::osc::codec::{self, Arg, Message, Packet};

const HELP: &str =
    "discover | open HOST:PORT | ls [PATH] | cd PATH | pwd | doc [PATH] | type [PATH] | get PATH\n\
set PATH VALUE... | add TYPE NAME [ARGS...] | delete NAME | connect OUTLET INLET | disconnect OUTLET INLET\n\
send ADDRESS [ARGS...] | help | quit\n\
VALUE and ARGS: 1 (int), 1.5 (float), T or F, text, or \"quoted text\" (always one string)";

/// `a/b` against `/patch` is `/patch/a/b`; `..` goes up.
pub fn resolve(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> =
        if path.starts_with('/') { vec![] } else { cwd.split('/').filter(|s| !s.is_empty()).collect() };
    for seg in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if seg == ".." {
            parts.pop();
        } else {
            parts.push(seg);
        }
    }
    format!("/{}", parts.join("/"))
}

/// One word of a command line; a quoted one is always text.
#[derive(Debug, PartialEq)]
pub struct Word {
    /// The word, quotes removed.
    pub text: String,
    /// Whether it was quoted (so `"1"` stays the string `1`).
    pub quoted: bool,
}

/// Splits a command line into words: `"..."` keeps its spaces (with `\"`
/// and `\\` inside), so `set p/in "hello world"` sends one string.
pub fn words(line: &str) -> Result<Vec<Word>, String> {
    let (mut out, mut chars) = (vec![], line.chars().peekable());
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e @ ('"' | '\\')) => text.push(e),
                        Some(other) => text.extend(['\\', other]),
                        None => return Err("a quote is not closed".into()),
                    },
                    Some(ch) => text.push(ch),
                    None => return Err("a quote is not closed".into()),
                }
            }
            out.push(Word { text, quoted: true });
        } else {
            let mut text = String::new();
            while let Some(&ch) = chars.peek().filter(|ch| !ch.is_whitespace()) {
                text.push(ch);
                chars.next();
            }
            out.push(Word { text, quoted: false });
        }
    }
    Ok(out)
}

/// A word as an OSC argument: integers, floats, `T`/`F`, else text (and
/// always text when quoted).
pub fn parse_arg(word: &Word) -> Arg {
    let w = word.text.as_str();
    if word.quoted {
        Arg::Str(word.text.clone())
    } else if let Ok(i) = w.parse::<i32>() {
        Arg::Int(i)
    } else if let Ok(f) = w.parse::<f32>() {
        Arg::Float(f)
    } else if w == "T" || w == "true" {
        Arg::True
    } else if w == "F" || w == "false" {
        Arg::False
    } else {
        Arg::Str(word.text.clone())
    }
}

/// One command line as the OSC messages it sends, or a local action.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Send this message to the server and print its replies.
    Send(Message),
    /// `ls`: a path's children, states and methods, apart.
    List(String),
    /// `cd`: make this path the current one.
    Cd(String),
    /// `pwd`: print the current path.
    Pwd,
    /// `open host:port`: talk to another server from now on.
    Open(String),
    /// `discover`: find servers on the network (DNS-SD).
    Discover,
    /// `help`: print the commands.
    Help,
    /// `quit` or end of input.
    Quit,
}

/// Reads one command line, relative paths resolved against `cwd`: `None` for a blank line.
pub fn parse(line: &str, cwd: &str) -> Result<Option<Action>, String> {
    let all = words(line)?;
    let Some((cmd, words)) = all.split_first() else { return Ok(None) };
    let cmd = cmd.text.as_str();
    let rest: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    let path = |i: usize| resolve(cwd, rest.get(i).copied().unwrap_or("."));
    let need = |n: usize, usage: &str| if rest.len() < n { Err(format!("usage: {usage}")) } else { Ok(()) };
    let msg = |addr: String, args: Vec<Arg>| Ok(Some(Action::Send(Message::new(addr, args))));
    let join =
        |base: &str, leaf: &str| if base == "/" { format!("/{leaf}") } else { format!("{base}/{leaf}") };
    match cmd {
        "ls" => Ok(Some(Action::List(path(0)))),
        "cd" => Ok(Some(Action::Cd(path(0)))),
        "pwd" => Ok(Some(Action::Pwd)),
        "doc" => msg(join(&path(0), "documentation"), vec![]),
        "type" => msg(join(&path(0), "type-signature"), vec![]),
        "get" => {
            need(1, "get PATH")?;
            msg(join(&path(0), "current-value"), vec![])
        }
        "set" => {
            need(1, "set PATH VALUE...")?;
            msg(path(0), words[1..].iter().map(parse_arg).collect())
        }
        "add" => {
            need(2, "add TYPE NAME [ARGS...]")?;
            let mut args = vec![Arg::Str(rest[0].into()), Arg::Str(rest[1].into())];
            if rest.len() > 2 {
                args.push(Arg::Str(rest[2..].join(" ")));
            }
            msg(join(cwd, "add-transform"), args)
        }
        "delete" => {
            need(1, "delete NAME")?;
            msg(join(cwd, "delete-transform"), vec![Arg::Str(rest[0].into())])
        }
        "connect" | "disconnect" => {
            need(2, &format!("{cmd} OUTLET INLET"))?;
            msg(join(&path(0), cmd), vec![Arg::Str(path(1))])
        }
        "send" => {
            need(1, "send ADDRESS [ARGS...]")?;
            msg(rest[0].to_owned(), words[1..].iter().map(parse_arg).collect())
        }
        "open" => {
            need(1, "open HOST:PORT")?;
            Ok(Some(Action::Open(rest[0].into())))
        }
        "discover" => Ok(Some(Action::Discover)),
        "help" | "?" => Ok(Some(Action::Help)),
        "quit" | "exit" => Ok(Some(Action::Quit)),
        other => Err(format!("unknown command {other:?}; try help")),
    }
}

/// `ls`: one glob for the type signature of everything under `path`, so
/// that children, states and methods are listed apart; the plain listing
/// (and its error) when the glob finds nothing.
fn list(conn: &Conn, path: &str) -> Vec<String> {
    let base = path.trim_end_matches('/');
    let replies = conn.ask(&Message::new(format!("{base}/*/type-signature"), vec![]), Duration::from_secs(2));
    let found = matches!(replies.first().and_then(|r| r.args.first()), Some(Arg::Int(n)) if *n > 0);
    if !found {
        let plain = conn.ask(&Message::new(format!("{base}/"), vec![]), Duration::from_secs(2));
        return match plain.first() {
            Some(r) => vec![show(r)],
            None => vec!["no reply from the server".into()],
        };
    }
    let mut groups: [(&str, Vec<String>); 3] =
        [("children", vec![]), ("states", vec![]), ("methods", vec![])];
    for r in &replies[1..] {
        let Some(name) = r.addr.strip_suffix("/type-signature").and_then(|a| a.rsplit('/').next()) else {
            continue;
        };
        let is = |kind: &str| r.args.iter().any(|a| a.as_str() == Some(kind));
        let group = if is("Method") {
            2
        } else if is("State") {
            1
        } else {
            0
        };
        groups[group].1.push(name.to_owned());
    }
    let mut out = vec![format!("{}/", if base.is_empty() { "" } else { base })];
    for (label, mut names) in groups {
        if !names.is_empty() {
            names.sort();
            out.push(format!("  {label}: {}", names.join("  ")));
        }
    }
    out
}

fn show(m: &Message) -> String {
    let args: Vec<String> = m
        .args
        .iter()
        .map(|a| match a {
            Arg::Int(i) => i.to_string(),
            Arg::Long(i) => i.to_string(),
            Arg::Float(f) => format!("{f}"),
            Arg::Double(f) => format!("{f}"),
            Arg::Str(s) | Arg::Symbol(s) => format!("{s:?}"),
            Arg::True => "T".into(),
            Arg::False => "F".into(),
            Arg::Nil => "Nil".into(),
            Arg::Impulse => "Impulse".into(),
            Arg::Samples(v) => format!("<{} samples>", v.len()),
            Arg::Time(t) => format!("{:.6}s", *t as f64 / 4294967296.0),
            Arg::Blob(b) => format!("<{} bytes>", b.len()),
            other => format!("{other:?}"),
        })
        .collect();
    format!("{} {}", m.addr, args.join(" "))
}

/// A UDP connection to one server.
struct Conn {
    socket: UdpSocket,
    server: SocketAddr,
}

impl Conn {
    fn open(server: &str) -> Result<Conn, String> {
        let server: SocketAddr = server.parse().map_err(|e| format!("{server}: {e}"))?;
        let socket = UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
            .map_err(|e| e.to_string())?;
        Ok(Conn { socket, server })
    }

    /// Sends and collects replies until the first one, then briefly more (globs).
    fn ask(&self, m: &Message, first_wait: Duration) -> Vec<Message> {
        if self.socket.send_to(&codec::encode_message(m), self.server).is_err() {
            return vec![];
        }
        let mut replies = vec![];
        let mut parts: Vec<Vec<u8>> = vec![];
        let mut buf = vec![0u8; 65536];
        let mut wait = first_wait;
        let deadline = Instant::now() + first_wait;
        while Instant::now() < deadline || !replies.is_empty() {
            let _ = self.socket.set_read_timeout(Some(wait));
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else { break };
            match codec::decode(&buf[..n]) {
                Ok(Packet::Message(r)) if r.addr == "#split" => {
                    if let (Some(Arg::Int(i)), Some(Arg::Int(total)), Some(Arg::Blob(b))) =
                        (r.args.first(), r.args.get(1), r.args.get(2))
                    {
                        parts.push(b.clone());
                        if *i + 1 == *total {
                            if let Ok(Packet::Message(whole)) = codec::decode_unbounded(&parts.concat()) {
                                replies.push(whole);
                            }
                            parts.clear();
                        }
                    }
                }
                Ok(Packet::Message(r)) => replies.push(r),
                _ => {}
            }
            wait = Duration::from_millis(if parts.is_empty() { 50 } else { 500 });
        }
        replies
    }

    /// The names under `path` (its listing).
    fn children(&self, path: &str) -> Vec<String> {
        let addr = if path.ends_with('/') { path.to_owned() } else { format!("{path}/") };
        self.ask(&Message::new(addr, vec![]), Duration::from_millis(300))
            .into_iter()
            .next()
            .map(|r| r.args.into_iter().skip(1).filter_map(|a| a.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// Completes the address under the cursor from the server's listing.
struct Completion {
    conn: Rc<RefCell<Option<Conn>>>,
    cwd: Rc<RefCell<String>>,
}

impl Completer for Completion {
    type Candidate = String;
    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        let start = line[..pos].rfind(' ').map_or(0, |i| i + 1);
        let word = &line[start..pos];
        if start == 0 {
            let cmds = [
                "discover",
                "open",
                "ls",
                "cd",
                "pwd",
                "doc",
                "type",
                "get",
                "set",
                "add",
                "delete",
                "connect",
                "disconnect",
                "send",
                "help",
                "quit",
            ];
            return Ok((0, cmds.iter().filter(|c| c.starts_with(word)).map(|c| c.to_string()).collect()));
        }
        let conn = self.conn.borrow();
        let Some(conn) = conn.as_ref() else { return Ok((pos, vec![])) };
        let (dir, leaf) = word.rsplit_once('/').map_or(("", word), |(d, l)| (d, l));
        let base = if word.starts_with('/') && dir.is_empty() {
            "/".to_owned()
        } else {
            resolve(&self.cwd.borrow(), if dir.is_empty() { "." } else { dir })
        };
        let prefix = if dir.is_empty() && !word.starts_with('/') { String::new() } else { format!("{dir}/") };
        let candidates = conn
            .children(&base)
            .into_iter()
            .filter(|c| c.starts_with(leaf))
            .map(|c| format!("{prefix}{c}"))
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

/// Listens for discovery announcements on `port` for a few seconds.
fn discover(port: u16) -> Vec<String> {
    let Ok(socket) = UdpSocket::bind(("0.0.0.0", port)) else {
        return vec![format!("cannot listen on UDP port {port}")];
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_millis(3500);
    let mut seen = std::collections::BTreeMap::new();
    let mut buf = vec![0u8; 2048];
    while Instant::now() < deadline {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Ok(Packet::Message(m)) = codec::decode(&buf[..n]) {
                if let [Arg::Str(name), Arg::Int(port), Arg::Float(up), Arg::Float(rate)] = m.args.as_slice()
                {
                    seen.insert(
                        format!("{}:{port}", from.ip()),
                        format!("{name}, up {up:.0} s, {rate:.0} activations/s"),
                    );
                }
            }
        }
    }
    seen.into_iter().map(|(k, v)| format!("{k}  {v}")).collect()
}

/// Runs the shell on `server` until `quit` or end of input.
pub fn run(server: &str, discovery_port: u16) -> anyhow::Result<()> {
    let conn = Rc::new(RefCell::new(Some(Conn::open(server).map_err(anyhow::Error::msg)?)));
    let cwd = Rc::new(RefCell::new("/patch".to_owned()));
    let mut editor: Editor<Completion, rustyline::history::DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(Completion { conn: conn.clone(), cwd: cwd.clone() }));
    let history = dirs::home_dir().map(|h| h.join(".patchbay_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    loop {
        let prompt = format!("{}> ", cwd.borrow());
        let line = match editor.readline(&prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => break,
        };
        let _ = editor.add_history_entry(line.as_str());
        let action = match parse(&line, &cwd.borrow()) {
            Ok(Some(a)) => a,
            Ok(None) => continue,
            Err(e) => {
                println!("{e}");
                continue;
            }
        };
        match action {
            Action::Quit => break,
            Action::Help => println!("{HELP}"),
            Action::Pwd => println!("{}", cwd.borrow()),
            Action::Discover => discover(discovery_port).iter().for_each(|l| println!("{l}")),
            Action::Open(addr) => match Conn::open(&addr) {
                Ok(c) => {
                    let hello = c.ask(&Message::new("/documentation", vec![]), Duration::from_secs(1));
                    match hello.first().and_then(|m| m.args.get(1)).and_then(Arg::as_str) {
                        Some(name) => println!("connected to {name} at {addr}"),
                        None => println!(
                            "no reply from {addr}: is a server running there? (talking to it anyway)"
                        ),
                    }
                    *conn.borrow_mut() = Some(c)
                }
                Err(e) => println!("{e}"),
            },
            Action::List(path) => match conn.borrow().as_ref() {
                Some(c) => list(c, &path).iter().for_each(|l| println!("{l}")),
                None => println!("no server: open HOST:PORT"),
            },
            Action::Cd(path) => {
                let reply = conn.borrow().as_ref().map(|c| {
                    c.ask(
                        &Message::new(format!("{path}/").replace("//", "/"), vec![]),
                        Duration::from_secs(2),
                    )
                });
                match reply.and_then(|r| r.into_iter().next()) {
                    Some(r) if matches!(r.args.first(), Some(Arg::Int(n)) if *n >= 0) => {
                        *cwd.borrow_mut() = path
                    }
                    Some(r) => println!("{}", show(&r)),
                    None => println!("no reply from the server"),
                }
            }
            Action::Send(m) => {
                let replies =
                    conn.borrow().as_ref().map(|c| c.ask(&m, Duration::from_secs(2))).unwrap_or_default();
                if replies.is_empty() {
                    println!("no reply from the server");
                }
                replies.iter().for_each(|r| println!("{}", show(r)));
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_current_patch() {
        assert_eq!(resolve("/patch", "sine0/freq"), "/patch/sine0/freq");
        assert_eq!(resolve("/patch/sub", ".."), "/patch");
        assert_eq!(resolve("/patch", "/thread"), "/thread");
        assert_eq!(resolve("/", "."), "/");
    }

    #[test]
    fn commands_become_osc_messages() {
        let send = |line: &str| match parse(line, "/patch").unwrap() {
            Some(Action::Send(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(parse("ls", "/patch").unwrap(), Some(Action::List("/patch".into())));
        assert_eq!(parse("ls /", "/patch").unwrap(), Some(Action::List("/".into())));
        assert_eq!(send("doc sine0"), Message::new("/patch/sine0/documentation", vec![]));
        assert_eq!(send("type /main_clock"), Message::new("/main_clock/type-signature", vec![]));
        assert_eq!(send("get sine0/freq"), Message::new("/patch/sine0/freq/current-value", vec![]));
        assert_eq!(send("set sine0/freq 440.5"), Message::new("/patch/sine0/freq", vec![Arg::Float(440.5)]));
        assert_eq!(
            send("add Sinewave sine0 440"),
            Message::new(
                "/patch/add-transform",
                vec![Arg::Str("Sinewave".into()), Arg::Str("sine0".into()), Arg::Str("440".into())]
            )
        );
        assert_eq!(
            send("delete sine0"),
            Message::new("/patch/delete-transform", vec![Arg::Str("sine0".into())])
        );
        assert_eq!(
            send("connect sine0/samplesOut out/mix"),
            Message::new("/patch/sine0/samplesOut/connect", vec![Arg::Str("/patch/out/mix".into())])
        );
        assert_eq!(send("send /advance-clock 3"), Message::new("/advance-clock", vec![Arg::Int(3)]));
        assert_eq!(parse("cd sub", "/patch").unwrap(), Some(Action::Cd("/patch/sub".into())));
        assert!(parse("set", "/patch").unwrap_err().starts_with("usage"));
        assert!(parse("frobnicate", "/patch").is_err());
        assert_eq!(parse("   ", "/patch").unwrap(), None);
    }

    #[test]
    fn quoted_words_keep_their_spaces_and_stay_text() {
        let send = |line: &str| match parse(line, "/patch").unwrap() {
            Some(Action::Send(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(send(r#"set p/in "hello world""#).args, vec![Arg::Str("hello world".into())]);
        assert_eq!(send(r#"set p/in "42" 42"#).args, vec![Arg::Str("42".into()), Arg::Int(42)]);
        assert_eq!(
            send(r#"set p/in "say \"hi\"" x"#).args,
            vec![Arg::Str("say \"hi\"".into()), Arg::Str("x".into())]
        );
        assert_eq!(send(r#"set p/in """#).args, vec![Arg::Str(String::new())]);
        assert_eq!(parse(r#"set p/in "open"#, "/patch").unwrap_err(), "a quote is not closed");
    }
}
