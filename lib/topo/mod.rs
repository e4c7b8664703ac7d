//! Network-namespace topologies (all labs): the engine behind `wirelab up`, `down`, `exec` and
//! `status`.
//!
//! A lab network is made of ordinary Linux parts, and `wirelab up --dry-run` prints every one:
//! - a node is a network namespace (`ip netns add wl-INSTANCE-NODE`), a private copy of the
//!   network stack with its own interfaces, addresses, routes, sysctls and firewall, and its
//!   own table of TCP connections (`plan::TCP_EHASH_ENTRIES` says why);
//! - a link is a veth pair, a virtual cable whose two ends live in two namespaces;
//! - a shared segment is a Linux bridge (a switch, or a hub) in a namespace of its own, with
//!   one veth to each member node;
//! - a router is a node with `net.ipv4.ip_forward=1`;
//! - names come from `/etc/netns/NS/hosts`, which `ip netns exec` mounts over `/etc/hosts`;
//! - a service is a process started inside a node and stopped by its PID.
//!
//! | file         | what it holds                                         |
//! |--------------|-------------------------------------------------------|
//! | `model.rs`   | the topology file, its checks, address assignment     |
//! | `builtin.rs` | `chain:N`, `demo`, finding labs                       |
//! | `segment.rs` | shared segments: a bridge joining several nodes        |
//! | `routes.rs`  | shortest-path routes from the link graph              |
//! | `plan.rs`    | the exact `ip`/`sysctl`/`nft` commands a topology needs |
//! | `impair.rs`  | link delay, loss, rate…: fields, commands, `wirelab link` |
//! | `run.rs`     | running a plan, services, state, teardown             |

pub mod builtin;
pub mod impair;
pub mod model;
pub mod plan;
pub mod routes;
pub mod run;
pub mod segment;

use std::path::PathBuf;

pub use model::{Role, Topology};
pub use plan::{Names, Plan};
pub use run::{down, down_all, exec_command, status, up, State};

/// Everything that can go wrong building or tearing down a topology, with the context a
/// student needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TopoError {
    #[error("{file}:{line}: {field}: {message}")]
    Invalid {
        file: String,
        line: usize,
        field: String,
        message: String,
    },
    #[error("{0}")]
    Spec(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    NotPermitted(String),
    #[error("instance '{0}' is already up: run `wirelab down --instance {0}` first, or pick another --instance")]
    AlreadyUp(String),
    #[error("instance '{0}' is not up: start it with `wirelab up TOPOLOGY --instance {0}`")]
    NotUp(String),
    #[error("instance '{0}' is half there (its state file is missing or damaged, after a crash?): remove it with `wirelab down --instance {0}`")]
    Damaged(String),
    #[error("interrupted; what was made so far has been taken down")]
    Interrupted,
    #[error("no node '{node}' in instance '{instance}' (nodes: {known})")]
    NoNode {
        node: String,
        instance: String,
        known: String,
    },
    #[error("bad instance name '{0}': use 1 to 16 lowercase letters, digits or '_'")]
    BadInstance(String),
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("service '{service}' on {node}: {message}")]
    Service {
        node: String,
        service: String,
        message: String,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<TopoError> for crate::cli::Failure {
    fn from(err: TopoError) -> Self {
        crate::cli::Failure::of(err)
    }
}
