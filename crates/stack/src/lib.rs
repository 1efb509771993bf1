//! The composition root: the two ways the control plane is wired to a runtime, in one place.
//! `satusky dev`, `satusky serve` and the in-process tests and benches that need a whole
//! control plane start one of them.
//!
//! - [`local`]: the local CA, the platform zone's DNS server (`satusky-dns`), the embedded
//!   edge, the local runtime, the prober and the lifecycle engine, over a store.
//! - [`kube`]: the Kubernetes runtime (and its Kaniko builds), the prober, the engine and,
//!   when asked, the same DNS server for the platform zone.
//! - [`ledger`]: the store as the local runtime's process ledger.
//!
//! Only this crate (and the binary on top) depends on both the server and the adapters: the
//! server knows runtimes, the prober, the ledger and the context store only through the
//! traits in `satusky-core`.
#![forbid(unsafe_code)]

pub mod kube;
pub mod ledger;
pub mod local;

pub use kube::{KubeBuilds, KubeStack, KubeStackConfig};
pub use local::{LocalStack, LocalStackConfig};

/// Starting a stack failed: what could not start, and why.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct StackError {
    pub what: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// `map_err(failed("what"))`: wraps any error as the source of a [`StackError`].
fn failed<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> StackError {
    let what = what.into();
    move |e| StackError {
        what,
        source: Box::new(e),
    }
}
