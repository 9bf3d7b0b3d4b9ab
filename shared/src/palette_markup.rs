//! The palette's transform types as markup, grouped by category: one string
//! the browser parses at once, whose clicks the list handles by the button's
//! `data-type`. Built element by element, 124 buttons, each with its own
//! click handler and an effect for its picked look, were about 10 ms of the
//! dashboard's first frame (a profile of the 500-transform page).

use std::fmt::Write;

use crate::engine::TypeInfo;
use crate::patch_markup::escape;

/// `groups` (a category and its types, in order) as `div.palette-group`s of
/// `button.palette-type[data-type]`s, the one named `picked` marked
/// `.picked`; a button's tooltip is its documentation's first line.
pub fn palette_groups(groups: &[(String, Vec<TypeInfo>)], picked: Option<&str>) -> String {
    let mut out = String::with_capacity(groups.iter().map(|(_, g)| g.len() * 120 + 80).sum());
    for (category, types) in groups {
        let category = escape(category);
        let _ = write!(out, r#"<div class="palette-group" data-category="{category}"><h4>{category}</h4>"#);
        for t in types {
            let class = if picked == Some(t.name.as_str()) { "palette-type picked" } else { "palette-type" };
            let first_line = t.documentation.lines().next().unwrap_or_default();
            let _ = write!(
                out,
                r#"<button type="button" class="{class}" data-type="{name}" title="{}">{name}</button>"#,
                escape(first_line),
                name = escape(&t.name),
            );
        }
        out.push_str("</div>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(name: &str, documentation: &str) -> TypeInfo {
        TypeInfo { name: name.into(), category: "filter".into(), documentation: documentation.into() }
    }

    #[test]
    fn groups_hold_their_types_and_the_picked_one_is_marked() {
        let groups = vec![
            ("filter".to_owned(), vec![ty("Lowpass", "12 dB per octave.\nPorts: ..."), ty("Highpass", "")]),
            ("a<b".to_owned(), vec![ty("<", "x < y: \"true\" or 'false'")]),
        ];
        assert_eq!(
            palette_groups(&groups, Some("Highpass")),
            concat!(
                r#"<div class="palette-group" data-category="filter"><h4>filter</h4>"#,
                r#"<button type="button" class="palette-type" data-type="Lowpass" title="12 dB per octave.">Lowpass</button>"#,
                r#"<button type="button" class="palette-type picked" data-type="Highpass" title="">Highpass</button>"#,
                r#"</div><div class="palette-group" data-category="a&lt;b"><h4>a&lt;b</h4>"#,
                r#"<button type="button" class="palette-type" data-type="&lt;" title="x &lt; y: &quot;true&quot; or &#39;false&#39;">&lt;</button>"#,
                "</div>",
            )
        );
        assert_eq!(palette_groups(&[], None), "");
    }
}
