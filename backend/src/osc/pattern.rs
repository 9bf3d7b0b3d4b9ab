//! OSC address pattern matching: `?`, `*`, `[abc]`, `[a-z]`, `[!a-z]`,
//! `{foo,bar}` within a path segment, and OSC 1.1's `//`, which matches any
//! number of levels (including none).
//!
//! Written here rather than taken from rosc, whose matcher fails `[a-c]`,
//! `{foo,foobar}`, `x*` against `x` and `//` (see DESIGN.md); the tests
//! below hold those cases.

/// Longest address or pattern the server reads; longer ones are refused
/// before matching, so that one match costs at most about
/// `MAX_ADDRESS` × the candidate's length steps.
pub const MAX_ADDRESS: usize = 2048;

/// Whether `pattern` matches the whole of `address`.
///
/// Iterative and in polynomial time: each part between `//`s is tried at
/// every segment boundary once, and each segment is matched by walking the
/// set of address positions its pattern can reach (an NFA simulation), so
/// no pattern makes it backtrack exponentially or recurse. Inputs longer
/// than [`MAX_ADDRESS`] match nothing.
pub fn matches(pattern: &str, address: &str) -> bool {
    if pattern.len() > MAX_ADDRESS || address.len() > MAX_ADDRESS {
        return false;
    }
    let address: Vec<&[u8]> = address.split('/').map(str::as_bytes).collect();
    // A run of three or more slashes means what `//` means. Rare: only then
    // is the pattern copied (a glob tries it against every address).
    let mut pattern = std::borrow::Cow::Borrowed(pattern);
    while pattern.contains("///") {
        pattern = pattern.replace("///", "//").into();
    }
    let mut parts = pattern.split("//").map(|part| part.split('/').map(str::as_bytes).collect::<Vec<_>>());
    // The part before the first `//` matches the leading segments exactly.
    let head = parts.next().unwrap_or_default();
    if head.len() > address.len() || !all_segments(&head, &address[..head.len()]) {
        return false;
    }
    // `reach[i]`: the parts so far can end just before address segment `i`.
    let mut reach = vec![false; address.len() + 1];
    reach[head.len()] = true;
    for part in parts {
        // After `//`, the part may start at any later boundary (zero or more levels).
        let Some(first) = reach.iter().position(|&r| r) else { return false };
        let mut next = vec![false; address.len() + 1];
        for start in first..address.len() {
            let end = start + part.len();
            if end <= address.len() && all_segments(&part, &address[start..end]) {
                next[end] = true;
            }
        }
        reach = next;
    }
    reach[address.len()]
}

fn all_segments(patterns: &[&[u8]], segments: &[&[u8]]) -> bool {
    patterns.iter().zip(segments).all(|(p, a)| segment(p, a))
}

/// Whether the pattern has anything to expand.
pub fn is_pattern(s: &str) -> bool {
    // One pass over the bytes: asked of every request, and the two
    // `contains` it replaces were a visible cost per OSC set-value (perf).
    let mut after_slash = false;
    for &c in s.as_bytes() {
        match c {
            b'?' | b'*' | b'[' | b']' | b'{' | b'}' => return true,
            b'/' if after_slash => return true,
            _ => {}
        }
        after_slash = c == b'/';
    }
    false
}

/// One element of a segment's pattern.
enum Token<'p> {
    Byte(u8),
    AnyByte,
    AnyRun,
    Class(&'p [u8]),
    Alternatives(&'p [u8]),
    /// An unclosed `[` or `{`: matches nothing, as before.
    Broken,
}

fn tokens(mut p: &[u8]) -> impl Iterator<Item = Token<'_>> {
    std::iter::from_fn(move || {
        let (&c, rest) = p.split_first()?;
        let (token, rest) = match c {
            b'?' => (Token::AnyByte, rest),
            b'*' => (Token::AnyRun, rest),
            b'[' | b'{' => {
                let close = if c == b'[' { b']' } else { b'}' };
                match rest.iter().position(|&x| x == close) {
                    Some(n) if c == b'[' => (Token::Class(&rest[..n]), &rest[n + 1..]),
                    Some(n) => (Token::Alternatives(&rest[..n]), &rest[n + 1..]),
                    None => (Token::Broken, &rest[rest.len()..]),
                }
            }
            c => (Token::Byte(c), rest),
        };
        p = rest;
        Some(token)
    })
}

/// One segment: no `/` on either side. `reach[i]` says the tokens so far
/// can match `a[..i]`; each token maps it forward once: O(|p| × |a|), with
/// `{...}` alternatives costing their total length.
fn segment(p: &[u8], a: &[u8]) -> bool {
    let mut reach = vec![false; a.len() + 1];
    reach[0] = true;
    let mut next = vec![false; a.len() + 1];
    for token in tokens(p) {
        next.fill(false);
        match token {
            Token::AnyRun => {
                if let Some(first) = reach.iter().position(|&r| r) {
                    next[first..].fill(true);
                }
            }
            Token::Alternatives(alts) => {
                for i in (0..=a.len()).filter(|&i| reach[i]) {
                    for alt in alts.split(|&c| c == b',') {
                        if a[i..].starts_with(alt) {
                            next[i + alt.len()] = true;
                        }
                    }
                }
            }
            Token::Broken => return false,
            one => {
                for i in (0..a.len()).filter(|&i| reach[i]) {
                    let hit = match &one {
                        Token::Byte(c) => a[i] == *c,
                        Token::Class(set) => class(set, a[i]),
                        _ => true, // AnyByte
                    };
                    next[i + 1] |= hit;
                }
            }
        }
        std::mem::swap(&mut reach, &mut next);
        if !reach.contains(&true) {
            return false;
        }
    }
    reach[a.len()]
}

/// `[...]` contents: characters and ranges, `!` first negates.
fn class(set: &[u8], c: u8) -> bool {
    let (negate, set) = match set.first() {
        Some(b'!') => (true, &set[1..]),
        _ => (false, set),
    };
    let mut hit = false;
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == b'-' {
            let (lo, hi) = (set[i].min(set[i + 2]), set[i].max(set[i + 2]));
            hit |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            hit |= set[i] == c;
            i += 1;
        }
    }
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    /// liblo's own dispatch vectors (src/testlo.c): methods /pattern/foo,
    /// /pattern/bar and /pattern/baz, and two patterned sends that must
    /// reach five handlers between them.
    #[test]
    fn liblos_pattern_vectors() {
        let methods = ["/pattern/foo", "/pattern/bar", "/pattern/baz"];
        let hits = |p: &str| methods.iter().filter(|m| matches(p, m)).count();
        assert_eq!(hits("/pattern/*"), 3);
        assert_eq!(hits("/pattern/ba[rz]"), 2);
        assert!(!matches("/pattern/ba[rz]", "/pattern/foo"));
        // The non-pattern sends of the same test reach none of them.
        assert_eq!(hits("/"), 0);
        assert_eq!(hits("/pattern/"), 0);
    }

    #[test]
    fn the_cases_rosc_gets_wrong() {
        assert!(matches("/[a-c]", "/b"));
        assert!(!matches("/[a-c]", "/d"));
        assert!(matches("/{foo,foobar}", "/foobar"));
        assert!(matches("/{foo,foobar}", "/foo"));
        assert!(matches("/x*", "/x"));
        assert!(matches("//c", "/a/b/c"));
        assert!(matches("//c", "/c"));
    }

    #[test]
    fn wildcards_stay_within_a_segment() {
        let yes = [
            ("/foo", "/foo"),
            ("/fo?", "/foo"),
            ("/*", "/anything"),
            ("/*/bar", "/foo/bar"),
            ("/f*o", "/fo"),
            ("/f*o", "/fooo"),
            ("/*a*", "/banana"),
            ("/[abc]x", "/bx"),
            ("/[!abc]x", "/dx"),
            ("/[!a-c]x", "/zx"),
            ("/[a-]x", "/-x"),
            ("/{foo,bar}/baz", "/bar/baz"),
            ("/{a,b}{c,d}", "/bd"),
            ("/pattern/ba[rz]", "/pattern/baz"),
            ("/a//d", "/a/b/c/d"),
            ("/a//d", "/a/d"),
            ("//*/x", "/p/q/x"),
        ];
        for (p, a) in yes {
            assert!(matches(p, a), "{p} should match {a}");
        }
        let no = [
            ("/foo", "/foobar"),
            ("/fo?", "/fo"),
            ("/*", "/a/b"),
            ("/?", "/"),
            ("/[abc]x", "/dx"),
            ("/[!abc]x", "/ax"),
            ("/{foo,bar}", "/baz"),
            ("/a//d", "/a/b/c"),
            ("/a//d", "/x/a/d"),
            ("/[abc", "/a"),
        ];
        for (p, a) in no {
            assert!(!matches(p, a), "{p} should not match {a}");
        }
        assert!(is_pattern("*/documentation") && is_pattern("/a//b") && !is_pattern("/patch/sine0/freq"));
    }

    /// The old backtracking matcher, kept as the reference: the new one
    /// must agree with it on every small input.
    fn reference(pattern: &str, address: &str) -> bool {
        fn seg(p: &[u8], a: &[u8]) -> bool {
            match p.first() {
                None => a.is_empty(),
                Some(b'*') => (0..=a.len()).any(|i| seg(&p[1..], &a[i..])),
                Some(b'?') => !a.is_empty() && seg(&p[1..], &a[1..]),
                Some(b'[') => {
                    let Some(close) = p.iter().position(|&c| c == b']') else { return false };
                    let Some(&c) = a.first() else { return false };
                    class(&p[1..close], c) && seg(&p[close + 1..], &a[1..])
                }
                Some(b'{') => {
                    let Some(close) = p.iter().position(|&c| c == b'}') else { return false };
                    let rest = &p[close + 1..];
                    p[1..close]
                        .split(|&c| c == b',')
                        .any(|alt| a.starts_with(alt) && seg(rest, &a[alt.len()..]))
                }
                Some(&c) => a.first() == Some(&c) && seg(&p[1..], &a[1..]),
            }
        }
        if let Some((head, tail)) = pattern.split_once("//") {
            let tail = format!("/{tail}");
            return address.match_indices('/').map(|(i, _)| i).chain([address.len()]).any(|i| {
                reference(head, &address[..i])
                    && address[i..].match_indices('/').any(|(j, _)| reference(&tail, &address[i + j..]))
            });
        }
        let (p, a): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), address.split('/').collect());
        p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| seg(p.as_bytes(), a.as_bytes()))
    }

    #[test]
    fn agrees_with_the_backtracking_reference_on_random_inputs() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let pattern_bytes = b"ab/*?[]!-{},";
        let address_bytes = b"ab/";
        for _ in 0..200_000 {
            let p: String =
                (0..1 + next(9)).map(|_| pattern_bytes[next(pattern_bytes.len())] as char).collect();
            let a: String =
                (0..1 + next(7)).map(|_| address_bytes[next(address_bytes.len())] as char).collect();
            let (p, a) = (format!("/{p}"), format!("/{a}"));
            assert_eq!(matches(&p, &a), reference(&p, &a), "{p:?} against {a:?}");
        }
    }

    /// The patterns that froze or overflowed the old backtracking matcher
    /// finish at once now (a test that would hang, not fail, if they did not).
    #[test]
    fn pathological_patterns_match_in_polynomial_time() {
        let started = std::time::Instant::now();
        let name = format!("/patch/{}/bang", "a".repeat(64));
        assert!(!matches("/patch/*a*a*a*a*a*a*b/bang", &name));
        assert!(matches("/patch/*a*a*a*a*a*a*/bang", &name));
        let stars = format!("/{}x", "*".repeat(20));
        assert!(!matches(&stars, &format!("/{}", "y".repeat(64))));
        let slashes = format!("/{}", "/".repeat(MAX_ADDRESS - 2));
        assert!(!matches(&slashes, "/a/b/c"));
        let many = format!("/{}", "*".repeat(MAX_ADDRESS - 1));
        assert!(matches(&many, "/abc"));
        let levels = format!("/a{}", "/x/b/x/c/x/d/x/e/x/f/x/g/x/h".repeat(20));
        assert!(matches("/a//b//c//d//e//f//g//h", &levels));
        assert!(!matches("/a//b//c//d//e//f//g//h//q", &levels));
        assert!(!matches(&format!("/{}", "*".repeat(MAX_ADDRESS)), "/abc"), "over the cap matches nothing");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
    }
}
