//! A resource as written in a stack file: `kind`, then `properties` (whose type the kind picks,
//! so that an unknown field or a wrong type is reported at its own line), and `depends_on`:
//! references the resource waits for without using them (a runtime waits for the ingestion
//! job to complete). They are the resource's, not its properties', so they never show in a diff.
//! `when` (`{database: full}`) keeps the resource to the environments whose choices match.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use serde_json::Value;

use crate::kinds::{self, KindInfo};

#[derive(Debug)]
pub struct Declared {
    pub kind: &'static KindInfo,
    /// As the kind's type reads them, back as JSON (references still in place).
    pub properties: Value,
    pub depends_on: Vec<String>,
    pub when: indexmap::IndexMap<String, String>,
}

pub const KEYS: &str = "a resource has `kind`, `properties` and optionally `depends_on` and `when`";

impl<'de> Deserialize<'de> for Declared {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DeclaredVisitor)
    }
}

struct DeclaredVisitor;

impl<'de> Visitor<'de> for DeclaredVisitor {
    type Value = Declared;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(KEYS)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Declared, A::Error> {
        let mut kind: Option<String> = None;
        let mut spec = None;
        let mut depends_on = Vec::new();
        let mut when = indexmap::IndexMap::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "kind" => kind = Some(map.next_value()?),
                "properties" => {
                    let Some(kind) = &kind else {
                        return Err(de::Error::custom("`kind` must come before `properties`"));
                    };
                    spec = Some(map.next_value_seed(PropertiesOf(kind))?);
                }
                "depends_on" => depends_on = map.next_value()?,
                "when" => when = map.next_value()?,
                other => return Err(de::Error::custom(format!("unknown key `{other}` ({KEYS})"))),
            }
        }
        match (spec, kind) {
            (Some((kind, properties)), _) => Ok(Declared { kind, properties, depends_on, when }),
            (None, Some(_)) => Err(de::Error::missing_field("properties")),
            (None, None) => Err(de::Error::missing_field("kind")),
        }
    }
}

/// The properties of a resource of kind `.0`, read in place by the kind's own type (so errors
/// keep their line).
struct PropertiesOf<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for PropertiesOf<'_> {
    type Value = (&'static KindInfo, Value);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        kinds::parse(self.0, d)
            .unwrap_or_else(|| Err(de::Error::unknown_variant(self.0, kinds::names())))
    }
}
