//! A reader for the one-entry JAAS text Kafka clients take in `sasl.jaas.config`:
//!
//! ```text
//! org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cr;et";
//! ```
//!
//! Grammar (as Java's `JaasConfig`, which tokenizes with `StreamTokenizer`): a login module class name, a
//! control flag (`required`, `requisite`, `sufficient`, `optional`, any case), then `key=value` options, then `;`.
//! Values are either double-quoted — `\"`, `\\`, `\n`, `\t`, `\r` escapes; any other escaped character stands for
//! itself — or a bare run of characters up to whitespace or `;`. Exactly one module entry is allowed.
//!
//! Every option value is kept as a [`Secret`]; errors name the position or the option, never a value.
//!
//! # References
//! - Java `org.apache.kafka.common.security.JaasConfig`, `javax.security.auth.login.Configuration` (syntax).

use super::Secret;

/// Java's PLAIN login module.
pub const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
/// Java's SCRAM login module.
pub const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

/// Why a `sasl.jaas.config` value was refused. Never carries an option's value.
///
/// ```
/// use kprod_proto::producer::config::ProducerConfig;
/// use kprod_proto::security::jaas::JaasError;
/// use kprod_proto::security::{SaslSettings, SecurityConfigError};
///
/// let config = ProducerConfig::from_pairs([
///     ("security.protocol", "SASL_PLAINTEXT"),
///     ("sasl.jaas.config", r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="pw""#),
/// ])?;
/// let e = SaslSettings::from_config(&config).unwrap_err();
/// assert!(matches!(e, SecurityConfigError::Jaas(JaasError::MissingSemicolon)), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JaasError {
    /// The value is empty.
    #[error("empty: expected '<LoginModule class> required username=\"...\" password=\"...\";'")]
    Empty,
    /// No control flag after the login module.
    #[error("missing the control flag after the login module (expected required, requisite, sufficient or optional)")]
    MissingFlag,
    /// A control flag Kafka does not know.
    #[error("invalid control flag '{0}' (expected required, requisite, sufficient or optional)")]
    BadFlag(String),
    /// Not JAAS syntax.
    #[error("at character {position}: {reason}")]
    Syntax {
        /// 0-based character position.
        position: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// A quoted value without its closing quote.
    #[error("the value of option '{option}' has no closing double quote")]
    UnterminatedQuote {
        /// The option whose value is unterminated.
        option: String,
    },
    /// No `;` at the end.
    #[error("missing the ';' that ends the login module entry")]
    MissingSemicolon,
    /// More than one login module.
    #[error("more than one login module entry; sasl.jaas.config takes exactly one")]
    MultipleEntries,
    /// A required option is missing.
    #[error("option '{option}' is missing")]
    MissingOption {
        /// `username` or `password`.
        option: &'static str,
    },
}

/// Which credentials family a login module belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// `PlainLoginModule`.
    Plain,
    /// `ScramLoginModule`.
    Scram,
    /// Kerberos, OAuth, or a custom class kprod does not implement.
    Other,
}

/// One parsed login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module class.
    pub module: String,
    /// The control flag, lower-case.
    pub flag: String,
    /// Options in order; values are secrets since any of them may be one.
    pub options: Vec<(String, Secret)>,
}

impl JaasEntry {
    /// The value of option `name` (the last one if repeated).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.expose())
    }

    /// The credentials family of the module, by its class's simple name (so relocated packages still match).
    pub fn module_kind(&self) -> ModuleKind {
        match self.module.rsplit('.').next().unwrap_or("") {
            "PlainLoginModule" => ModuleKind::Plain,
            "ScramLoginModule" => ModuleKind::Scram,
            _ => ModuleKind::Other,
        }
    }
}

fn is_bare(c: char) -> bool {
    !c.is_whitespace() && c != ';' && c != '=' && c != '"'
}

/// Parses a `sasl.jaas.config` value.
pub fn parse(text: &str) -> Result<JaasEntry, JaasError> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && is_bare(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    skip_ws(&mut i);
    let module = word(&mut i);
    if module.is_empty() {
        return Err(if i >= chars.len() {
            JaasError::Empty
        } else {
            JaasError::Syntax { position: i, reason: "expected the login module class name" }
        });
    }
    skip_ws(&mut i);
    let flag = word(&mut i).to_ascii_lowercase();
    if flag.is_empty() {
        return Err(JaasError::MissingFlag);
    }
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        return Err(JaasError::BadFlag(flag));
    }
    let mut options = Vec::new();
    loop {
        skip_ws(&mut i);
        match chars.get(i) {
            None => return Err(JaasError::MissingSemicolon),
            Some(';') => {
                i += 1;
                break;
            }
            Some(_) => {}
        }
        let key = word(&mut i);
        if key.is_empty() {
            return Err(JaasError::Syntax { position: i, reason: "expected an option name" });
        }
        skip_ws(&mut i);
        if chars.get(i) != Some(&'=') {
            return Err(JaasError::Syntax { position: i, reason: "expected '=' after an option name" });
        }
        i += 1;
        skip_ws(&mut i);
        let value = if chars.get(i) == Some(&'"') {
            i += 1;
            let mut v = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(JaasError::UnterminatedQuote { option: key }),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let Some(&e) = chars.get(i + 1) else {
                            return Err(JaasError::UnterminatedQuote { option: key });
                        };
                        v.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            v
        } else {
            let v = word(&mut i);
            if v.is_empty() {
                return Err(JaasError::Syntax { position: i, reason: "expected a value after '='" });
            }
            v
        };
        options.push((key, Secret::new(value)));
    }
    skip_ws(&mut i);
    if i < chars.len() {
        return Err(JaasError::MultipleEntries);
    }
    Ok(JaasEntry { module, flag, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_with_escapes_and_separators() {
        let e = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" \
             password=\"s3cr;et \\\"q\\\" \\\\ x=y\";",
        )
        .unwrap();
        assert_eq!(e.module_kind(), ModuleKind::Plain);
        assert_eq!(e.flag, "required");
        assert_eq!(e.option("username"), Some("alice"));
        assert_eq!(e.option("password"), Some("s3cr;et \"q\" \\ x=y"));
    }

    #[test]
    fn bare_values_flags_and_whitespace() {
        let e = parse(
            "\n  org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED\n username = bob\tpassword=p@ss ; ",
        )
        .unwrap();
        assert_eq!(e.module_kind(), ModuleKind::Scram);
        assert_eq!(
            (e.flag.as_str(), e.option("username"), e.option("password")),
            ("required", Some("bob"), Some("p@ss"))
        );
        assert_eq!(parse("x.Krb5LoginModule optional;").unwrap().module_kind(), ModuleKind::Other);
    }

    #[test]
    fn errors_name_the_problem_never_the_value() {
        let cases: &[(&str, JaasError)] = &[
            ("", JaasError::Empty),
            ("a.PlainLoginModule", JaasError::MissingFlag),
            ("a.PlainLoginModule maybe;", JaasError::BadFlag("maybe".into())),
            (
                "a.PlainLoginModule required username=\"u\" password=\"hunter2",
                JaasError::UnterminatedQuote { option: "password".into() },
            ),
            ("a.PlainLoginModule required password=\"hunter2\"", JaasError::MissingSemicolon),
            ("a.PlainLoginModule required password=\"hunter2\"; b.X required;", JaasError::MultipleEntries),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err();
            assert_eq!(&got, want, "{text}");
            assert!(!got.to_string().contains("hunter2"), "{got}");
        }
        let e = parse("a.PlainLoginModule required password hunter2;").unwrap_err();
        assert!(matches!(e, JaasError::Syntax { .. }) && !e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn debug_of_an_entry_hides_values() {
        let e = parse("a.PlainLoginModule required username=\"alice\" password=\"hunter2\";").unwrap();
        let s = format!("{e:?}");
        assert!(!s.contains("hunter2") && !s.contains("alice") && s.contains("password"), "{s}");
    }
}
