//! A group in a user pool (a tier such as `regular` or `platinum`). Groups carry no tags: they
//! are ours because the pool they live in is.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::KindInfo;
use crate::cloud::{classify, Clients};
use crate::engine::{found, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "cognito.group",
    name_style: NameStyle::Property("name"),
    attributes: &["name"],
    deadline_secs: 120,
    ..KindInfo::DEFAULT
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub name: String,
}

pub struct Group(pub Clients);

#[async_trait]
impl Kind for Group {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["user_pool_id", "name"];

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
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
        let group = out.group.unwrap_or_else(|| unreachable!("GetGroup returns the group"));
        let state = Properties {
            user_pool_id: p.user_pool_id.clone(),
            name: p.name.clone(),
            description: group.description().unwrap_or_default().to_string(),
            precedence: group.precedence(),
        };
        Ok(Found::ours(state, Outputs { name: p.name.clone() }))
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
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
        Ok(Outputs { name: p.name.clone() })
    }

    async fn update(
        &self,
        _t: &Target,
        p: &Properties,
        _seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
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
        Ok(Outputs { name: p.name.clone() })
    }

    async fn delete(&self, _t: &Target, p: &Properties, _seen: &SeenOf<Self>) -> CloudResult<()> {
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
