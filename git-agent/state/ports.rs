//! Ports reserved per session, so parallel dev servers never fight over port 3000.
//!
//! `agent.ports = N` (or `ports = N` in `.git-agent.toml`) reserves N ports for each new
//! session. The registry `agent/ports.json` maps each reserved port to its session; it is
//! only changed under the state lock, so two concurrent `new` never get the same port. A port
//! is chosen only if it is free right now (it can be bound on 127.0.0.1), starting from a
//! place derived from the worktree path so a session tends to get the same ports again.
//! Reservations of sessions whose record is gone are released.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::state::{LockGuard, StateDir};

/// The range ports are taken from (above common dev ports, below the ephemeral range).
const FIRST: u16 = 20000;
const LAST: u16 = 29999;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    version: u32,
    /// port -> session name
    ports: BTreeMap<u16, String>,
}

fn path(state: &StateDir) -> std::path::PathBuf {
    state.root().join("ports.json")
}

fn load(state: &StateDir) -> Result<Registry> {
    match std::fs::read_to_string(path(state)) {
        Ok(text) => Ok(serde_json::from_str(&text).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry {
            version: 1,
            ..Registry::default()
        }),
        Err(e) => Err(e).context("could not read the port registry"),
    }
}

fn save(state: &StateDir, registry: &Registry) -> Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(state.root())?;
    serde_json::to_writer_pretty(
        &mut tmp,
        &Registry {
            version: 1,
            ports: registry.ports.clone(),
        },
    )?;
    tmp.persist(path(state))
        .context("could not write the port registry")?;
    Ok(())
}

fn is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Reserves `count` ports for session `name`. Requires the state lock.
pub fn reserve(
    state: &StateDir,
    _lock: &LockGuard,
    name: &str,
    count: u16,
    seed: &str,
) -> Result<Vec<u16>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut registry = load(state)?;
    // Sessions that no longer have a record hold nothing.
    registry.ports.retain(|_, owner| state.exists(owner));
    let span = u32::from(LAST - FIRST) + 1;
    let start = seed.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    }) % span;
    let mut ports = Vec::new();
    for i in 0..span {
        let port = FIRST + u16::try_from((start + i) % span).unwrap_or(0);
        if !registry.ports.contains_key(&port) && is_free(port) {
            ports.push(port);
            if ports.len() == usize::from(count) {
                break;
            }
        }
    }
    if ports.len() < usize::from(count) {
        return Err(Failure::fatal(format!(
            "could not find {count} free ports between {FIRST} and {LAST}"
        ))
        .hint("remove finished sessions to release theirs, or lower agent.ports")
        .into());
    }
    for p in &ports {
        registry.ports.insert(*p, name.to_owned());
    }
    save(state, &registry)?;
    Ok(ports)
}

/// Releases every port of session `name`. Requires the state lock.
pub fn release(state: &StateDir, _lock: &LockGuard, name: &str) -> Result<()> {
    let mut registry = load(state)?;
    let before = registry.ports.len();
    registry.ports.retain(|_, owner| owner != name);
    if registry.ports.len() != before {
        save(state, &registry)?;
    }
    Ok(())
}

/// The environment for a session's ports: `GIT_AGENT_PORT` (the first) and
/// `GIT_AGENT_PORT_1`…`GIT_AGENT_PORT_N`.
pub fn env(ports: &[u16]) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(first) = ports.first() {
        env.push(("GIT_AGENT_PORT".to_owned(), first.to_string()));
    }
    for (i, p) in ports.iter().enumerate() {
        env.push((format!("GIT_AGENT_PORT_{}", i + 1), p.to_string()));
    }
    env
}
