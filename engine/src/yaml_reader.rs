//! Rendered YAML read directly for the common case, giving exactly what `yaml_serde::from_str`
//! gives.
//!
//! Parsing each template's output through `yaml_serde` (a port of libyaml's scanner and parser,
//! then serde's visitors) is the largest part of a large render. Template output is mostly
//! block maps and lists of one-line scalars; those are read here. Anything else (flow
//! collections other than `{}` and `[]`, anchors, tags, multi-line plain or quoted scalars,
//! folded or indented block scalars, tabs, non-ASCII text, duplicate keys, plain scalars that
//! resolve to anything but a string, null, a boolean or a decimal integer) makes [`from_str`]
//! return `None`, and the caller uses `yaml_serde`, which also words the errors. Property tests
//! compare the two on generated documents, and debug builds compare them on every document read.

use serde_json::{Map, Number, Value};

use crate::yaml_writer::reads_as_another_type;

/// What `yaml_serde::from_str::<Value>(text)` gives, or `None` where `text` holds something
/// this reader leaves to `yaml_serde` (including every text `yaml_serde` refuses).
pub(crate) fn from_str(text: &str) -> Option<Value> {
    if !text
        .bytes()
        .all(|b| b == b'\n' || (0x20..0x7f).contains(&b))
    {
        return None;
    }
    let lines: Vec<Line<'_>> = text
        .split('\n')
        .map(|raw| {
            let content = raw.trim_start_matches(' ');
            Line {
                indent: raw.len() - content.len(),
                content,
                raw,
            }
        })
        .collect();
    // Document markers, and what might read as one, are the splitter's and yaml_serde's.
    if lines
        .iter()
        .any(|line| line.raw.starts_with("---") || line.raw.starts_with("..."))
    {
        return None;
    }
    let mut reader = Reader { lines, at: 0 };
    reader.skip_blank();
    let Some(first) = reader.current() else {
        return Some(Value::Null);
    };
    let value = reader.node(first.indent)?;
    reader.skip_blank();
    reader.current().is_none().then_some(value)
}

#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    /// The line after its indentation.
    content: &'a str,
    raw: &'a str,
}

impl Line<'_> {
    /// Empty, only spaces, or only a comment.
    fn is_blank(&self) -> bool {
        self.content.is_empty() || self.content.starts_with('#')
    }

    fn is_item(&self) -> bool {
        self.content == "-" || self.content.starts_with("- ")
    }
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    at: usize,
}

impl<'a> Reader<'a> {
    fn current(&self) -> Option<Line<'a>> {
        self.lines.get(self.at).copied()
    }

    fn skip_blank(&mut self) {
        while self.current().is_some_and(|l| l.is_blank()) {
            self.at += 1;
        }
    }

    /// The next line that is not blank, where it is indented by `indent`.
    fn next_at(&mut self, indent: usize) -> Option<Line<'a>> {
        self.skip_blank();
        self.current().filter(|l| l.indent == indent)
    }

    /// A block map or list starting at the current (non-blank) line.
    fn node(&mut self, indent: usize) -> Option<Value> {
        if self.current()?.is_item() {
            self.list(indent)
        } else {
            self.map(indent)
        }
    }

    fn map(&mut self, indent: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.next_at(indent) {
            if line.is_item() {
                break;
            }
            let (key, rest) = split_entry(line.content)?;
            if map.contains_key(&key) {
                return None;
            }
            self.at += 1;
            let value = self.value_after(indent, rest, true)?;
            map.insert(key, value);
        }
        self.ends_block(indent)?;
        Some(Value::Object(map))
    }

    fn list(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.next_at(indent) {
            if !line.is_item() {
                break;
            }
            let after_dash = &line.content[1..];
            let rest = after_dash.trim_start_matches(' ');
            if rest.is_empty() || rest.starts_with('#') || rest == "-" || rest.starts_with("- ") {
                // A bare `-` (its item on the next lines) or a list in a list.
                return None;
            }
            let item_indent = indent + 1 + (after_dash.len() - rest.len());
            if split_entry(rest).is_some() {
                // A map starting on the item's line: read the line again as its first entry.
                self.lines[self.at] = Line {
                    indent: item_indent,
                    content: rest,
                    raw: line.raw,
                };
                items.push(self.map(item_indent)?);
            } else {
                self.at += 1;
                items.push(self.value_after(indent, rest, false)?);
            }
        }
        self.ends_block(indent)?;
        Some(Value::Array(items))
    }

    /// After a block at `indent`, the next line is indented less (or is a list item of the
    /// map that holds this list, checked by the caller): a line indented more is a
    /// continuation this reader does not read.
    fn ends_block(&mut self, indent: usize) -> Option<()> {
        self.skip_blank();
        match self.current() {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }

    /// The value of a map entry or list item whose line at `indent` continues with `rest`.
    fn value_after(&mut self, indent: usize, rest: &'a str, in_map: bool) -> Option<Value> {
        if rest.is_empty() || rest.starts_with('#') {
            if !in_map {
                return None;
            }
            self.skip_blank();
            return match self.current() {
                Some(next) if next.indent > indent => self.node(next.indent),
                // A list in a map may sit at the map's own indentation.
                Some(next) if next.indent == indent && next.is_item() => self.list(indent),
                _ => Some(Value::Null),
            };
        }
        if rest == "|" || rest == "|-" {
            if !in_map {
                return None;
            }
            return self.literal(indent, rest == "|");
        }
        let value = scalar(rest)?;
        self.ends_block(indent)?;
        Some(value)
    }

    /// A literal block scalar (`|` keeps one final line break, `|-` none) whose content is
    /// indented more than `indent`.
    fn literal(&mut self, indent: usize, keep_final_break: bool) -> Option<Value> {
        let first = self.current()?;
        if first.content.is_empty() {
            // Leading empty lines, or an empty scalar: their indentation rules are left to yaml_serde.
            return None;
        }
        let width = first.indent;
        if width <= indent {
            return None;
        }
        let mut text = String::new();
        let mut pending_breaks = 0;
        let mut last_content = self.at;
        while let Some(line) = self.current() {
            if line.raw.is_empty() {
                pending_breaks += 1;
            } else if line.content.is_empty() {
                // A line of spaces only: content if longer than the indentation.
                return None;
            } else if line.indent < width {
                break;
            } else {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.extend(std::iter::repeat_n('\n', pending_breaks));
                pending_breaks = 0;
                text.push_str(&line.raw[width..]);
                last_content = self.at;
            }
            self.at += 1;
        }
        // Clipping keeps the last line's break, where the text has one.
        if keep_final_break && last_content + 1 < self.lines.len() {
            text.push('\n');
        }
        // A line after the scalar indented more than the entry but less than the content.
        self.ends_block(indent)?;
        Some(Value::String(text))
    }
}

/// A map entry's key and what follows `:` (without leading spaces), if `content` is one.
fn split_entry(content: &str) -> Option<(String, &str)> {
    let (key, after) = match content.as_bytes().first()? {
        b'\'' | b'"' => {
            let (key, after) = quoted(content)?;
            (key, after.strip_prefix(':')?)
        }
        _ => {
            let colon = content
                .match_indices(':')
                .map(|(i, _)| i)
                .find(|&i| matches!(content.as_bytes().get(i + 1), None | Some(b' ')))?;
            let key = content[..colon].trim_end_matches(' ');
            if !plain_start(key) || key.contains(" #") || key == "<<" || reads_as_another_type(key)
            {
                return None;
            }
            (key.to_owned(), &content[colon + 1..])
        }
    };
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((key, after.trim_start_matches(' ')))
}

/// Whether a plain scalar may start this way in block context (no indicator).
fn plain_start(s: &str) -> bool {
    match s.as_bytes() {
        [] => false,
        [first, ..] if b"#,[]{}&*!|>'\"%@`".contains(first) => false,
        // `-`, `?` and `:` are indicators only when a space or the end follows.
        [b'-' | b'?' | b':', second, ..] => *second != b' ',
        [b'-' | b'?' | b':'] => false,
        _ => true,
    }
}

/// A one-line scalar (or an empty flow collection) after `: ` or `- `.
fn scalar(rest: &str) -> Option<Value> {
    match rest.as_bytes()[0] {
        b'\'' | b'"' => {
            let (text, after) = quoted(rest)?;
            only_a_comment(after).then_some(Value::String(text))
        }
        b'{' | b'[' => {
            let after = rest.get(2..)?;
            if !only_a_comment(after) {
                return None;
            }
            match &rest[..2] {
                "{}" => Some(Value::Object(Map::new())),
                "[]" => Some(Value::Array(Vec::new())),
                _ => None,
            }
        }
        _ => {
            let text = match rest.find(" #") {
                Some(comment) => &rest[..comment],
                None => rest,
            }
            .trim_end_matches(' ');
            if !plain_start(text) || text.contains(": ") || text.ends_with(':') {
                return None;
            }
            plain(text)
        }
    }
}

/// Nothing, or spaces and a comment.
fn only_a_comment(after: &str) -> bool {
    let trimmed = after.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < after.len())
}

/// A plain scalar resolved as `yaml_serde` resolves it, where that is a string, null, a
/// boolean or a decimal integer.
fn plain(text: &str) -> Option<Value> {
    match text {
        "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(int) = decimal(text) {
        return Some(int);
    }
    if reads_as_another_type(text) {
        return None;
    }
    Some(Value::String(text.to_owned()))
}

/// `0`, or digits without a leading zero, optionally after `-`, in the range of an i64 or u64.
fn decimal(text: &str) -> Option<Value> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !well_formed {
        return None;
    }
    if text.starts_with('-') {
        if digits == "0" {
            return None;
        }
        text.parse::<i64>()
            .ok()
            .map(|n| Value::Number(Number::from(n)))
    } else {
        text.parse::<u64>()
            .ok()
            .map(|n| Value::Number(Number::from(n)))
    }
}

/// A single- or double-quoted scalar closed on this line, and what follows its closing quote.
fn quoted(s: &str) -> Option<(String, &str)> {
    let quote = s.as_bytes()[0];
    let mut text = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if quote == b'\'' => {
                if s[1 + i + 1..].starts_with('\'') {
                    chars.next();
                    text.push('\'');
                } else {
                    return Some((text, &s[1 + i + 1..]));
                }
            }
            '"' if quote == b'"' => return Some((text, &s[1 + i + 1..])),
            '\\' if quote == b'"' => {
                let (_, escaped) = chars.next()?;
                text.push(match escaped {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' => {
                        let hex = chars.as_str().get(..4)?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        for _ in 0..4 {
                            chars.next();
                        }
                        char::from_u32(code)?
                    }
                    _ => return None,
                });
            }
            c => text.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests;
