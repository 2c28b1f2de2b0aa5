//! A resource as written in a stack file: `kind`, then `properties` (whose type the kind picks,
//! so that an unknown field or a wrong type is reported at its own line), and `depends_on`:
//! references the resource waits for without using them (a runtime waits for the ingestion
//! job to complete). They are the resource's, not its properties', so they never show in a diff.

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::kinds::Spec;

#[derive(Debug)]
pub struct Declared {
    pub spec: Spec,
    pub depends_on: Vec<String>,
}

pub const KEYS: &str = "a resource has `kind`, `properties` and optionally `depends_on`";

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
                other => return Err(de::Error::custom(format!("unknown key `{other}` ({KEYS})"))),
            }
        }
        match (spec, kind) {
            (Some(spec), _) => Ok(Declared { spec, depends_on }),
            (None, Some(_)) => Err(de::Error::missing_field("properties")),
            (None, None) => Err(de::Error::missing_field("kind")),
        }
    }
}

/// The properties of a resource of kind `.0`, read in place (so errors keep their line).
struct PropertiesOf<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for PropertiesOf<'_> {
    type Value = Spec;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Spec, D::Error> {
        Spec::deserialize(de::value::MapAccessDeserializer::new(KindThenProperties {
            kind: self.0,
            properties: Some(d),
            step: 0,
        }))
    }
}

/// `{kind: <kind>, properties: <the document's value>}`, as `Spec`'s tagged form expects.
struct KindThenProperties<'a, D> {
    kind: &'a str,
    properties: Option<D>,
    step: u8,
}

impl<'de, D: Deserializer<'de>> MapAccess<'de> for KindThenProperties<'_, D> {
    type Error = D::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, D::Error> {
        let key = match self.step {
            0 => "kind",
            1 => "properties",
            _ => return Ok(None),
        };
        seed.deserialize(IntoDeserializer::<D::Error>::into_deserializer(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, D::Error> {
        self.step += 1;
        if self.step == 1 {
            seed.deserialize(IntoDeserializer::<D::Error>::into_deserializer(self.kind))
        } else {
            let d = self
                .properties
                .take()
                .ok_or_else(|| de::Error::custom("properties read twice"))?;
            seed.deserialize(d)
        }
    }
}
