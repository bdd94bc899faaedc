//! `muster tree TARGET`: the ownership tree of an object on every selected cluster
//! (`deploy/web` -> ReplicaSets -> Pods, with finalizers and deletion timestamps), grouped
//! by shape: the usual one first, then the clusters that differ. Exit 1 when they differ.

use std::collections::BTreeMap;

use clap::Args;

use super::actions::RunArgs;
use super::diagnose::{objects, read, why};
use super::{CliError, exit};
use muster_core::report::tree;
use muster_core::result::Status;

#[derive(Debug, Args)]
pub struct TreeArgs {
    /// `deploy/NAME`, `sts/NAME`, `ds/NAME`, `rs/NAME`, `job/NAME`, ...
    pub target: String,
    /// The kinds that may be owned, read from the namespace.
    #[arg(long, default_value = "replicasets,pods")]
    pub dependents: String,
    #[arg(short = 'o', long, default_value = "tree", value_parser = ["tree", "json"])]
    pub output: String,
    #[command(flatten)]
    pub run: RunArgs,
}

pub async fn run(a: TreeArgs) -> Result<u8, CliError> {
    let loaded = a.run.source.load().await?;
    let roots = match read(&a.run, &loaded, &a.target, None).await? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let dependents = match read(&a.run, &loaded, &a.dependents, None).await? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let dependents: BTreeMap<String, _> = dependents.into_iter().map(|r| (r.cluster.clone(), r)).collect();
    let (mut trees, mut missing, mut failed) = (BTreeMap::new(), Vec::new(), BTreeMap::new());
    for r in &roots {
        match (r.status, objects(r).into_iter().next()) {
            (Status::Succeeded, Some(root)) => {
                let objs = dependents.get(&r.cluster).map(objects).unwrap_or_default();
                trees.insert(r.cluster.clone(), tree::of(&root, &objs));
            }
            _ if r.error.as_ref().is_some_and(|e| e.code == Some(404)) => missing.push(r.cluster.clone()),
            _ => {
                failed.insert(r.cluster.clone(), why(r));
            }
        }
    }
    let t = tree::build(&a.target, trees, missing, failed);
    if a.output == "json" {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print!("{}", tree::render(&t));
    }
    Ok(if t.shapes.len() <= 1 && t.missing.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}
