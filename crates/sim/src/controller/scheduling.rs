//! What the scheduler would say of a pod: whether its containers' requests fit a node (each
//! simulated node has 4 CPUs and about 15.5 GiB allocatable, and the simulator checks one
//! pod against an empty node, not against what other pods already use), and the message
//! and event of a pod that does not fit.

use serde_json::Value;

/// A node's allocatable CPU (millicores) and memory (bytes).
const CPU_MILLIS: f64 = 4000.0;
const MEMORY_BYTES: f64 = 16_264_868.0 * 1024.0;

/// A Kubernetes quantity as a number (CPU in millicores when `cpu`, else bytes).
fn quantity(q: &Value, cpu: bool) -> f64 {
    let text = match q {
        Value::Number(n) => return n.as_f64().unwrap_or(0.0) * if cpu { 1000.0 } else { 1.0 },
        Value::String(s) => s.trim(),
        _ => return 0.0,
    };
    let units: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0f64.powi(4)),
        ("Pi", 1024.0f64.powi(5)),
        ("Ei", 1024.0f64.powi(6)),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (number, factor) = units
        .iter()
        .find_map(|(suffix, f)| text.strip_suffix(suffix).map(|n| (n, *f)))
        .unwrap_or((text, 1.0));
    let v = number.parse::<f64>().unwrap_or(0.0) * factor;
    if cpu { v * 1000.0 } else { v }
}

/// The resources a pod spec asks for that no node has (`cpu`, `memory`); empty: it fits.
#[must_use]
pub fn insufficient(spec: &Value) -> Vec<&'static str> {
    let containers = spec.get("containers").and_then(Value::as_array);
    let sum = |key: &str, cpu: bool| -> f64 {
        containers
            .into_iter()
            .flatten()
            .filter_map(|c| c.pointer(&format!("/resources/requests/{key}")))
            .map(|q| quantity(q, cpu))
            .sum()
    };
    let mut out = Vec::new();
    if sum("cpu", true) > CPU_MILLIS {
        out.push("cpu");
    }
    if sum("memory", false) > MEMORY_BYTES {
        out.push("memory");
    }
    out
}

/// The scheduler's message for a pod that fits no node of `nodes`.
#[must_use]
pub fn unschedulable_message(nodes: usize, lacking: &[&str]) -> String {
    let why: Vec<String> = lacking.iter().map(|r| format!("{nodes} Insufficient {r}")).collect();
    format!(
        "0/{nodes} nodes are available: {}. preemption: 0/{nodes} nodes are available: {nodes} No preemption victims found for incoming pod.",
        why.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_against_a_node() {
        let spec =
            |cpu: &str, mem: &str| json!({"containers": [{"resources": {"requests": {"cpu": cpu, "memory": mem}}}]});
        assert!(insufficient(&spec("500m", "512Mi")).is_empty());
        assert_eq!(insufficient(&spec("8", "512Mi")), ["cpu"]);
        assert_eq!(insufficient(&spec("1", "64Gi")), ["memory"]);
        assert_eq!(insufficient(&spec("4001m", "100G")), ["cpu", "memory"]);
        assert!(insufficient(&json!({"containers": [{}]})).is_empty());
        assert_eq!(
            unschedulable_message(3, &["cpu"]),
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        );
    }
}
