//! The Genesys Cloud secrets engine: `config`, `rotate-root`, `roles/`, `creds/`, `token/`,
//! `static-roles/`, `static-creds/`, `rotate-role/`, and the periodic pass. Knows nothing of gRPC.
use async_trait::async_trait;

pub mod fields;
pub mod identity;
pub mod lease;
pub mod paths;
pub mod store;

use crate::logical::{Backend, Context, LogicalError, Request, Response, SpecialPaths};

/// The engine, as the server sees it through [`Backend`].
#[derive(Debug, Default)]
pub struct GenesysBackend {}

impl GenesysBackend {
    /// A new engine; its state lives in the server's storage, reached through each call's context.
    pub fn new() -> Self {
        Self {}
    }
}

#[async_trait]
impl Backend for GenesysBackend {
    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths::default()
    }

    async fn handle(&self, _ctx: &Context, _req: Request) -> Result<Option<Response>, LogicalError> {
        Err(LogicalError::UnsupportedPath)
    }
}
