//! Test support shared by Satusky's crates (dev-only; never a normal dependency):
//!
//! - [`spec`]: app specs and hostnames as a test wants them, without a satusky.toml;
//! - [`fake`]: a [`fake::FakeRuntime`] and [`fake::FakeProber`] whose answers a test scripts
//!   call by call (and which record what they were asked);
//! - [`sim`]: [`sim::Sim`], an in-memory executor for `satusky_core::engine::next` — it keeps
//!   the app, its releases and the events like the store would, performs each action on the
//!   fakes synchronously, and lets a test advance the clock, redeploy mid-step or restart;
//! - [`process`] (feature `process`): the `satusky serve` / `satusky dev` harnesses and `1ctl`
//!   runs against them, given the binaries' paths;
//! - [`kube`] (feature `kube`): fakekube set-up, the platform Gateway;
//! - [`pebble`] (feature `pebble`): a real pebble ACME server on loopback, its issuing root,
//!   and an HTTPS GET that shows the served leaf certificate.
#![forbid(unsafe_code)]

pub mod fake;
#[cfg(feature = "kube")]
pub mod kube;
#[cfg(feature = "pebble")]
pub mod pebble;
#[cfg(feature = "process")]
pub mod process;
pub mod sim;
pub mod spec;
