//! `status`: what exists of the selection, with its outputs; a table on stdout. Read-only.

use anyhow::Result;

use super::session::Online;
use super::Exit;
use crate::events::{self, Calls, Event, Summary};
use crate::output::Format;

pub async fn run(run: &Online<'_>) -> Result<Exit> {
    let out = run.out;
    let mut rows = Vec::new();
    let (mut deployed, mut missing, mut failed) = (0, 0, 0);
    for (stack, id, kind, name, state) in run.observed().await {
        let mut event = events::Found {
            stack: stack.clone(),
            id: id.clone(),
            kind: kind.clone(),
            physical_name: name.clone(),
            exists: None,
            outputs: None,
            error: None,
        };
        let word = match &state {
            Ok(Some(outputs)) => {
                deployed += 1;
                event.exists = Some(true);
                event.outputs = Some(outputs.clone());
                "deployed".to_string()
            }
            Ok(None) => {
                missing += 1;
                event.exists = Some(false);
                "not deployed".to_string()
            }
            Err(e) => {
                failed += 1;
                event.error = Some(e.clone());
                format!("error: {e}")
            }
        };
        out.event(Event::Found(event));
        let name =
            if name.is_empty() { "(named once its parent exists)".to_string() } else { name };
        rows.push(([format!("{stack}/{id}"), kind, name, word], state.ok().flatten()));
    }
    // A table on stdout (so that `status | grep` and `status 2>/dev/null` work), totals last.
    if out.format == Format::Human {
        let mut widths = [8, 4, 4, 5];
        for (cells, _) in &rows {
            for (w, c) in widths.iter_mut().zip(cells) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String; 4]| {
            format!(
                "{:<a$}  {:<b$}  {:<c$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                a = widths[0],
                b = widths[1],
                c = widths[2]
            )
            .trim_end()
            .to_string()
        };
        println!("{}", line(&["RESOURCE", "KIND", "NAME", "STATE"].map(String::from)));
        for (cells, outputs) in &rows {
            println!("{}", line(cells));
            if let (true, Some(outputs)) = (out.verbose, outputs) {
                for (k, v) in outputs.iter() {
                    let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    println!("    {k}: {v}");
                }
            }
        }
        println!(
            "{} resources: {deployed} deployed, {missing} not deployed, {failed} failed{}",
            rows.len(),
            if out.verbose { "" } else { " (-v shows their outputs)" }
        );
    }
    let ok = failed == 0;
    out.event(Event::Summary(Summary::Status {
        command: "status",
        ok,
        api_calls: Calls::of(run.clients.calls.snapshot()),
    }));
    Ok(if ok { Exit::Ok } else { Exit::Failed })
}
