//! The platform zone's DNS: the embedded authoritative DNS server (hickory-server) and the
//! record set it answers from. One server serves the zone whichever runtime runs the apps:
//! the local runtime writes its apps' names with the edge's addresses, the Kubernetes runtime
//! with the Gateway's — both through `satusky_core::runtime::DnsZone`, which [`ZoneRecords`]
//! implements.
//!
//! - [`records`]: the shared, in-memory record set (pure data, no sockets).
//! - [`server`]: the server (UDP and TCP on one address) and its pure answer logic.
//!
//! Which names belong to the zone is `satusky_core::hostnames::Zone`'s to say. This crate
//! must not touch the store, the API or a runtime.
#![forbid(unsafe_code)]

pub mod records;
pub mod server;

pub use records::{RecordData, ZoneRecords};
pub use server::{Answer, Authority, DnsError, DnsServer, TTL, start};
