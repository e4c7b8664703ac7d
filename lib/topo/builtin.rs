//! Built-in topologies and how a TOPOLOGY argument is found (all labs): `chain:N`, `demo`, a
//! lab (`01`, `01-ping`) or a path to a `topology.toml`.
//!
//! `chain:N` is written out as topology text and parsed like any file, so a built-in can never
//! drift from what a hand-written file would produce.

use std::fmt::Write as _;
use std::path::Path;

use super::model::Topology;
use super::TopoError;
use crate::lab;

/// The longest chain we build: 10.0.N.0/24 numbering runs out at 253 links, and a longer
/// chain would only slow a machine down.
pub const CHAIN_MAX: usize = 60;

/// `h1 — r1 — … — rN — h2`: two hosts joined by N routers in a line.
pub fn chain(routers: usize) -> Result<Topology, TopoError> {
    chain_text(routers).and_then(|text| Topology::parse(&text, &format!("chain:{routers}"), None))
}

fn chain_text(routers: usize) -> Result<String, TopoError> {
    if routers > CHAIN_MAX {
        return Err(TopoError::Spec(format!(
            "chain:{routers}: at most {CHAIN_MAX} routers"
        )));
    }
    let mut text = format!("name = \"chain:{routers}\"\ndescription = \"h1 and h2 joined by {routers} routers in a line\"\n");
    let names: Vec<String> = std::iter::once("h1".to_string())
        .chain((1..=routers).map(|i| format!("r{i}")))
        .chain(std::iter::once("h2".to_string()))
        .collect();
    for name in &names {
        let role = if name.starts_with('r') {
            "router"
        } else {
            "host"
        };
        let _ = writeln!(text, "[[node]]\nname = \"{name}\"\nrole = \"{role}\"");
    }
    for pair in names.windows(2) {
        let _ = writeln!(text, "[[link]]\nnodes = [\"{}\", \"{}\"]", pair[0], pair[1]);
    }
    Ok(text)
}

/// Resolve a TOPOLOGY argument.
pub fn resolve(spec: &str) -> Result<Topology, TopoError> {
    if let Some(count) = spec.strip_prefix("chain:") {
        let routers = count.parse::<usize>().map_err(|_| {
            TopoError::Spec(format!(
                "'{spec}': write chain:N with N a number of routers, e.g. chain:2"
            ))
        })?;
        return chain(routers);
    }
    let path = Path::new(spec);
    if spec.ends_with(".toml") || path.is_file() {
        return Topology::from_file(path);
    }
    if path.is_dir() && path.join("topology.toml").is_file() {
        return Topology::from_file(&path.join("topology.toml"));
    }
    match lab::find(spec) {
        Some(dir) => Topology::from_file(&dir.join("topology.toml")),
        None => Err(TopoError::Spec(format!(
            "unknown topology '{spec}': use a lab number (01), a lab name (01-ping), demo, chain:N or a path to a topology.toml (wirelab list shows them)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_two_has_four_nodes_three_links() {
        let topo = chain(2).expect("chain");
        let names: Vec<&str> = topo.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["h1", "r1", "r2", "h2"]);
        assert_eq!(topo.links.len(), 3);
        assert_eq!(
            topo.node("h2")
                .and_then(|n| n.primary4())
                .map(|a| a.to_string()),
            Some("10.0.3.2".into())
        );
    }

    #[test]
    fn bad_chain_spec_explains_itself() {
        let err = resolve("chain:x").expect_err("bad");
        assert!(err.to_string().contains("chain:N"));
        assert!(resolve("chain:999").is_err());
    }

    #[test]
    fn unknown_topology_lists_what_is_accepted() {
        let err = resolve("no-such-lab-xyz").expect_err("unknown");
        assert!(err.to_string().contains("wirelab list"));
    }
}
