//! Scraping `/metrics`: a strict parser of Prometheus' text exposition format (0.0.4) and
//! look-ups by name and labels. Strict: a line that is not a well-formed comment or sample, a
//! sample of a family with no `# TYPE`, a family declared twice, duplicate series, a label value
//! with a bad escape, a histogram whose buckets decrease or whose `+Inf` bucket differs from its
//! `_count`: each fails the test, naming the line.

use std::collections::{BTreeMap, HashMap, HashSet};

/// A series' labels but `le`, in order.
type Labels = Vec<(String, String)>;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// Family name → type (`counter`, `gauge`, `histogram`, `summary`, `untyped`).
    pub types: HashMap<String, String>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}")),
    }
}

/// `{a="x",b="y"}` (the braces already removed) → labels.
fn parse_labels(mut text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (name, rest) = text
            .split_once("=\"")
            .ok_or_else(|| format!("label without =\" in {text:?}"))?;
        if !valid_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {name}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label {name}")),
                },
                Some((_, '\n')) => return Err(format!("raw newline in label {name}")),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} given twice"));
        }
        text = &rest[end + 1..];
        text = match text.strip_prefix(',') {
            Some(rest) => rest,
            None if text.is_empty() => text,
            None => return Err(format!("expected , or }} after label {name}, got {text:?}")),
        };
    }
    Ok(labels)
}

/// The family a sample belongs to: `x_bucket`/`x_sum`/`x_count` of a histogram `x`, ...
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            ) {
                return base;
            }
        }
    }
    name
}

impl Scrape {
    /// Parses `text` strictly; the error names the offending line.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut scrape = Scrape::default();
        let mut helped = HashSet::new();
        let mut series = HashSet::new();
        for (number, line) in text.lines().enumerate() {
            let fail = |problem: String| format!("line {}: {problem}: {line:?}", number + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.trim_start().splitn(3, ' ');
                match words.next() {
                    Some("HELP") => {
                        let name = words
                            .next()
                            .ok_or_else(|| fail("HELP without a name".into()))?;
                        if !valid_name(name) || !helped.insert(name.to_owned()) {
                            return Err(fail("bad or repeated HELP".into()));
                        }
                    }
                    Some("TYPE") => {
                        let name = words
                            .next()
                            .ok_or_else(|| fail("TYPE without a name".into()))?;
                        let kind = words.next().unwrap_or_default();
                        if !valid_name(name)
                            || !["counter", "gauge", "histogram", "summary", "untyped"]
                                .contains(&kind)
                        {
                            return Err(fail("bad TYPE".into()));
                        }
                        if scrape
                            .samples
                            .iter()
                            .any(|s| family_of(&s.name, &scrape.types) == name)
                            || scrape
                                .types
                                .insert(name.to_owned(), kind.to_owned())
                                .is_some()
                        {
                            return Err(fail("TYPE repeated or after its samples".into()));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let (series_text, value_text) = match line.find('{') {
                Some(_) => {
                    let close = line.rfind('}').ok_or_else(|| fail("{ without }".into()))?;
                    (&line[..=close], line[close + 1..].trim_start())
                }
                None => line
                    .split_once(' ')
                    .ok_or_else(|| fail("no value".into()))?,
            };
            let (name, labels) = match series_text.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest
                        .strip_suffix('}')
                        .ok_or_else(|| fail("bad labels".into()))?;
                    (name, parse_labels(inner).map_err(fail)?)
                }
                None => (series_text, BTreeMap::new()),
            };
            if !valid_name(name) {
                return Err(fail("bad metric name".into()));
            }
            // A value, optionally followed by a timestamp in milliseconds.
            let mut parts = value_text.split(' ');
            let value = parse_value(parts.next().unwrap_or_default()).map_err(fail)?;
            if let Some(timestamp) = parts.next() {
                timestamp
                    .parse::<i64>()
                    .map_err(|_| fail("bad timestamp".into()))?;
            }
            if parts.next().is_some() {
                return Err(fail("trailing text".into()));
            }
            let family = family_of(name, &scrape.types);
            if !scrape.types.contains_key(family) {
                return Err(fail(format!("sample of {family} before its # TYPE")));
            }
            if !series.insert(format!("{name}{labels:?}")) {
                return Err(fail("duplicate series".into()));
            }
            scrape.samples.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
        scrape.check_histograms()?;
        Ok(scrape)
    }

    /// Each histogram series: cumulative buckets never decrease, and `+Inf` equals `_count`.
    fn check_histograms(&self) -> Result<(), String> {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut buckets: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for sample in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{family}_bucket"))
            {
                let mut labels = sample.labels.clone();
                let le = labels
                    .remove("le")
                    .ok_or_else(|| format!("{family}_bucket without le"))?;
                let le = parse_value(&le)?;
                buckets
                    .entry(labels.into_iter().collect())
                    .or_default()
                    .push((le, sample.value));
            }
            for (labels, mut series) in buckets {
                series.sort_by(|a, b| a.0.total_cmp(&b.0));
                if series.windows(2).any(|w| w[1].1 < w[0].1) {
                    return Err(format!("{family}{labels:?}: buckets decrease"));
                }
                let inf = series.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
                let labels: BTreeMap<String, String> = labels.into_iter().collect();
                let count = self.get(&format!("{family}_count"), &labels);
                if inf != count {
                    return Err(format!(
                        "{family}{labels:?}: +Inf bucket {inf:?} but _count {count:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The sample with exactly these labels, if present.
    pub fn get(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && &s.labels == labels)
            .map(|s| s.value)
    }

    /// The sample with exactly these labels; a series not yet created counts 0.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, &to_labels(labels)).unwrap_or(0.0)
    }

    /// The sum over every series of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Whether any sample of `family` (or its `_bucket`/`_sum`/`_count`) is present.
    pub fn has_family(&self, family: &str) -> bool {
        self.types.contains_key(family)
            && self
                .samples
                .iter()
                .any(|s| family_of(&s.name, &self.types) == family)
    }

    /// Every family name with a `# TYPE`.
    pub fn families(&self) -> Vec<String> {
        let mut names: Vec<String> = self.types.keys().cloned().collect();
        names.sort();
        names
    }
}

pub fn to_labels(labels: &[(&str, &str)]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// GETs `url` (a `/metrics`), checks the content type and parses the answer strictly.
pub async fn scrape(url: &str) -> Scrape {
    let response = crate::client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status(), 200, "GET {url}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "GET {url}: content type {content_type:?}"
    );
    let text = response.text().await.expect("metrics body");
    Scrape::parse(&text).unwrap_or_else(|e| panic!("GET {url}: not Prometheus text: {e}\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_well_formed_exposition() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\\\\\\n\"} 3\n\
                    # TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n";
        let scrape = Scrape::parse(text).unwrap();
        assert_eq!(
            scrape.value("a_total", &[("x", "1"), ("y", "q\"\\\n")]),
            3.0
        );
        assert_eq!(scrape.value("h_count", &[]), 2.0);
    }

    #[test]
    fn refuses_what_is_not_prometheus_text() {
        for bad in [
            "a 1\n",                              // no TYPE
            "# TYPE a counter\na{x=1} 1\n",       // unquoted label value
            "# TYPE a counter\na 1 2 3\n",        // trailing text
            "# TYPE a counter\na one\n",          // not a number
            "# TYPE a counter\na 1\na 2\n",       // duplicate series
            "# TYPE a counter\n# TYPE a gauge\n", // repeated TYPE
            "# TYPE a counter\na{x=\"\\t\"} 1\n", // bad escape
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
        ] {
            assert!(Scrape::parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
