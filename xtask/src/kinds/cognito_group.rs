//! A group in a user pool (a tier such as `regular` or `platinum`). Groups carry no tags: they
//! are ours because the pool they live in is.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{found, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "cognito.group",
    name_style: NameStyle::Property("name"),
    attributes: &["name"],
    ready_attributes: &[],
    deadline_secs: 120,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub user_pool_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Lower wins when a user is in several groups.
    #[serde(default)]
    pub precedence: Option<i32>,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

pub struct Group(pub Clients);

fn outputs(name: &str) -> Outputs {
    [("name".to_string(), json!(name))].into_iter().collect()
}

#[async_trait]
impl ResourceKind for Group {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["user_pool_id", "name"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
        let got = self
            .0
            .cognito
            .get_group()
            .user_pool_id(&p.user_pool_id)
            .group_name(&p.name)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let group = out
            .group
            .unwrap_or_else(|| unreachable!("GetGroup returns the group"));
        Ok(Some(Observed {
            owned: true,
            properties: json!({
                "user_pool_id": p.user_pool_id,
                "name": p.name,
                "description": group.description().unwrap_or_default(),
                "precedence": group.precedence(),
            }),
            outputs: outputs(&p.name),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        self.0
            .cognito
            .create_group()
            .user_pool_id(&p.user_pool_id)
            .group_name(&p.name)
            .description(&p.description)
            .set_precedence(p.precedence)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(outputs(&p.name))
    }

    async fn update(
        &self,
        target: &Target,
        _observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        self.0
            .cognito
            .update_group()
            .user_pool_id(&p.user_pool_id)
            .group_name(&p.name)
            .description(&p.description)
            .set_precedence(p.precedence)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(outputs(&p.name))
    }

    async fn delete(&self, target: &Target, _observed: &Observed) -> CloudResult<()> {
        let p: Properties = properties(target)?;
        self.0
            .cognito
            .delete_group()
            .user_pool_id(&p.user_pool_id)
            .group_name(&p.name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
