//! OSC address pattern matching: `?`, `*`, `[abc]`, `[a-z]`, `[!a-z]`,
//! `{foo,bar}` within a path segment, and OSC 1.1's `//`, which matches any
//! number of levels (including none).
//!
//! Written here rather than taken from rosc, whose matcher fails `[a-c]`,
//! `{foo,foobar}`, `x*` against `x` and `//` (see DESIGN.md); the tests
//! below hold those cases.

/// Whether `pattern` matches the whole of `address`.
pub fn matches(pattern: &str, address: &str) -> bool {
    if let Some((head, tail)) = pattern.split_once("//") {
        // `head` must match a prefix of whole segments, then `/tail` may
        // match at any later segment boundary.
        let tail = format!("/{tail}");
        return address.match_indices('/').map(|(i, _)| i).chain([address.len()]).any(|i| {
            matches(head, &address[..i])
                && address[i..].match_indices('/').any(|(j, _)| matches(&tail, &address[i + j..]))
        });
    }
    let (p, a): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), address.split('/').collect());
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| segment(p.as_bytes(), a.as_bytes()))
}

/// Whether the pattern has anything to expand.
pub fn is_pattern(s: &str) -> bool {
    s.contains(['?', '*', '[', ']', '{', '}']) || s.contains("//")
}

/// One segment: no `/` on either side.
fn segment(p: &[u8], a: &[u8]) -> bool {
    match p.first() {
        None => a.is_empty(),
        Some(b'*') => {
            let rest = &p[1..];
            (0..=a.len()).any(|i| segment(rest, &a[i..]))
        }
        Some(b'?') => !a.is_empty() && segment(&p[1..], &a[1..]),
        Some(b'[') => {
            let Some(close) = p.iter().position(|&c| c == b']') else { return false };
            let Some(&c) = a.first() else { return false };
            class(&p[1..close], c) && segment(&p[close + 1..], &a[1..])
        }
        Some(b'{') => {
            let Some(close) = p.iter().position(|&c| c == b'}') else { return false };
            let rest = &p[close + 1..];
            p[1..close].split(|&c| c == b',').any(|alt| a.starts_with(alt) && segment(rest, &a[alt.len()..]))
        }
        Some(&c) => a.first() == Some(&c) && segment(&p[1..], &a[1..]),
    }
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
}
