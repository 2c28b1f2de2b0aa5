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
        // On a terminal the table fits its width: long names are shortened in the middle
        // (the JSON output and a piped table keep them whole).
        if let Some((_, cols)) = console::Term::stdout().size_checked() {
            fit_names(&mut rows, usize::from(cols));
        }
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

/// Shortens the NAME cells of `rows` so that a line fits `cols` columns (a name keeps at least
/// 16 characters: its start and its end, which tell names apart).
fn fit_names<T>(rows: &mut [([String; 4], T)], cols: usize) {
    let widest = |i: usize| rows.iter().map(|(c, _)| c[i].chars().count()).max().unwrap_or(0);
    // The state column counts only up to "not deployed"; an error runs on past the edge.
    let state = widest(3).min("not deployed".len());
    let room = cols.saturating_sub(widest(0).max(8) + widest(1).max(4) + state + 6).max(16);
    for (cells, _) in rows.iter_mut() {
        cells[2] = middle_ellipsis(&cells[2], room);
    }
}

/// `s` in at most `width` characters: its start, `…`, its end.
fn middle_ellipsis(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width || width < 3 {
        return s.to_string();
    }
    let head = (width - 1) / 2;
    let tail = width - 1 - head;
    let chars: Vec<char> = s.chars().collect();
    format!(
        "{}…{}",
        chars[..head].iter().collect::<String>(),
        chars[n - tail..].iter().collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_table_fits_the_terminal() {
        let long = "agentcore-mt-pr-1234-t1-documents-123456789012-us-east-1-abcdef".to_string();
        let mut rows = vec![(
            [
                "unstructured-rag/documents".to_string(),
                "s3.bucket".into(),
                long.clone(),
                "deployed".into(),
            ],
            (),
        )];
        super::fit_names(&mut rows, 80);
        let name = &rows[0].0[2];
        let line = 26 + 2 + 9 + 2 + name.chars().count() + 2 + 8;
        assert!(line <= 80, "{line}: {name}");
        assert!(name.starts_with("agentcore-mt-pr") && name.ends_with("-abcdef"), "{name}");
        assert!(name.contains('…'));
        // Wide enough: nothing changes.
        super::fit_names(&mut rows, 400);
        let mut whole = vec![(["a".to_string(), "b".into(), long.clone(), "c".into()], ())];
        super::fit_names(&mut whole, 400);
        assert_eq!(whole[0].0[2], long);
        assert_eq!(super::middle_ellipsis("abcdef", 5), "ab…ef");
    }
}
