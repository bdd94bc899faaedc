//! `ExecResult` and `Status`: one result per selected cluster for every command, the
//! vocabulary shared by the fan-out, reports, the hub and MQTT. JSON and YAML serialisable.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Action;

/// How one cluster's part of a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
    /// Refused by the policy before any request.
    Rejected,
    Unreachable,
    Throttled,
    Cancelled,
    Skipped,
}

impl Status {
    /// Whether the cluster did what was asked.
    #[must_use]
    pub fn is_success(self) -> bool {
        self == Self::Succeeded
    }
}

/// Why a cluster's part failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecError {
    /// A stable short label (`Forbidden`, `NotFound`, `ExecShellDenied`, ...).
    pub reason: String,
    /// The HTTP status code, when there was a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Names the cluster and the target.
    pub message: String,
}

/// One Kubernetes object as its compact JSON text. A fan-out `get` over a large fleet holds
/// many objects: as text one takes about its wire size, where a parsed `serde_json::Value`
/// takes ten times more. It serialises as the object itself (JSON or YAML), so the wire
/// form of [`ExecResult`] is unchanged.
#[derive(Clone, PartialEq, Eq)]
pub struct Object(Box<str>);

impl Object {
    /// The object of a value.
    #[must_use]
    pub fn from_value(v: &Value) -> Self {
        Self(serde_json::to_string(v).unwrap_or_default().into_boxed_str())
    }

    /// The object of JSON text the server sent, if it is JSON.
    ///
    /// # Errors
    /// When `text` is not JSON.
    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        let v: &serde_json::value::RawValue = serde_json::from_str(text)?;
        Ok(Self(v.get().into()))
    }

    /// The JSON text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The object, parsed.
    #[must_use]
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| Self::from_value(&v))
    }
}

/// What a cluster returned, shaped by the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Output {
    None,
    /// `get`: the object(s).
    Objects {
        items: Vec<Object>,
        /// Items were left out to stay under the policy's output cap.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
    /// `logs`: lines.
    Lines {
        lines: Vec<String>,
        truncated: bool,
    },
    /// `exec`: captured streams.
    Streams {
        stdout: String,
        stderr: String,
        truncated: bool,
    },
    /// Writes: what changed.
    Summary {
        text: String,
    },
    /// `get` for people: each kind as the server printed it (kubectl's columns, a CRD's
    /// printer columns), one table per kind asked for.
    Tables {
        tables: Vec<Table>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
}

/// One server-side `Table` (`meta.k8s.io/v1`): the columns and the rows of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// The resource as kubectl names it (`deployment.apps`, `service`).
    pub resource: String,
    pub columns: Vec<TableColumn>,
    pub rows: Vec<TableRow>,
}

/// A column of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableColumn {
    pub name: String,
    /// `string`, `integer`, `date`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// 0: always shown; more: only with `-o wide`.
    pub priority: i64,
}

/// A row of a [`Table`]: its object's namespace and name, and the cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub cells: Vec<Value>,
}

/// One cluster's outcome of one command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecResult {
    pub command_id: String,
    pub cluster: String,
    pub action: Action,
    pub target: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub output: Output,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ExecError>,
    pub duration_ms: u64,
    pub attempts: u32,
}
