//! `delete`: one object, or every object of a kind matching `-l`, with `--cascade` and
//! `--dry-run=server`. A 404 on a retry means an earlier attempt deleted it: done.

use kube::api::{DeleteParams, ListParams, PropagationPolicy};

use super::{Outcome, dry_run_note, resolve, target};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence};
use muster_core::command::Cascade;
use muster_core::name::Name;

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let t = target(c)?;
    let r = resolve::resource(c, &t.resource).await?;
    let ns = c.namespace();
    r.authorize(c, Some(ns), &t.to_string())?;
    let names: Vec<Name> = match (&t.name, &c.command.label_selector) {
        (Some(n), _) => vec![n.clone()],
        (None, Some(sel)) => {
            let lp = ListParams::default().labels(sel);
            let list = c
                .call(Idempotence::Read, |client| {
                    let api = r.api(client, Some(ns));
                    let lp = &lp;
                    async move { api.list_metadata(lp).await }
                })
                .await?;
            // NB: names come from the server; each is still one path segment or skipped.
            list.items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .filter_map(|n| Name::parse(&n).ok())
                .collect()
        }
        (None, None) => {
            return Err(Failure::invalid(
                "MissingName",
                "delete needs RESOURCE/NAME or -l SELECTOR".into(),
            ));
        }
    };
    let dp = DeleteParams {
        dry_run: c.command.server_dry_run,
        propagation_policy: Some(match c.command.cascade {
            Cascade::Background => PropagationPolicy::Background,
            Cascade::Foreground => PropagationPolicy::Foreground,
            Cascade::Orphan => PropagationPolicy::Orphan,
        }),
        ..DeleteParams::default()
    };
    let mut done = Vec::new();
    if names.is_empty() {
        done.push(format!("no {} matched", r.display()));
    }
    for name in &names {
        let what = format!("{}/{name}", r.display());
        let deleted = c
            .call(Idempotence::IdempotentWrite, |client| {
                let api = r.api(client, Some(ns));
                let dp = &dp;
                async move { api.delete(name.as_str(), dp).await }
            })
            .await;
        match deleted {
            Ok(_) => done.push(format!("{what} deleted{}", dry_run_note(c))),
            // NB: an earlier attempt reached the server; its answer was lost.
            Err(e) if e.retried && e.failure.code == Some(404) => done.push(format!("{what} deleted")),
            Err(e) => return Err(e.failure.within(&what)),
        }
    }
    Ok(Outcome::summary(&done))
}
