//! References between resources: `${<resource id>.<attribute>}` inside any string property, or
//! `${<stack name>.<resource id>.<attribute>}` for a resource of another stack (one that a later
//! tutorial builds on). A string that is exactly one reference takes the attribute's value as it
//! is (a list stays a list); references inside longer strings are interpolated.
//!
//! Where an environment's choices leave resources out (see `choices`), one reference may name
//! alternatives: `${claims_db_admin.secret_arn|claims_db.master_secret_arn}` is the first whose
//! resource the environment has; a trailing `|` (`${db_subnets.name|}`) means "or nothing": the
//! string is left out of its list or object when none is there.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    /// Another stack's name; `None`: the stack the reference is written in.
    pub stack: Option<String>,
    pub resource: String,
    pub attribute: String,
}

impl Ref {
    /// The stack the referenced resource belongs to, for a reference written in `own`.
    pub fn stack_or<'a>(&'a self, own: &'a str) -> &'a str {
        self.stack.as_deref().unwrap_or(own)
    }
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.stack {
            Some(stack) => write!(f, "${{{stack}.{}.{}}}", self.resource, self.attribute),
            None => write!(f, "${{{}.{}}}", self.resource, self.attribute),
        }
    }
}

/// Every reference in `value`, in document order. A malformed `${...}` is an error.
pub fn find_refs(value: &Value) -> Result<Vec<Ref>, String> {
    let mut out = Vec::new();
    walk(value, &mut |s| {
        for r in refs_in_str(s)? {
            out.push(r);
        }
        Ok(())
    })?;
    Ok(out)
}

fn walk(value: &Value, f: &mut dyn FnMut(&str) -> Result<(), String>) -> Result<(), String> {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().try_for_each(|v| walk(v, f)),
        Value::Object(map) => map.values().try_for_each(|v| walk(v, f)),
        _ => Ok(()),
    }
}

/// One `${...}` in a string: its text, its alternatives in order, and whether it may be nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub text: String,
    pub alternatives: Vec<Ref>,
    pub optional: bool,
}

/// Every `${...}` of `s`, in order.
pub fn groups(s: &str) -> Result<Vec<Group>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            format!("unterminated reference in `{s}`: write `${{resource.attribute}}`")
        })?;
        let inner = &after[..end];
        let mut parts: Vec<&str> = inner.split('|').map(str::trim).collect();
        let optional = parts.len() > 1 && parts.last() == Some(&"");
        if optional {
            parts.pop();
        }
        let alternatives = parts.iter().map(|p| parse_ref(p)).collect::<Result<Vec<_>, _>>()?;
        out.push(Group { text: format!("${{{inner}}}"), alternatives, optional });
        rest = &after[end + 1..];
    }
    Ok(out)
}

fn parse_ref(inner: &str) -> Result<Ref, String> {
    let parts: Vec<&str> = inner.split('.').collect();
    let malformed = || {
        format!(
            "malformed reference `${{{inner}}}`: write `${{resource.attribute}}`, or \
             `${{stack.resource.attribute}}` for another stack's resource"
        )
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(malformed());
    }
    Ok(match parts.as_slice() {
        [resource, attribute] => {
            Ref { stack: None, resource: resource.to_string(), attribute: attribute.to_string() }
        }
        [stack, resource, attribute] => Ref {
            stack: Some(stack.to_string()),
            resource: resource.to_string(),
            attribute: attribute.to_string(),
        },
        _ => return Err(malformed()),
    })
}

fn refs_in_str(s: &str) -> Result<Vec<Ref>, String> {
    Ok(groups(s)?.into_iter().flat_map(|g| g.alternatives).collect())
}

/// `value` for an environment that has the resources `has` says it has: each reference group
/// becomes its first alternative there; a string whose group has none (`${x.y|}`) is left out of
/// its list or object. `Err` names a reference with no alternative there that may not be nothing.
pub fn choose(value: &Value, has: &dyn Fn(&Ref) -> bool) -> Result<Option<Value>, String> {
    Ok(match value {
        Value::String(s) => {
            let mut out = s.clone();
            for g in groups(s)? {
                match g.alternatives.iter().find(|r| has(r)) {
                    Some(r) => out = out.replacen(&g.text, &r.to_string(), 1),
                    None if g.optional => return Ok(None),
                    None => {
                        return Err(format!(
                            "`{}` names no resource this environment has (add `|` and an \
                             alternative, or a trailing `|` to leave the value out)",
                            g.text
                        ))
                    }
                }
            }
            Some(Value::String(out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for v in items {
                out.extend(choose(v, has)?);
            }
            Some(Value::Array(out))
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if let Some(v) = choose(v, has)? {
                    out.insert(k.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

/// Replaces every reference with `lookup`'s answer; `None` when some value is not known (yet).
pub fn resolve(value: &Value, lookup: &dyn Fn(&Ref) -> Option<Value>) -> Option<Value> {
    Some(match value {
        Value::String(s) => resolve_str(s, lookup)?,
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| resolve(v, lookup)).collect::<Option<_>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Some((k.clone(), resolve(v, lookup)?)))
                .collect::<Option<_>>()?,
        ),
        other => other.clone(),
    })
}

fn resolve_str(s: &str, lookup: &dyn Fn(&Ref) -> Option<Value>) -> Option<Value> {
    let groups = groups(s).ok()?;
    if groups.is_empty() {
        return Some(Value::String(s.to_string()));
    }
    // A stack is resolved after `choose`, which leaves one alternative in each group.
    let first = |g: &Group| g.alternatives.first().cloned();
    if groups.len() == 1 && s == groups[0].text {
        return lookup(&first(&groups[0])?);
    }
    let mut out = s.to_string();
    for g in groups {
        let v = lookup(&first(&g)?)?;
        let text = match v {
            Value::String(t) => t,
            other => other.to_string(),
        };
        out = out.replace(&g.text, &text);
    }
    Some(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_resolves() {
        let v = json!({"a": "${pool.id}", "b": ["x-${pool.name}-y"], "c": 3});
        let refs = find_refs(&v).unwrap();
        assert_eq!(refs.len(), 2);
        let got = resolve(&v, &|r| Some(json!(format!("<{}>", r.attribute)))).unwrap();
        assert_eq!(got, json!({"a": "<id>", "b": ["x-<name>-y"], "c": 3}));
        assert!(resolve(&v, &|_| None).is_none());
    }

    #[test]
    fn whole_reference_keeps_type() {
        let got = resolve(&json!("${x.list}"), &|_| Some(json!([1, 2]))).unwrap();
        assert_eq!(got, json!([1, 2]));
    }

    #[test]
    fn malformed() {
        assert!(find_refs(&json!("${pool}")).is_err());
        assert!(find_refs(&json!("${pool.id")).is_err());
        assert!(find_refs(&json!("${.id}")).is_err());
        assert!(find_refs(&json!("${a.b.c.d}")).is_err());
        assert!(find_refs(&json!("${a..c}")).is_err());
    }

    #[test]
    fn alternatives_pick_the_first_resource_there() {
        let v = json!({"a": "${x.arn|y.arn}", "b": ["${net.id|}", "k"], "c": "${net.id|}"});
        let refs = find_refs(&v).unwrap();
        assert_eq!(refs.len(), 4, "every alternative is a reference to check");
        let only_y = |r: &Ref| r.resource == "y";
        let got = choose(&v, &only_y).unwrap().unwrap();
        assert_eq!(got, json!({"a": "${y.arn}", "b": ["k"]}));
        let all = |_: &Ref| true;
        let got = choose(&v, &all).unwrap().unwrap();
        assert_eq!(got, json!({"a": "${x.arn}", "b": ["${net.id}", "k"], "c": "${net.id}"}));
        let err = choose(&json!("${x.arn}"), &only_y).unwrap_err();
        assert!(err.contains("`${x.arn}` names no resource"), "{err}");
        assert!(find_refs(&json!("${x.arn||}")).is_err(), "an empty alternative in the middle");
    }

    #[test]
    fn another_stacks_resource() {
        let refs = find_refs(&json!("x-${unstructured-rag.user_pool.id}")).unwrap();
        assert_eq!(refs[0].stack.as_deref(), Some("unstructured-rag"));
        assert_eq!(refs[0].stack_or("own"), "unstructured-rag");
        assert_eq!(refs[0].to_string(), "${unstructured-rag.user_pool.id}");
        let local = &find_refs(&json!("${pool.id}")).unwrap()[0];
        assert_eq!((local.stack_or("own"), local.to_string().as_str()), ("own", "${pool.id}"));
    }
}
