//! Sweeps: any top-level workload field or any `producer:` property written as a YAML list becomes a dimension.
//!
//! [`expand`] takes the cartesian product of all list-valued dimensions in a stable order: dimensions in file
//! order (top-level fields first, then producer properties), the first dimension varying slowest, like nested
//! loops. A `sweep:` section refines this:
//!
//! ```yaml
//! sweep:
//!   zip: {batch.size: [16384, 65536], linger.ms: [0, 5]}   # move together: one dimension of 2 points
//!   repeat: 3            # run every point 3 times (rounds: all points, then all points again)
//!   shuffle: true        # random order inside each round, seeded by the workload `seed`
//!   name_template: "bs=${batch.size}-linger=${linger.ms}"
//! ```
//!
//! Repeats are run as rounds rather than back to back so slow drift (thermal, page cache) spreads over all points
//! instead of biasing one; they keep the point's name (the repeat index is separate) so reports can group them.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

/// Largest number of points (repeats included) one file may expand to.
pub const POINTS_MAX: usize = 10_000;

/// The `sweep:` section of a workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Dimensions whose values move together (all lists of equal length).
    #[serde(default)]
    pub zip: Mapping,
    #[serde(default)]
    pub repeat: Option<u32>,
    #[serde(default)]
    pub shuffle: bool,
    #[serde(default)]
    pub name_template: Option<String>,
}

/// Errors in a sweep definition; each names the dimensions or variable at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    #[error("zip dimensions must have equal lengths: {0}")]
    ZipLengths(String),
    #[error("zip dimension `{0}` must be a non-empty list")]
    ZipNotList(String),
    #[error("dimension `{0}` is given both in `sweep.zip` and as a list")]
    Duplicate(String),
    #[error("dimension `{0}` is an empty list")]
    Empty(String),
    #[error("name_template uses `${{{0}}}`, which is not a swept dimension")]
    UnknownVar(String),
    #[error("name_template has an unclosed `${{`")]
    Unclosed,
    #[error("the sweep expands to {0} points, more than {POINTS_MAX}")]
    TooMany(usize),
    #[error("`repeat` must be at least 1")]
    ZeroRepeat,
}

/// One expanded point: a document with every list replaced by one value.
#[derive(Debug, Clone, PartialEq)]
pub struct RawPoint {
    pub name: String,
    pub dims: Vec<(String, String)>,
    pub repeat: u32,
    pub doc: Mapping,
}

/// Where a dimension's value lives in the document.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Top,
    Producer,
}

struct Dim {
    name: String,
    place: Place,
    values: Vec<Value>,
}

/// Renders a value for a point name: scalars plainly, structures compactly (`{fixed:100}`).
pub fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => serde_json::to_string(other).unwrap_or_default().replace('"', ""),
    }
}

fn collect_dims(doc: &Mapping) -> Vec<Dim> {
    let mut dims = Vec::new();
    for (k, v) in doc {
        let Some(name) = k.as_str() else { continue };
        if name == "producer" {
            continue;
        }
        if let Value::Sequence(values) = v {
            dims.push(Dim { name: name.to_string(), place: Place::Top, values: values.clone() });
        }
    }
    if let Some(Value::Mapping(props)) = doc.get("producer") {
        for (k, v) in props {
            if let (Some(name), Value::Sequence(values)) = (k.as_str(), v) {
                dims.push(Dim { name: name.to_string(), place: Place::Producer, values: values.clone() });
            }
        }
    }
    dims
}

fn set(doc: &mut Mapping, dim: &Dim, v: &Value) {
    let key = Value::String(dim.name.clone());
    match dim.place {
        Place::Top => {
            doc.insert(key, v.clone());
        }
        Place::Producer => {
            let p = doc.entry(Value::String("producer".into())).or_insert_with(|| Value::Mapping(Mapping::new()));
            if !p.is_mapping() {
                *p = Value::Mapping(Mapping::new());
            }
            if let Some(m) = p.as_mapping_mut() {
                m.insert(key, v.clone());
            }
        }
    }
}

/// Expands `doc` (the workload without its `sweep:` section) into points. `is_field` tells workload fields from
/// producer properties for zip dimensions. A document without lists gives exactly one point named `""`.
pub fn expand(
    doc: &Mapping,
    spec: &SweepSpec,
    seed: u64,
    is_field: fn(&str) -> bool,
) -> Result<Vec<RawPoint>, SweepError> {
    let grid = collect_dims(doc);
    if let Some(d) = grid.iter().find(|d| d.values.is_empty()) {
        return Err(SweepError::Empty(d.name.clone()));
    }
    let mut zip = Vec::new();
    for (k, v) in &spec.zip {
        let name = value_label(k);
        let Value::Sequence(values) = v else { return Err(SweepError::ZipNotList(name)) };
        if values.is_empty() {
            return Err(SweepError::ZipNotList(name));
        }
        if grid.iter().any(|d| d.name == name) {
            return Err(SweepError::Duplicate(name));
        }
        let place = if is_field(&name) { Place::Top } else { Place::Producer };
        zip.push(Dim { name, place, values: values.clone() });
    }
    if let Some(first) = zip.first()
        && zip.iter().any(|d| d.values.len() != first.values.len())
    {
        let lens: Vec<String> = zip.iter().map(|d| format!("{}={}", d.name, d.values.len())).collect();
        return Err(SweepError::ZipLengths(lens.join(", ")));
    }
    let repeat = spec.repeat.unwrap_or(1);
    if repeat == 0 {
        return Err(SweepError::ZeroRepeat);
    }
    // Axis sizes: each grid dim, then the zip group as one axis.
    let mut axes: Vec<usize> = grid.iter().map(|d| d.values.len()).collect();
    if let Some(z) = zip.first() {
        axes.push(z.values.len());
    }
    let count = axes.iter().try_fold(1usize, |a, &n| a.checked_mul(n)).unwrap_or(usize::MAX);
    let total = count.saturating_mul(repeat as usize);
    if total > POINTS_MAX {
        return Err(SweepError::TooMany(total));
    }
    let all_names: Vec<&str> = grid.iter().chain(zip.iter()).map(|d| d.name.as_str()).collect();
    if let Some(t) = &spec.name_template {
        check_template(t, &all_names)?;
    }

    let mut base = Vec::with_capacity(count);
    for index in 0..count {
        // Mixed-radix decomposition, last axis fastest.
        let mut idx = vec![0usize; axes.len()];
        let mut rest = index;
        for (slot, n) in idx.iter_mut().zip(&axes).rev() {
            *slot = rest % n;
            rest /= n;
        }
        let mut point_doc = doc.clone();
        let mut dims = Vec::new();
        for (d, &i) in grid.iter().zip(&idx) {
            set(&mut point_doc, d, &d.values[i]);
            dims.push((d.name.clone(), value_label(&d.values[i])));
        }
        if let Some(&zi) = idx.get(grid.len()) {
            for d in &zip {
                set(&mut point_doc, d, &d.values[zi]);
                dims.push((d.name.clone(), value_label(&d.values[zi])));
            }
        }
        let name = match &spec.name_template {
            Some(t) => render_template(t, &dims)?,
            None => dims.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("-"),
        };
        base.push(RawPoint { name, dims, repeat: 0, doc: point_doc });
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(total);
    for r in 0..repeat {
        let mut round: Vec<RawPoint> = base
            .iter()
            .cloned()
            .map(|mut p| {
                p.repeat = r;
                p
            })
            .collect();
        if spec.shuffle {
            round.shuffle(&mut rng);
        }
        out.extend(round);
    }
    Ok(out)
}

fn check_template(t: &str, names: &[&str]) -> Result<(), SweepError> {
    let mut rest = t;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(SweepError::Unclosed)?;
        let var = &after[..end];
        if !names.contains(&var) {
            return Err(SweepError::UnknownVar(var.to_string()));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// Replaces each `${dim}` with the point's value of `dim`.
pub fn render_template(t: &str, dims: &[(String, String)]) -> Result<String, SweepError> {
    let mut out = String::with_capacity(t.len() + 16);
    let mut rest = t;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(SweepError::Unclosed)?;
        let var = &after[..end];
        let (_, v) = dims.iter().find(|(k, _)| k == var).ok_or_else(|| SweepError::UnknownVar(var.to_string()))?;
        out.push_str(v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Mapping {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn field(n: &str) -> bool {
        matches!(n, "rate" | "record_size" | "duration_s")
    }

    #[test]
    fn grid_count_and_order_first_dim_slowest() {
        let d = doc("rate: [1, 2]\nproducer: {batch.size: [16, 64, 256], acks: all}\n");
        let p = expand(&d, &SweepSpec::default(), 0, field).unwrap();
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "rate=1-batch.size=16",
                "rate=1-batch.size=64",
                "rate=1-batch.size=256",
                "rate=2-batch.size=16",
                "rate=2-batch.size=64",
                "rate=2-batch.size=256"
            ]
        );
        // The list was replaced by one scalar, and the non-swept property kept.
        let prod = p[4].doc.get("producer").unwrap().as_mapping().unwrap();
        assert_eq!(prod.get("batch.size").unwrap().as_u64(), Some(64));
        assert_eq!(prod.get("acks").unwrap().as_str(), Some("all"));
        assert_eq!(p[4].doc.get("rate").unwrap().as_u64(), Some(2));
    }

    #[test]
    fn no_lists_gives_one_unnamed_point() {
        let p = expand(&doc("rate: 5\n"), &SweepSpec::default(), 0, field).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "");
        assert!(p[0].dims.is_empty());
    }

    #[test]
    fn zip_moves_together_and_checks_lengths() {
        let spec: SweepSpec = serde_yaml_ng::from_str("zip: {batch.size: [1, 2], rate: [10, 20]}").unwrap();
        let p = expand(&doc("producer: {linger.ms: [0, 5]}\n"), &spec, 0, field).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[1].name, "linger.ms=0-batch.size=2-rate=20");
        assert_eq!(p[1].doc.get("rate").unwrap().as_u64(), Some(20));
        let bs = p[1].doc.get("producer").unwrap().get("batch.size").unwrap().as_u64();
        assert_eq!(bs, Some(2));
        let bad: SweepSpec = serde_yaml_ng::from_str("zip: {batch.size: [1, 2], rate: [10]}").unwrap();
        let e = expand(&Mapping::new(), &bad, 0, field).unwrap_err();
        assert_eq!(e, SweepError::ZipLengths("batch.size=2, rate=1".into()));
        assert!(e.to_string().contains("batch.size") && e.to_string().contains("rate"));
    }

    #[test]
    fn naming_template_and_unknown_var() {
        let spec: SweepSpec = serde_yaml_ng::from_str("name_template: 'bs=${batch.size}-${compression.type}'").unwrap();
        let d = doc("producer: {batch.size: [16384], compression.type: [lz4, zstd]}\n");
        let p = expand(&d, &spec, 0, field).unwrap();
        assert_eq!(p[1].name, "bs=16384-zstd");
        let spec: SweepSpec = serde_yaml_ng::from_str("name_template: 'x=${linger.ms}'").unwrap();
        let e = expand(&d, &spec, 0, field).unwrap_err();
        assert_eq!(e, SweepError::UnknownVar("linger.ms".into()));
        assert!(e.to_string().contains("linger.ms"));
    }

    #[test]
    fn structured_values_get_compact_labels() {
        let p =
            expand(&doc("record_size: [{fixed: 100}, {uniform: {min: 1, max: 9}}]\n"), &SweepSpec::default(), 0, field)
                .unwrap();
        assert_eq!(p[0].name, "record_size={fixed:100}");
        assert_eq!(p[1].name, "record_size={uniform:{min:1,max:9}}");
    }

    #[test]
    fn repeat_rounds_and_seeded_shuffle() {
        let d = doc("producer: {linger.ms: [0, 1, 2, 3, 4, 5, 6, 7]}\n");
        let spec: SweepSpec = serde_yaml_ng::from_str("repeat: 3").unwrap();
        let p = expand(&d, &spec, 0, field).unwrap();
        assert_eq!(p.len(), 24);
        assert_eq!((p[8].name.as_str(), p[8].repeat), ("linger.ms=0", 1));
        let spec: SweepSpec = serde_yaml_ng::from_str("repeat: 2\nshuffle: true").unwrap();
        let a = expand(&d, &spec, 7, field).unwrap();
        let b = expand(&d, &spec, 7, field).unwrap();
        let c = expand(&d, &spec, 8, field).unwrap();
        let names = |v: &[RawPoint]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b), "same seed, same order");
        assert_ne!(names(&a), names(&c), "another seed, another order");
        let mut round0 = names(&a[..8]);
        round0.sort();
        let mut plain = names(&p[..8]);
        plain.sort();
        assert_eq!(round0, plain, "each round holds every point once");
        assert!(a[..8].iter().all(|p| p.repeat == 0) && a[8..].iter().all(|p| p.repeat == 1));
    }

    #[test]
    fn limits_and_empty_lists() {
        let d = doc("producer: {a: [1,2,3,4,5,6,7,8,9,10], b: [1,2,3,4,5,6,7,8,9,10], c: [1,2,3,4,5,6,7,8,9,10]}");
        let spec: SweepSpec = serde_yaml_ng::from_str("repeat: 11").unwrap();
        assert_eq!(expand(&d, &spec, 0, field).unwrap_err(), SweepError::TooMany(11_000));
        assert_eq!(
            expand(&doc("rate: []"), &SweepSpec::default(), 0, field).unwrap_err(),
            SweepError::Empty("rate".into())
        );
    }
}
