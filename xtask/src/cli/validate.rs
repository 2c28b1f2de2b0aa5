//! `validate`: the stack files and what they name on disk, checked without any API call (the
//! checks themselves ran when the stacks were loaded).

use anyhow::Result;

use super::session::Ctx;
use super::Exit;
use crate::events::Event;

pub fn run(cx: &Ctx<'_>) -> Result<Exit> {
    for s in cx.stacks() {
        cx.out.say(&format!(
            "✓ {}: tutorial {} `{}`, {} ({} resources) is valid",
            s.file.display(),
            s.tutorial,
            s.name,
            s.description,
            s.resources.len()
        ));
        cx.out.event(Event::Stack {
            stack: s.name.clone(),
            file: s.file.clone(),
            resources: s.resources.len(),
            valid: true,
        });
    }
    Ok(Exit::Ok)
}
