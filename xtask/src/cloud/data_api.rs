//! SQL through the RDS Data API, the one SQL path on both targets: one statement per call,
//! named parameters, records as JSON, transactions by id, retry while the cluster resumes.

use aws_sdk_rdsdata::types::{Field, RecordsFormatType, SqlParameter};
use serde_json::Value;

use super::{classify, Clients};
use crate::engine::{CloudError, CloudResult};

/// Where statements go: a cluster, the secret to sign in with, a database.
#[derive(Debug, Clone)]
pub struct Database {
    pub cluster_arn: String,
    pub secret_arn: String,
    pub name: String,
}

const NOT_FOUND: &[&str] = &[];

fn sql_error(e: CloudError) -> CloudError {
    // Auto-paused (min capacity 0): the Data API answers while the cluster wakes up.
    match e.retry_on(&["DatabaseResumingException", "DatabaseUnavailableException"]) {
        // A cluster that is not there has no code of its own: BadRequestException says so.
        CloudError::Service { code, message }
            if code == "BadRequestException"
                && message.contains("Cluster")
                && message.contains("not found") =>
        {
            CloudError::NotFound(message)
        }
        other => other,
    }
}

pub fn text(name: &str, value: &str) -> SqlParameter {
    SqlParameter::builder().name(name).value(Field::StringValue(value.to_string())).build()
}

/// The SQLSTATE of a PostgreSQL error as the Data API reports it (`...; SQLState: 42P01`).
pub fn sqlstate(e: &CloudError) -> Option<&str> {
    let (CloudError::Fatal(m)
    | CloudError::Retryable(m)
    | CloudError::NotFound(m)
    | CloudError::Service { message: m, .. }) = e
    else {
        return None;
    };
    let code = m.rsplit("SQLState: ").next().filter(|_| m.contains("SQLState: "))?;
    Some(code.get(..5).unwrap_or(code))
}

/// SQLSTATEs that mean "what you read from is not there (yet)": undefined table, undefined
/// schema, unknown database (PostgreSQL, Appendix A "Error Codes").
const MISSING: &[&str] = &["42P01", "3F000", "3D000"];

impl Database {
    pub fn new(cluster_arn: &str, secret_arn: &str, name: &str) -> Database {
        Database {
            cluster_arn: cluster_arn.into(),
            secret_arn: secret_arn.into(),
            name: name.into(),
        }
    }

    /// Runs one read for an observe: a table, schema or database that does not exist yet (the
    /// migrations that make it have not run) is not found, not a failure.
    pub async fn read<T: serde::de::DeserializeOwned>(
        &self,
        clients: &Clients,
        sql: &str,
        params: Vec<SqlParameter>,
    ) -> CloudResult<Vec<T>> {
        match self.rows(clients, sql, params, None).await {
            Err(e) if sqlstate(&e).is_some_and(|c| MISSING.contains(&c)) => {
                Err(CloudError::NotFound(e.to_string()))
            }
            other => other,
        }
    }

    /// The first row of a read for an observe; `None` when there is none, or nothing to read
    /// from yet.
    pub async fn read_one<T: serde::de::DeserializeOwned>(
        &self,
        clients: &Clients,
        sql: &str,
        params: Vec<SqlParameter>,
    ) -> CloudResult<Option<T>> {
        let rows = crate::engine::found(self.read(clients, sql, params).await)?;
        Ok(rows.and_then(|r: Vec<T>| r.into_iter().next()))
    }

    /// Runs one statement; rows come back as `T` (a struct named after the columns).
    pub async fn rows<T: serde::de::DeserializeOwned>(
        &self,
        clients: &Clients,
        sql: &str,
        params: Vec<SqlParameter>,
        tx: Option<&str>,
    ) -> CloudResult<Vec<T>> {
        let rows = self.query(clients, sql, params, tx).await?;
        serde_json::from_value(Value::Array(rows.into_iter().map(Value::Object).collect()))
            .map_err(|e| CloudError::Fatal(format!("unexpected rows from the Data API: {e}")))
    }

    /// Runs one statement; rows come back as JSON objects.
    pub async fn query(
        &self,
        clients: &Clients,
        sql: &str,
        params: Vec<SqlParameter>,
        tx: Option<&str>,
    ) -> CloudResult<Vec<serde_json::Map<String, Value>>> {
        let out = clients
            .rdsdata
            .execute_statement()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .database(&self.name)
            .sql(sql)
            .set_parameters(Some(params))
            .set_transaction_id(tx.map(str::to_string))
            .format_records_as(RecordsFormatType::Json)
            .send()
            .await
            .map_err(|e| sql_error(classify(e, NOT_FOUND)))?;
        match out.formatted_records() {
            Some(json) => serde_json::from_str(json).map_err(|e| {
                CloudError::Fatal(format!("unreadable records from the Data API: {e}"))
            }),
            None => Ok(Vec::new()),
        }
    }

    pub async fn begin(&self, clients: &Clients) -> CloudResult<String> {
        let out = clients
            .rdsdata
            .begin_transaction()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .database(&self.name)
            .send()
            .await
            .map_err(|e| sql_error(classify(e, NOT_FOUND)))?;
        let tx = out.transaction_id().unwrap_or_default().to_string();
        clients.open_transactions.lock().expect("not poisoned").push((
            tx.clone(),
            self.cluster_arn.clone(),
            self.secret_arn.clone(),
        ));
        Ok(tx)
    }

    fn ended(clients: &Clients, tx: &str) {
        clients.open_transactions.lock().expect("not poisoned").retain(|(t, ..)| t != tx);
    }

    pub async fn commit(&self, clients: &Clients, tx: &str) -> CloudResult<()> {
        clients
            .rdsdata
            .commit_transaction()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .transaction_id(tx)
            .send()
            .await
            .map_err(|e| sql_error(classify(e, NOT_FOUND)))?;
        Self::ended(clients, tx);
        Ok(())
    }

    pub async fn rollback(&self, clients: &Clients, tx: &str) {
        let _ = clients
            .rdsdata
            .rollback_transaction()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .transaction_id(tx)
            .send()
            .await;
        Self::ended(clients, tx);
    }
}

/// Rolls back every transaction this run began and did not end (a run stopped midway); how
/// many it rolled back.
pub async fn roll_back_open(clients: &Clients) -> usize {
    let open = std::mem::take(&mut *clients.open_transactions.lock().expect("not poisoned"));
    for (tx, cluster_arn, secret_arn) in &open {
        let _ = clients
            .rdsdata
            .rollback_transaction()
            .resource_arn(cluster_arn)
            .secret_arn(secret_arn)
            .transaction_id(tx)
            .send()
            .await;
    }
    open.len()
}

/// Splits a SQL file into statements: on `;` outside quotes, dollar-quoted bodies and comments.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == '\'' || c == '"' {
            cur.push(c);
            i += 1;
            while i < chars.len() {
                cur.push(chars[i]);
                if chars[i] == c {
                    break;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '$' {
            // $tag$ ... $tag$
            let rest: String = chars[i..].iter().collect();
            if let Some(end) = rest[1..].find('$') {
                let tag = &rest[..end + 2];
                if tag[1..tag.len() - 1].chars().all(|c| c.is_alphanumeric() || c == '_') {
                    if let Some(close) = rest[tag.len()..].find(tag) {
                        let body = &rest[..tag.len() + close + tag.len()];
                        cur.push_str(body);
                        i += body.chars().count();
                        continue;
                    }
                }
            }
        }
        if c == ';' {
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_outside_quotes_bodies_and_comments() {
        let sql = "-- a comment; here\nCREATE TABLE t (a text DEFAULT ';');\n/* block; */\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\nCREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;\nSELECT 'it''s';";
        let got = split_statements(sql);
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0].starts_with("CREATE TABLE t") && got[0].contains("';'"));
        assert!(got[1].contains("$$ SELECT 1; $$"));
        assert!(got[2].contains("$body$ BEGIN RETURN 1; END $body$"));
        assert_eq!(got[3], "SELECT 'it''s'");
    }
}
