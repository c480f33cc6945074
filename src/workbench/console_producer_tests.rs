//! Line parsing (every `LineMessageReader` property) and option handling of `kprod produce`.

use super::*;
use clap::Parser;

#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: ProduceArgs,
}

fn args(argv: &[&str]) -> ProduceArgs {
    Cli::try_parse_from(std::iter::once("produce").chain(argv.iter().copied())).unwrap().args
}

fn format(props: &[(&str, &str)]) -> Result<LineFormat, ProduceError> {
    LineFormat::from_props(&props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

#[test]
fn defaults_are_javas() {
    let f = format(&[]).unwrap();
    assert_eq!(f, LineFormat::default());
    assert!(!f.parse_key && !f.parse_headers && !f.ignore_error);
    assert_eq!((f.key_separator.as_str(), f.headers_delimiter.as_str()), ("\t", "\t"));
    assert_eq!((f.headers_separator.as_str(), f.headers_key_separator.as_str()), (",", ":"));
    // Without parse.key the whole line is the value, tabs included.
    let p = parse_line(&f, "k\tv", 1).unwrap();
    assert_eq!(p, ParsedLine { key: None, value: Some("k\tv"), headers: vec![] });
}

#[test]
fn parse_key_and_key_separator() {
    let f = format(&[("parse.key", " TRUE ")]).unwrap();
    assert_eq!(parse_line(&f, "k\tv\tw", 1).unwrap().key, Some("k"));
    assert_eq!(parse_line(&f, "k\tv\tw", 1).unwrap().value, Some("v\tw"));
    assert_eq!(parse_line(&f, "\tv", 1).unwrap().key, Some(""), "an empty key is not null");
    let e = parse_line(&f, "novalue", 7).unwrap_err().to_string();
    assert_eq!(e, "No key separator found on line number 7: 'novalue'");
    let f = format(&[("parse.key", "true"), ("key.separator", "::")]).unwrap();
    let p = parse_line(&f, "a::b::c", 1).unwrap();
    assert_eq!((p.key, p.value), (Some("a"), Some("b::c")));
    let f = format(&[("parse.key", "yes")]).unwrap();
    assert!(!f.parse_key, "only 'true' enables, as Java's equalsIgnoreCase(\"true\")");
}

#[test]
fn headers_come_first() {
    let f = format(&[("parse.key", "true"), ("parse.headers", "true")]).unwrap();
    let p = parse_line(&f, "h1:v1,h2:v2\tkey\tvalue", 1).unwrap();
    assert_eq!(p.headers, vec![("h1", Some("v1")), ("h2", Some("v2"))]);
    assert_eq!((p.key, p.value), (Some("key"), Some("value")));
    // Header values may contain the key separator after the first one.
    let p = parse_line(&f, "h:a:b\tk\tv", 1).unwrap();
    assert_eq!(p.headers, vec![("h", Some("a:b"))]);
    let e = parse_line(&f, "nodelimiter", 3).unwrap_err().to_string();
    assert_eq!(e, "No headers delimiter found on line number 3: 'nodelimiter'");
    let e = parse_line(&f, "h1\tk\tv", 4).unwrap_err().to_string();
    assert_eq!(e, "No header key separator found in pair 'h1' on line number 4");
    // Trailing empty pairs are dropped, as Java's Pattern.split does.
    let p = parse_line(&f, "a:1,,\tk\tv", 1).unwrap();
    assert_eq!(p.headers, vec![("a", Some("1"))]);
}

#[test]
fn custom_header_separators() {
    let f = format(&[
        ("parse.headers", "true"),
        ("headers.delimiter", "|"),
        ("headers.separator", ";"),
        ("headers.key.separator", "="),
    ])
    .unwrap();
    let p = parse_line(&f, "a=1;b=2|the value", 1).unwrap();
    assert_eq!(p.headers, vec![("a", Some("1")), ("b", Some("2"))]);
    assert_eq!((p.key, p.value), (None, Some("the value")));
}

#[test]
fn null_marker_turns_fields_into_null() {
    let f = format(&[("parse.key", "true"), ("parse.headers", "true"), ("null.marker", "<null>")]).unwrap();
    let p = parse_line(&f, "h:<null>\t<null>\t<null>", 1).unwrap();
    assert_eq!(p, ParsedLine { key: None, value: None, headers: vec![("h", None)] });
    let p = parse_line(&f, "<null>\tk\tv", 1).unwrap();
    assert!(p.headers.is_empty(), "the whole header section equal to the marker means no headers");
    let e = parse_line(&f, "<null>:v\tk\tv", 1).unwrap_err().to_string();
    assert_eq!(e, "Header keys should not be equal to the null marker '<null>' as they can't be null");
    // Only an exact match is null.
    let p = parse_line(&f, "h:x<null>\tk<null>\t<null>x", 1).unwrap();
    assert_eq!((p.key, p.value, p.headers[0].1), (Some("k<null>"), Some("<null>x"), Some("x<null>")));
}

#[test]
fn ignore_error_keeps_going() {
    let f = format(&[("parse.key", "true"), ("parse.headers", "true"), ("ignore.error", "true")]).unwrap();
    let p = parse_line(&f, "just a value", 1).unwrap();
    assert_eq!(p, ParsedLine { key: None, value: Some("just a value"), headers: vec![] });
    let p = parse_line(&f, "h1,h2:x\tk\tv", 1).unwrap();
    assert_eq!(p.headers, vec![("h1", None), ("h2", Some("x"))]);
}

#[test]
fn colliding_separators_are_rejected_like_java() {
    let e = |p: &[(&str, &str)]| format(p).unwrap_err().to_string();
    assert_eq!(e(&[("headers.separator", "\t")]), "headers.delimiter and headers.separator may not be equal");
    assert_eq!(e(&[("headers.key.separator", "\t")]), "headers.delimiter and headers.key.separator may not be equal");
    assert_eq!(e(&[("headers.key.separator", ",")]), "headers.separator and headers.key.separator may not be equal");
    assert_eq!(e(&[("null.marker", "\t")]), "null.marker and key.separator may not be equal");
    assert_eq!(e(&[("null.marker", ",")]), "null.marker and headers.separator may not be equal");
    assert_eq!(e(&[("null.marker", ":")]), "null.marker and headers.key.separator may not be equal");
    assert_eq!(
        e(&[("null.marker", "|"), ("headers.delimiter", "|")]),
        "null.marker and headers.delimiter may not be equal"
    );
}

#[test]
fn reader_properties_from_options() {
    let a = args(&[
        "--topic",
        "t",
        "--bootstrap-server",
        "h:1",
        "--property",
        "parse.key=true",
        "--property",
        "key.separator==",
    ]);
    let f = line_format(&a).unwrap();
    assert!(f.parse_key);
    assert_eq!(f.key_separator, "=", "split at the first '='");
    let a = args(&["--topic", "t", "--reader-property", "parse.headers=true", "--property", "parse.key=true"]);
    assert!(line_format(&a).unwrap_err().to_string().contains("cannot be specified together"));
    let a = args(&["--topic", "t", "--line-reader", "com.example.Reader"]);
    assert!(line_format(&a).unwrap_err().to_string().contains("com.example.Reader"));
    let a = args(&["--topic", "t", "--property", "oops"]);
    assert!(line_format(&a).unwrap_err().to_string().contains("oops"));
}

#[test]
fn producer_properties_follow_java() {
    let c = producer_config(&args(&["--topic", "t", "--bootstrap-server", "h:1"])).unwrap();
    assert_eq!(c.bootstrap_servers, ["h:1"]);
    assert_eq!(c.client_id, "console-producer");
    assert_eq!(c.compression_type, "none");
    assert_eq!(c.linger, Duration::from_millis(1000));
    assert_eq!(c.request_timeout, Duration::from_millis(1500));
    assert_eq!(c.retries, 3);
    assert_eq!(c.acks, crate::producer::Acks::All);
    assert_eq!(c.batch_size, 16384);
    assert_eq!(c.send_buffer_bytes, 102400);

    // Given without a value: gzip.
    let c = producer_config(&args(&["--topic", "t", "--bootstrap-server", "h:1", "--compression-codec"])).unwrap();
    assert_eq!(c.compression_type, "gzip");
    let c =
        producer_config(&args(&["--compression-codec", "zstd", "--topic", "t", "--bootstrap-server", "h:1"])).unwrap();
    assert_eq!(c.compression_type, "zstd");

    // A property wins over an option's default, an explicit option wins over the property.
    let c = producer_config(&args(&[
        "--topic",
        "t",
        "--bootstrap-server",
        "h:1",
        "--producer-property",
        "linger.ms=7",
        "--producer-property",
        "acks=0",
        "--request-required-acks",
        "1",
        "--producer-property",
        "client.id=mine",
    ]))
    .unwrap();
    assert_eq!(c.linger, Duration::from_millis(7));
    assert_eq!(c.acks, crate::producer::Acks::One);
    assert_eq!(c.client_id, "mine");
    let c = producer_config(&args(&[
        "--topic",
        "t",
        "--bootstrap-server",
        "h:1",
        "--batch-size",
        "1000",
        "--max-partition-memory-bytes",
        "2000",
    ]))
    .unwrap();
    assert_eq!(c.batch_size, 2000, "max-partition-memory-bytes replaces --batch-size, as Java");

    let e = producer_config(&args(&["--topic", "t", "--bootstrap-server", "h:1", "--command-property", "lnger.ms=1"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lnger.ms"), "{e}");
    let e = producer_config(&args(&["--topic", "t"])).unwrap_err().to_string();
    assert!(e.contains("bootstrap-server"), "{e}");
    let e = producer_config(&args(&["--topic", "t", "--bootstrap-server", "h:1", "--compression-codec", "brotli"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--compression-codec") && e.contains("brotli"), "{e}");
}
