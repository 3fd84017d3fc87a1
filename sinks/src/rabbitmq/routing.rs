//! Routing keys: the `routing_key` template, parsed once, rendered per
//! event.
//!
//! A topic exchange splits routing keys into words at `.`, so `{key}` is
//! written with `.` as `%2E` (and `%` as `%25`, which keeps the escaping
//! reversible): the key `user.7` gives `fluxkv.set.user%2E7`, one word that
//! `fluxkv.set.*` matches. Keys that are not UTF-8 are written lossily
//! (invalid bytes become U+FFFD). AMQP caps routing keys at 255 bytes, so a
//! long key is cut (never inside a character or an escape) to make the
//! whole routing key fit; the payload always carries the exact key.

use fluxkv_schemas::ChangeEvent;

/// AMQP's longest short string, hence routing key.
pub(super) const MAX_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Op,
    Key,
    Node,
}

/// A parsed `routing_key` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RoutingKey {
    parts: Vec<Part>,
}

impl RoutingKey {
    /// Parses `template`: text with `{op}`, `{key}` and `{node}`.
    pub(super) fn parse(template: &str) -> Result<RoutingKey, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("unmatched '}}' in {template:?}"));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("unclosed '{{' in {template:?}"));
            };
            parts.push(match &rest[open..open + close + 1] {
                "{op}" => Part::Op,
                "{key}" => Part::Key,
                "{node}" => Part::Node,
                other => {
                    return Err(format!(
                        "unknown placeholder {other} in {template:?}: expected {{op}}, {{key}} or {{node}}"
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        let key = RoutingKey { parts };
        let fixed: usize = key.parts.iter().map(|p| key.fixed_len(p, "")).sum();
        if fixed > MAX_LEN {
            return Err(format!(
                "{template:?} is longer than AMQP's {MAX_LEN} bytes without the key"
            ));
        }
        Ok(key)
    }

    /// The bytes `part` takes whatever the key (0 for `{key}`).
    fn fixed_len(&self, part: &Part, node: &str) -> usize {
        match part {
            Part::Text(text) => text.len(),
            Part::Op => "expire".len(), // the longest op
            Part::Key => 0,
            Part::Node => node.len(),
        }
    }

    /// The routing key of `event`, at most [`MAX_LEN`] bytes.
    pub(super) fn render(&self, event: &ChangeEvent) -> String {
        let keys = self.parts.iter().filter(|p| **p == Part::Key).count();
        let others: usize = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Op => event.op.as_str().len(),
                p => self.fixed_len(p, &event.node),
            })
            .sum();
        let key_budget = MAX_LEN.saturating_sub(others) / keys.max(1);
        let key = String::from_utf8_lossy(&event.key);
        let mut out = String::with_capacity(others + key.len() + 8);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Op => out.push_str(event.op.as_str()),
                Part::Node => out.push_str(&event.node),
                Part::Key => push_escaped(&mut out, &key, key_budget),
            }
        }
        truncate(&mut out, MAX_LEN); // only a huge node id gets here
        out
    }
}

/// Appends `key` with `.` and `%` escaped, stopping before `budget` bytes
/// would be passed.
fn push_escaped(out: &mut String, key: &str, budget: usize) {
    let mut used = 0;
    for c in key.chars() {
        let escaped = match c {
            '.' => "%2E",
            '%' => "%25",
            _ => "",
        };
        let len = if escaped.is_empty() {
            c.len_utf8()
        } else {
            escaped.len()
        };
        if used + len > budget {
            return;
        }
        used += len;
        if escaped.is_empty() {
            out.push(c);
        } else {
            out.push_str(escaped);
        }
    }
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
pub(super) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use fluxkv_schemas::Op;

    fn event(op: Op, key: &[u8]) -> ChangeEvent {
        ChangeEvent {
            node: "n1".into(),
            epoch: 1,
            seq: 7,
            ts_ms: 0,
            op,
            key: Bytes::copy_from_slice(key),
            value: None,
            expire_at_ms: None,
            prev: None,
        }
    }

    fn render(template: &str, op: Op, key: &[u8]) -> String {
        RoutingKey::parse(template).unwrap().render(&event(op, key))
    }

    #[test]
    fn the_default_template_keeps_the_key_one_word() {
        let t = "fluxkv.{op}.{key}";
        assert_eq!(render(t, Op::Set, b"user:1"), "fluxkv.set.user:1");
        assert_eq!(render(t, Op::Del, b"user.7"), "fluxkv.del.user%2E7");
        assert_eq!(render(t, Op::Set, b"100%.x"), "fluxkv.set.100%25%2Ex");
        assert_eq!(render(t, Op::Set, b"*#"), "fluxkv.set.*#");
        assert_eq!(render(t, Op::Flush, b""), "fluxkv.flush.");
        assert_eq!(render(t, Op::Set, b"\xff\x00k"), "fluxkv.set.\u{fffd}\0k");
        assert_eq!(render("{node}/{op}", Op::Evict, b"k"), "n1/evict");
        assert_eq!(render("all", Op::Set, b"k"), "all");
    }

    #[test]
    fn long_keys_are_cut_to_fit_never_inside_a_character_or_an_escape() {
        let t = "fluxkv.{op}.{key}.end";
        for key in [
            "k".repeat(1000),
            "é".repeat(500),
            ".".repeat(300),
            "ab.".repeat(200),
        ] {
            let routing = render(t, Op::Set, key.as_bytes());
            assert!(routing.len() <= MAX_LEN, "{}", routing.len());
            assert!(routing.len() > MAX_LEN - 4, "{}", routing.len());
            assert!(routing.starts_with("fluxkv.set.") && routing.ends_with(".end"));
            let word = &routing["fluxkv.set.".len()..routing.len() - ".end".len()];
            assert!(!word.contains('.'), "{word}");
            assert!(!word.ends_with('%') && !word.ends_with("%2"), "{word}");
        }
    }

    #[test]
    fn bad_templates_are_errors() {
        for (template, says) in [
            ("fluxkv.{value}", "unknown placeholder {value}"),
            ("fluxkv.{op", "unclosed"),
            ("fluxkv.op}", "unmatched"),
            (&"x".repeat(300), "255"),
        ] {
            let err = RoutingKey::parse(template).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
