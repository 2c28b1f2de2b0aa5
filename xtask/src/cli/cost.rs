//! `cost`: the idle monthly cost of what is deployed of the selection. Read-only.

use anyhow::Result;

use super::session::Online;
use super::Exit;
use crate::events::{Event, Prices, Summary};
use crate::output::Format;

pub async fn run(run: &Online<'_>) -> Result<Exit> {
    let out = run.out;
    let mut failed = 0;
    let mut deployed = Vec::new();
    for (stack, id, kind, name, state) in run.observed().await {
        match state {
            Ok(Some(_)) => deployed.push((stack, id, kind, name)),
            Ok(None) => {}
            Err(e) => {
                failed += 1;
                out.warn(&format!("✗ {stack}/{id} ({kind}): {e}"));
            }
        }
    }
    let table = crate::lifecycle::cost::table();
    let (lines, total) = crate::lifecycle::cost::estimate(&table, &deployed);
    if out.format == Format::Human && lines.is_empty() {
        println!("nothing of env `{}` is deployed: $0.00 per month", run.g.env);
    } else if out.format == Format::Human {
        let width = lines.iter().map(|l| l.stack.len() + l.id.len() + 1).max().unwrap_or(8).max(8);
        println!("{:<width$}  {:>9}  BASIS", "RESOURCE", "$/MONTH");
        for l in &lines {
            println!(
                "{:<width$}  {:>9.3}  {}",
                format!("{}/{}", l.stack, l.id),
                l.monthly_usd,
                l.basis
            );
        }
        println!(
            "{} deployed resources: ${total:.2} per month while idle ({} prices of {}; usage is billed on top)",
            lines.len(),
            table.region,
            table.checked
        );
    }
    let resources = lines.len();
    for l in lines {
        out.event(Event::Cost(l));
    }
    out.event(Event::Summary(Summary::Cost {
        command: "cost",
        env: run.g.env.clone(),
        target: run.g.target,
        ok: failed == 0,
        resources,
        monthly_usd: (total * 1000.0).round() / 1000.0,
        prices: Prices { region: table.region.clone(), checked: table.checked.clone() },
    }));
    Ok(if failed == 0 { Exit::Ok } else { Exit::Failed })
}
