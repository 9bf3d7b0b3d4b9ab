//! Ids in one spelling only: the canonical `8-4-4-4-12` hex form. The
//! `uuid` crate also reads `{...}`, `urn:uuid:...` and a dashless form,
//! which would give one node several addresses and names on disk.

use serde::{Deserialize, Deserializer};
use uuid::Uuid;

/// `s` as an id, if it is spelled canonically (either case).
pub fn parse(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok().filter(|id| id.hyphenated().to_string().eq_ignore_ascii_case(s))
}

/// For `#[serde(default, deserialize_with = "canonical_id::optional")]` on an `Option<Uuid>`.
pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a UUID in the 8-4-4-4-12 form"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_spelling_is_an_id() {
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(parse(id).map(|u| u.to_string()), Some(id.to_owned()));
        assert!(parse(&id.to_uppercase()).is_some());
        for other in [format!("{{{id}}}"), format!("urn:uuid:{id}"), id.replace('-', ""), "x".into()] {
            assert_eq!(parse(&other), None, "{other}");
        }
    }
}
