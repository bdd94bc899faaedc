//! Putting the hub's pieces into a cluster: the CRDs (server-side applied, then waited on
//! until Established, as a real API server serves their objects only then) and a member's
//! kubeconfig Secret in the form the hub reads (labelled `muster.dev/kubeconfig`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use muster_fleet::registry::capi::KUBECONFIG_LABEL;

use crate::store::FIELD_MANAGER;

/// Apply every CRD and wait until each is Established (at most `within`).
///
/// # Errors
/// The hub's answer, or a CRD not Established in time.
pub async fn apply_crds(client: &kube::Client, within: Duration) -> Result<(), kube::Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::crd::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd))
            .await?;
    }
    let deadline = tokio::time::Instant::now() + within;
    for crd in crate::crd::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        loop {
            let established = api
                .get(&name)
                .await?
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            if established {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(kube::Error::Service(
                    format!("CRD {name} not Established within {within:?}").into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// The Secret that registers `member` with the hub: its kubeconfig (inline credentials only:
/// the hub trusts nothing else from a Secret) in data key `kubeconfig`.
#[must_use]
pub fn kubeconfig_secret(namespace: &str, member: &str, kubeconfig: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(format!("member-{}", crate::crd::cluster::fleet_cluster_name(member)));
    s.metadata.namespace = Some(namespace.to_string());
    s.metadata.labels = Some(BTreeMap::from([(KUBECONFIG_LABEL.to_string(), member.to_string())]));
    s.data = Some(BTreeMap::from([(
        "kubeconfig".to_string(),
        ByteString(kubeconfig.as_bytes().to_vec()),
    )]));
    s
}
