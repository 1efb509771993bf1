//! Test support for the local runtime's ACME tests: a real pebble ([`pebble`]).

pub mod pebble;
