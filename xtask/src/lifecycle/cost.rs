//! `cargo xtask cost`: what the deployed resources of an environment cost per month while idle,
//! from the committed price table `xtask/prices/idle-monthly.json` (each entry with its basis and
//! source page, the table with its region and date). Usage (tokens, ACU-hours, runtime seconds)
//! is not estimated: an idle environment has none.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Price {
    pub monthly: f64,
    pub basis: String,
    pub source: String,
}

#[derive(Debug, Deserialize)]
pub struct Table {
    pub region: String,
    pub checked: String,
    pub kinds: BTreeMap<String, Price>,
}

/// The committed table.
pub fn table() -> Table {
    serde_json::from_str(include_str!("../../prices/idle-monthly.json"))
        .expect("xtask/prices/idle-monthly.json is valid (a test reads it)")
}

/// One deployed resource's idle cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    pub stack: String,
    pub id: String,
    pub kind: String,
    pub physical_name: String,
    pub monthly_usd: f64,
    pub basis: String,
    pub source: String,
}

/// The idle cost of each `(stack, id, kind, physical name)` that is deployed, and the total
/// (rounded to cents only when shown).
pub fn estimate(table: &Table, deployed: &[(String, String, String, String)]) -> (Vec<Line>, f64) {
    let lines: Vec<Line> = deployed
        .iter()
        .map(|(stack, id, kind, name)| {
            let (monthly_usd, basis, source) = match table.kinds.get(kind) {
                Some(p) => (p.monthly, p.basis.clone(), p.source.clone()),
                None => (
                    0.0,
                    "no price in the table (a test keeps this from happening)".into(),
                    String::new(),
                ),
            };
            Line {
                stack: stack.clone(),
                id: id.clone(),
                kind: kind.clone(),
                physical_name: name.clone(),
                monthly_usd,
                basis,
                source,
            }
        })
        .collect();
    // A fold from 0.0: f64's `sum` starts at -0.0, which printed "$-0.00" for nothing.
    let total = lines.iter().map(|l| l.monthly_usd).fold(0.0, |a, b| a + b);
    (lines, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind has a price (zero only with its reason), and no price names a kind that
    /// does not exist.
    #[test]
    fn every_kind_has_a_price_with_its_reason() {
        let table = table();
        assert_eq!(table.region, "us-east-1");
        for info in crate::kinds::infos() {
            let price =
                table.kinds.get(info.kind).unwrap_or_else(|| panic!("{} has no price", info.kind));
            assert!(price.monthly >= 0.0, "{}", info.kind);
            assert!(price.basis.len() > 10, "{}: say why", info.kind);
            assert!(price.source.starts_with("https://aws.amazon.com/"), "{}", info.kind);
        }
        for kind in table.kinds.keys() {
            assert!(crate::kinds::entry(kind).is_some(), "{kind} is not a kind");
        }
    }

    /// Issue 28 item 11: an empty environment costs $0.00, not "$-0.00".
    #[test]
    fn nothing_costs_positive_zero() {
        let (lines, total) = estimate(&table(), &[]);
        assert!(lines.is_empty());
        assert_eq!(format!("{total:.2}"), "0.00");
    }

    #[test]
    fn the_total_is_the_sum_of_the_lines() {
        let table = table();
        let r = |id: &str, kind: &str| {
            ("s".to_string(), id.to_string(), kind.to_string(), id.to_string())
        };
        let (lines, total) = estimate(
            &table,
            &[
                r("a", "secretsmanager.generated_secret"),
                r("b", "secretsmanager.database_credentials"),
                r("c", "rds.cluster"),
                r("d", "rds.instance"),
                r("e", "cognito.user_pool"),
            ],
        );
        assert_eq!(lines.len(), 5);
        assert!((total - (0.40 + 0.40 + 0.50)).abs() < 1e-9, "{total}");
        assert_eq!(lines[3].monthly_usd, 0.0);
        assert!(lines[3].basis.contains("0 ACU"));
    }
}
