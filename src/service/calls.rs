//! The one layer every `borderlog.v1` call passes through (Ledger, Witness, Audit, Reports).
//!
//! It authenticates the caller once, before the request is even decoded, and hands it to the
//! handler in the request's extensions ([`Caller::of`]); and it counts every finished call by
//! name and status code, the refusals the transport gives before a handler runs included. A
//! handler is left with its own work: parse → apply → reply.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use prost::Message;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, http};
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::{Layer, Service};

use super::{Caller, State};
use crate::pb;

/// Wraps a `borderlog.v1` service in [`Calls`].
#[derive(Clone)]
pub(crate) struct CallLayer {
    state: Arc<State>,
}

impl CallLayer {
    /// The layer for the services of the node whose state this is.
    pub fn new(state: Arc<State>) -> Self {
        CallLayer { state }
    }
}

impl<S> Layer<S> for CallLayer {
    type Service = Calls<S>;

    fn layer(&self, inner: S) -> Calls<S> {
        Calls {
            inner,
            state: self.state.clone(),
        }
    }
}

/// A service behind the call layer.
#[derive(Clone)]
pub(crate) struct Calls<S> {
    inner: S,
    state: Arc<State>,
}

impl<S: NamedService> NamedService for Calls<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Calls<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service polled ready takes this call; its clone waits for the next (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            let call = call_name(request.uri().path());
            let response = match Caller::authenticate(&state, &request) {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await?
                }
                Err(refused) => Status::from(refused).into_http(),
            };
            let response =
                super::status::transport_status(state.limits.max_message_bytes)(response);
            state.metrics.request(call, code_of(&response));
            Ok(response)
        })
    }
}

/// The status of a response as far as its headers tell: a refusal before any reply is
/// trailers-only (its status is in the headers); a reply that has begun counts as OK.
fn code_of<B>(response: &http::Response<B>) -> Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|s| s.to_str().ok())
        .and_then(|s| s.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

/// The method named by a gRPC path (`/borderlog.v1.Ledger/Submit` → `Submit`), when the proto
/// declares it; any other name is "unknown", so a client cannot grow the metrics' label set.
fn call_name(path: &str) -> &'static str {
    static METHODS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let methods = METHODS.get_or_init(|| {
        let set =
            prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap_or_default();
        set.file
            .iter()
            .flat_map(|f| &f.service)
            .flat_map(|s| &s.method)
            .filter_map(|m| m.name.clone())
            // Once per process, a few dozen bytes: the proto's method names.
            .map(|name| &*Box::leak(name.into_boxed_str()))
            .collect()
    });
    let method = path.rsplit('/').next().unwrap_or_default();
    methods.get(method).copied().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_names_are_the_protos_methods_only() {
        assert_eq!(call_name("/borderlog.v1.Ledger/Submit"), "Submit");
        assert_eq!(call_name("/borderlog.v1.Reports/GetReport"), "GetReport");
        assert_eq!(call_name("/borderlog.v1.Ledger/NoSuchCall"), "unknown");
        assert_eq!(call_name(""), "unknown");
    }
}
