//! What kube-controller-manager puts in every namespace: the `default` ServiceAccount (the
//! serviceaccount controller) and the `kube-root-ca.crt` ConfigMap with the cluster's own CA
//! (the root-ca-cert-publisher, which also puts its content back when someone changes it).

use serde_json::{Value, json};

use super::Controller;
use crate::cluster::{ROOT_CA, default_service_account, gr, now_rfc3339};

pub fn publish(ctl: &mut Controller) {
    let (ns_gr, sa_gr, cm_gr) = (gr("", "namespaces"), gr("", "serviceaccounts"), gr("", "configmaps"));
    let namespaces: Vec<String> = ctl.list(&ns_gr).iter().map(|n| n.name().to_string()).collect();
    let now = now_rfc3339();
    for ns in namespaces {
        if ctl.cluster.store.get(&sa_gr, &ns, "default").is_none() {
            ctl.create(&sa_gr, default_service_account(&ns, &now));
        }
        match ctl.cluster.store.get(&cm_gr, &ns, ROOT_CA) {
            None => {
                ctl.create(&cm_gr, ctl.cluster.root_ca(&ns, &now));
            }
            Some(cm) if !cm.is_terminating() => {
                let cm = cm.parse();
                if cm.value.pointer("/data/ca.crt").and_then(Value::as_str) != Some(ctl.cluster.ca_pem.as_str()) {
                    let mut v = cm.value.clone();
                    v["data"] = json!({"ca.crt": ctl.cluster.ca_pem});
                    ctl.update(&cm_gr, &cm, v);
                }
            }
            Some(_) => {}
        }
    }
}
