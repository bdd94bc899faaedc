//! `muster topology svc/NAME`: the Service on every selected cluster (its EndpointSlices'
//! endpoints: pods, nodes, zones, ready or not), with the clusters where it has no ready
//! endpoint, or ready endpoints on fewer nodes or zones than usual, marked. Exit 1 when a
//! cluster stands out.

use std::collections::BTreeMap;

use clap::Args;

use super::actions::RunArgs;
use super::diagnose::{objects, read, why};
use super::{CliError, exit};
use muster_core::report::topology;
use muster_core::result::Status;

#[derive(Debug, Args)]
pub struct TopologyArgs {
    /// `svc/NAME`.
    pub service: String,
    /// `json` for the data; the table otherwise.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
    #[command(flatten)]
    pub run: RunArgs,
}

pub async fn run(a: TopologyArgs) -> Result<u8, CliError> {
    let target: muster_core::command::Target = a.service.parse()?;
    let name = match (&target.name, target.resource.as_str()) {
        (Some(n), "svc" | "service" | "services") => n.to_string(),
        _ => return Err(format!("{}: give svc/NAME", a.service).into()),
    };
    let mut failed = BTreeMap::new();
    let loaded = a.run.source.load().await?;
    let services = match read(&a.run, &loaded, &a.service, None).await? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let slices = match read(
        &a.run,
        &loaded,
        "endpointslices",
        Some(&format!("kubernetes.io/service-name={name}")),
    )
    .await?
    {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let slices: BTreeMap<String, _> = slices.into_iter().map(|r| (r.cluster.clone(), r)).collect();
    let mut clusters = Vec::new();
    for s in &services {
        let service = match s.status {
            Status::Succeeded => objects(s).into_iter().next(),
            _ if s.error.as_ref().is_some_and(|e| e.code == Some(404)) => None,
            _ => {
                failed.insert(s.cluster.clone(), why(s));
                continue;
            }
        };
        let eps = match slices.get(&s.cluster) {
            Some(r) if r.status == Status::Succeeded => objects(r),
            Some(r) => {
                failed.insert(s.cluster.clone(), why(r));
                continue;
            }
            None => Vec::new(),
        };
        clusters.push(topology::of_cluster(&s.cluster, service.as_ref(), &eps));
    }
    let t = topology::build(&a.service, a.run.namespace.as_deref(), clusters, failed);
    if a.output == "json" {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print!("{}", topology::render(&t));
    }
    Ok(if t.outliers().is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}
