//! A small backend for testing the plugin protocol against a real server (tests/protocol.rs),
//! independent of the Genesys engine. An example, so `cargo test` builds it and no release
//! build carries it.
//!
//! Paths:
//! - `data/<key>`: write stores the fields (JSON) in the server's storage, read returns them,
//!   delete removes them, list `data/` lists them. A write with a field `bad` is a bad request.
//! - `lease/<name>`: read issues a renewable lease (`ttl` seconds in the read's fields, else 60).
//!   Its renewals and revocation are recorded in storage under `events/`.
//! - `events`: read returns what was recorded: `renew`, `revoke` (lease names), `rollback` (the
//!   count of periodic calls), `initialize` (whether it ran).
//! - `ttls`: read returns the system view's default and maximum lease TTL in seconds.
//! - `pid`: read returns this process's id (to kill it from a test).
//! - `denied`: any operation is refused with permission denied.
//! - `fail`: any operation fails with an internal error.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use vault_plugin_secrets_genesys::logical::{
    Backend, Context, LeaseOptions, LeaseSecret, LogicalError, Operation, Request, Response, SpecialPaths,
};

fn main() -> std::process::ExitCode {
    vault_plugin_secrets_genesys::protocol::run(Arc::new(EchoBackend))
}

struct EchoBackend;

#[async_trait]
impl Backend for EchoBackend {
    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths::default()
    }

    async fn initialize(&self, ctx: &Context) -> Result<(), LogicalError> {
        ctx.storage.put("events/initialize", b"1".to_vec()).await?;
        Ok(())
    }

    async fn handle(&self, ctx: &Context, req: Request) -> Result<Option<Response>, LogicalError> {
        let path = req.path.trim_end_matches('/');
        match (req.operation, path) {
            (Operation::Rollback, _) => {
                let count = counter(ctx, "events/rollback").await? + 1;
                ctx.storage
                    .put("events/rollback", count.to_string().into_bytes())
                    .await?;
                Ok(None)
            }
            (Operation::Renew, _) => {
                let mut secret = lease_of(&req)?;
                record(ctx, "renew", &secret).await?;
                secret.lease.ttl = Duration::from_secs(120);
                Ok(Some(Response {
                    secret: Some(secret),
                    ..Response::default()
                }))
            }
            (Operation::Revoke, _) => {
                record(ctx, "revoke", &lease_of(&req)?).await?;
                Ok(None)
            }
            (_, "denied") => Err(LogicalError::PermissionDenied),
            (_, "fail") => Err(LogicalError::Internal("the echo backend failed on purpose".into())),
            (Operation::List, "data") => {
                let keys = ctx.storage.list("data/").await?;
                Ok(Some(Response::data(json!({ "keys": keys }))))
            }
            (op, p) if p.starts_with("data/") => data(ctx, op, p, req.data).await,
            (Operation::Read, p) if p.starts_with("lease/") => Ok(Some(issue(&p["lease/".len()..], &req.data))),
            (Operation::Read, "events") => events(ctx).await,
            (Operation::Read, "ttls") => Ok(Some(Response::data(json!({
                "default_lease_ttl": ctx.system.default_lease_ttl().await?.as_secs(),
                "max_lease_ttl": ctx.system.max_lease_ttl().await?.as_secs(),
            })))),
            (Operation::Read, "pid") => Ok(Some(Response::data(json!({ "pid": std::process::id() })))),
            (_, "events" | "ttls" | "pid") => Err(LogicalError::UnsupportedOperation),
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    async fn cleanup(&self) {
        tracing::info!("echo backend cleanup");
    }
}

async fn data(
    ctx: &Context,
    op: Operation,
    path: &str,
    fields: Map<String, Value>,
) -> Result<Option<Response>, LogicalError> {
    match op {
        Operation::Create | Operation::Update => {
            if fields.contains_key("bad") {
                return Err(LogicalError::BadRequest("bad: this field is refused".into()));
            }
            let bytes = serde_json::to_vec(&fields).map_err(|e| LogicalError::Internal(e.to_string()))?;
            ctx.storage.put(path, bytes).await?;
            Ok(None)
        }
        Operation::Read => match ctx.storage.get(path).await? {
            None => Ok(None),
            Some(bytes) => {
                let value: Value = serde_json::from_slice(&bytes).map_err(|e| LogicalError::Internal(e.to_string()))?;
                Ok(Some(Response::data(value)))
            }
        },
        Operation::Delete => {
            ctx.storage.delete(path).await?;
            Ok(None)
        }
        _ => Err(LogicalError::UnsupportedOperation),
    }
}

fn issue(name: &str, fields: &Map<String, Value>) -> Response {
    let ttl = fields
        .get("ttl")
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or(60);
    let mut internal = Map::new();
    internal.insert("name".into(), Value::String(name.into()));
    Response {
        data: json!({ "name": name }).as_object().cloned().unwrap_or_default(),
        secret: Some(LeaseSecret {
            lease: LeaseOptions {
                ttl: Duration::from_secs(ttl),
                renewable: true,
                ..LeaseOptions::default()
            },
            internal_data: internal,
            lease_id: String::new(),
        }),
        warnings: vec![format!("lease {name} issued by the echo backend")],
    }
}

fn lease_of(req: &Request) -> Result<LeaseSecret, LogicalError> {
    req.secret
        .clone()
        .ok_or_else(|| LogicalError::BadRequest("a lease operation without its lease".into()))
}

async fn record(ctx: &Context, what: &str, secret: &LeaseSecret) -> Result<(), LogicalError> {
    let name = secret.internal_data.get("name").and_then(Value::as_str).unwrap_or("?");
    ctx.storage
        .put(&format!("events/{what}/{name}"), secret.lease_id.clone().into_bytes())
        .await?;
    Ok(())
}

async fn counter(ctx: &Context, key: &str) -> Result<u64, LogicalError> {
    Ok(ctx
        .storage
        .get(key)
        .await?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

async fn events(ctx: &Context) -> Result<Option<Response>, LogicalError> {
    let mut out = Map::new();
    for what in ["renew", "revoke"] {
        let names = ctx.storage.list(&format!("events/{what}/")).await?;
        out.insert(what.into(), json!(names));
    }
    out.insert("rollback".into(), json!(counter(ctx, "events/rollback").await?));
    out.insert(
        "initialize".into(),
        json!(ctx.storage.get("events/initialize").await?.is_some()),
    );
    Ok(Some(Response::data(Value::Object(out))))
}
