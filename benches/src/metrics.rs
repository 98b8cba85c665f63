//! Results of a run: a child process prints one `@metric <name> <value>` line per
//! figure on stdout; the parent collects them per workload and engine and reports the
//! median over rounds.

use std::collections::BTreeMap;

use crate::engines::EngineKind;

/// Start of a metric line on a child's stdout.
pub const METRIC_PREFIX: &str = "@metric ";

/// The line a child prints for one figure. Names contain no whitespace.
pub fn format_metric(name: &str, value: f64) -> String {
    assert!(
        !name.is_empty() && !name.contains(char::is_whitespace),
        "metric name {name:?} must be one non-empty word"
    );
    format!("{METRIC_PREFIX}{name} {value}")
}

/// Parses a line printed by [`format_metric`]; other lines give `None`.
pub fn parse_metric(line: &str) -> Option<(String, f64)> {
    let rest = line.strip_prefix(METRIC_PREFIX)?;
    let (name, value) = rest.split_once(' ')?;
    Some((name.to_string(), value.trim().parse().ok()?))
}

/// Median of `values` (mean of the middle two for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// Every figure of a run, by workload, metric and engine, in first-seen order.
#[derive(Debug, Default)]
pub struct Results {
    rows: Vec<(String, String)>,
    values: BTreeMap<(String, String), BTreeMap<EngineKind, Vec<f64>>>,
}

impl Results {
    pub fn record(&mut self, workload: &str, engine: EngineKind, metric: &str, value: f64) {
        let row = (workload.to_string(), metric.to_string());
        if !self.values.contains_key(&row) {
            self.rows.push(row.clone());
        }
        self.values
            .entry(row)
            .or_default()
            .entry(engine)
            .or_default()
            .push(value);
    }

    /// Median over rounds of one figure.
    pub fn get(&self, workload: &str, engine: EngineKind, metric: &str) -> Option<f64> {
        let row = (workload.to_string(), metric.to_string());
        median(self.values.get(&row)?.get(&engine)?)
    }

    /// Every value recorded for one figure, one per round.
    pub fn all(&self, workload: &str, engine: EngineKind, metric: &str) -> &[f64] {
        let row = (workload.to_string(), metric.to_string());
        self.values
            .get(&row)
            .and_then(|by_engine| by_engine.get(&engine))
            .map_or(&[], Vec::as_slice)
    }

    /// (workload, metric) pairs in the order they were first recorded.
    pub fn rows(&self) -> &[(String, String)] {
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_round_trip() {
        let line = format_metric("fillrandom_ops_per_s", 123456.5);
        assert_eq!(
            parse_metric(&line),
            Some(("fillrandom_ops_per_s".to_string(), 123456.5))
        );
        assert_eq!(parse_metric("progress: 50%"), None);
        assert_eq!(parse_metric("@metric broken"), None);
        assert_eq!(parse_metric("@metric x notanumber"), None);
    }

    #[test]
    #[should_panic(expected = "one non-empty word")]
    fn metric_names_with_spaces_are_refused() {
        format_metric("two words", 1.0);
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn results_keep_first_seen_order_and_take_medians() {
        let mut results = Results::default();
        results.record("random", EngineKind::Strata, "fillrandom", 10.0);
        results.record("random", EngineKind::Fjall, "fillrandom", 8.0);
        results.record("random", EngineKind::Strata, "readrandom", 5.0);
        results.record("random", EngineKind::Strata, "fillrandom", 30.0);
        results.record("random", EngineKind::Strata, "fillrandom", 20.0);
        assert_eq!(
            results.rows(),
            &[
                ("random".to_string(), "fillrandom".to_string()),
                ("random".to_string(), "readrandom".to_string()),
            ]
        );
        assert_eq!(
            results.get("random", EngineKind::Strata, "fillrandom"),
            Some(20.0)
        );
        assert_eq!(
            results.get("random", EngineKind::Fjall, "fillrandom"),
            Some(8.0)
        );
        assert_eq!(results.get("random", EngineKind::Fjall, "readrandom"), None);
        assert_eq!(
            results.all("random", EngineKind::Strata, "fillrandom"),
            &[10.0, 30.0, 20.0]
        );
    }
}
