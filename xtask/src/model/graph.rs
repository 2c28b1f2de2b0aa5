//! The dependency graph, derived from references alone.

use super::Resource;

/// Resource ids in dependency order (dependencies first). On a cycle, returns its ids with the
/// first repeated at the end.
pub fn topo_order(resources: &[Resource]) -> Result<Vec<String>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: usize,
        resources: &[Resource],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        out: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let start = stack.iter().position(|&s| s == i).unwrap_or(0);
                let mut cycle: Vec<String> =
                    stack[start..].iter().map(|&s| resources[s].id.clone()).collect();
                cycle.push(resources[i].id.clone());
                return Err(cycle);
            }
            Mark::New => {}
        }
        marks[i] = Mark::Active;
        stack.push(i);
        for dep in resources[i].dependencies() {
            if let Some(j) = resources.iter().position(|r| r.id == dep) {
                visit(j, resources, marks, stack, out)?;
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
        out.push(resources[i].id.clone());
        Ok(())
    }
    let mut marks = vec![Mark::New; resources.len()];
    let mut out = Vec::new();
    for i in 0..resources.len() {
        visit(i, resources, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}
