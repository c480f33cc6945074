//! A reader for Java `.properties` text, following `java.util.Properties.load(Reader)`:
//! `#` and `!` comment lines, `key=value` / `key:value` / `key value`, logical lines continued with an odd number
//! of trailing backslashes (leading whitespace of the continuation dropped), escapes `\t \n \r \f \uXXXX` and
//! `\x` → `x`, and the last duplicate key winning (the caller applies entries in order).
//!
//! # References
//! - `java.util.Properties#load(java.io.Reader)` documentation.

/// One `key`/`value` entry and the (1-based) line its logical line started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A syntax error: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

fn natural_lines(text: &str) -> impl Iterator<Item = &str> {
    // Split on \n, \r\n and lone \r, as Java's LineReader does.
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

fn trailing_backslashes(s: &str) -> usize {
    s.bytes().rev().take_while(|&b| b == b'\\').count()
}

/// Parses `.properties` text into entries in file order.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0;
    let mut continuing = false;
    for (i, raw) in natural_lines(text).enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim_start_matches(is_ws);
        if !continuing {
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                continue;
            }
            start_line = line_no;
            logical.clear();
        }
        if trailing_backslashes(trimmed) % 2 == 1 {
            logical.push_str(&trimmed[..trimmed.len() - 1]);
            continuing = true;
            continue;
        }
        logical.push_str(trimmed);
        continuing = false;
        entries.push(split_entry(&logical, start_line)?);
    }
    if continuing && !logical.trim_start_matches(is_ws).is_empty() {
        entries.push(split_entry(&logical, start_line)?);
    }
    Ok(entries)
}

fn split_entry(logical: &str, line: usize) -> Result<Entry, SyntaxError> {
    // Find the end of the key: the first unescaped '=', ':' or whitespace.
    let mut key_end = logical.len();
    let mut value_start = logical.len();
    let mut escaped = false;
    for (i, c) in logical.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' {
            key_end = i;
            value_start = i + 1;
            break;
        } else if is_ws(c) {
            key_end = i;
            let rest = logical[i..].trim_start_matches(is_ws);
            let mut vs = logical.len() - rest.len();
            if rest.starts_with('=') || rest.starts_with(':') {
                vs += 1;
            }
            value_start = vs;
            break;
        }
    }
    let raw_value = logical[value_start.min(logical.len())..].trim_start_matches(is_ws);
    Ok(Entry { key: unescape(&logical[..key_end], line)?, value: unescape(raw_value, line)?, line })
}

fn unescape(s: &str, line: usize) -> Result<String, SyntaxError> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            if pending_high.take().is_some() {
                return Err(bad_surrogate(line));
            }
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break }; // a lone trailing backslash is dropped, as Java does
        let decoded = match e {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\u{c}',
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                let unit = (hex.len() == 4)
                    .then(|| u16::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| SyntaxError { line, message: format!("malformed \\uxxxx escape '\\u{hex}'") })?;
                if (0xd800..0xdc00).contains(&unit) {
                    if pending_high.replace(unit).is_some() {
                        return Err(bad_surrogate(line));
                    }
                    continue;
                }
                if (0xdc00..0xe000).contains(&unit) {
                    let high = pending_high.take().ok_or_else(|| bad_surrogate(line))?;
                    let cp = 0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
                    out.push(char::from_u32(cp).ok_or_else(|| bad_surrogate(line))?);
                    continue;
                }
                char::from_u32(u32::from(unit)).ok_or_else(|| bad_surrogate(line))?
            }
            other => other,
        };
        if pending_high.take().is_some() {
            return Err(bad_surrogate(line));
        }
        out.push(decoded);
    }
    if pending_high.is_some() {
        return Err(bad_surrogate(line));
    }
    Ok(out)
}

fn bad_surrogate(line: usize) -> SyntaxError {
    SyntaxError { line, message: "unpaired UTF-16 surrogate in \\u escape".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap().into_iter().map(|e| (e.key, e.value)).collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_comments_and_whitespace() {
        let text = "# comment\n! also comment\n\n  a=1\nb : 2\nc 3\nd\te  \n   f=\n g\n";
        assert_eq!(
            kv(text),
            vec![pair("a", "1"), pair("b", "2"), pair("c", "3"), pair("d", "e  "), pair("f", ""), pair("g", "")]
        );
    }

    #[test]
    fn continuation_lines() {
        let text = "bootstrap.servers=a:1,\\\n    b:2,\\\r\n\tc:3\nx=y\\\\\nz=1\r\nlast=tail\\";
        assert_eq!(
            kv(text),
            vec![pair("bootstrap.servers", "a:1,b:2,c:3"), pair("x", "y\\"), pair("z", "1"), pair("last", "tail")]
        );
        let lines: Vec<usize> = parse(text).unwrap().iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 4, 5, 6]);
        // A comment line does not continue, but a continued line that looks like a comment is content.
        assert_eq!(kv("# c \\\na=1\nb=x\\\n#y"), vec![pair("a", "1"), pair("b", "x#y")]);
    }

    #[test]
    fn escapes() {
        assert_eq!(kv(r"k\=ey\ 1 = v\tal\nue\u0041\:\\"), vec![pair("k=ey 1", "v\tal\nueA:\\")]);
        assert_eq!(kv(r"e=\uD83D\uDE00"), vec![pair("e", "😀")]);
        let err = parse("ok=1\nbad=\\u12G4").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("\\u"), "{}", err.message);
        assert!(parse("bad=\\uD83D").is_err());
    }

    /// Escapes like `Properties.store`: separators and specials in keys, leading spaces in values, controls and
    /// non-ASCII as escapes (non-BMP chars as surrogate pairs).
    fn escape(s: &str, is_key: bool) -> String {
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\u{c}' => out.push_str("\\f"),
                '=' | ':' | '#' | '!' => {
                    out.push('\\');
                    out.push(c);
                }
                ' ' if is_key || i == 0 => out.push_str("\\ "),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
                c => out.push(c),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn store_then_load_round_trips(entries in proptest::collection::vec((".{1,12}", ".{0,20}"), 1..8)) {
            let mut text = String::from("# generated\n");
            for (k, v) in &entries {
                text.push_str(&format!("{}={}\n", escape(k, true), escape(v, false)));
            }
            let got = kv(&text);
            proptest::prop_assert_eq!(got, entries.clone());
        }
    }
}
