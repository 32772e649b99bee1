//! `moby.buildkit.secrets.v1.Secrets/GetSecret`: a secret's bytes by id,
//! read from a file or an environment variable when the daemon asks (a
//! `bk.secret` mount); an unknown id is `NotFound`, as BuildKit expects.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::SecretSource;
use crate::pb::moby::buildkit::secrets::v1::secrets_server::Secrets;
use crate::pb::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};

/// The Secrets service.
#[derive(Debug, Clone)]
pub struct SecretsService {
    sources: Arc<BTreeMap<String, SecretSource>>,
}

impl SecretsService {
    /// Serves `sources` by id.
    pub fn new(sources: BTreeMap<String, SecretSource>) -> Self {
        SecretsService { sources: Arc::new(sources) }
    }
}

#[tonic::async_trait]
impl Secrets for SecretsService {
    async fn get_secret(&self, request: Request<GetSecretRequest>) -> Result<Response<GetSecretResponse>, Status> {
        let id = request.into_inner().id;
        let data = match self.sources.get(&id) {
            None => return Err(Status::not_found(format!("secret {id:?} not found"))),
            Some(SecretSource::File(path)) => tokio::fs::read(path)
                .await
                .map_err(|e| Status::not_found(format!("secret {id:?}: cannot read {}: {e}", path.display())))?,
            Some(SecretSource::Env(var)) => std::env::var_os(var)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| Status::not_found(format!("secret {id:?}: ${var} is not set")))?,
        };
        Ok(Response::new(GetSecretResponse { data }))
    }
}
