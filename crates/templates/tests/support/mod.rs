//! A template with a parameter of every kind, and helpers shared by the tests.
#![allow(dead_code)]

use std::cell::Cell;

use satusky_core::{ConfigError, Diagnostic};
use satusky_templates::{RandomError, RandomSource, Template, parse};

pub const PATH: &str = "templates/kv/template.toml";

/// Version 1. Line numbers matter to the tests that locate problems: keep them. (Its app
/// parts say `expose = "tcp"` as `[template]` does, where a blank line was.)
pub const KV1: &str = r#"[template]
name = "kv"
version = 1
description = "A key-value store"
expose = "tcp"

[parameters.size]
kind = "enum"
values = ["small", "medium", "large"]
default = "small"
description = "How big"

[parameters.replicas]
kind = "int"
min = 1
max = 5
default = 1
description = "Replicas"

[parameters.memory]
kind = "quantity"
unit = "memory"
min = "64Mi"
max = "2Gi"
default = "128Mi"
description = "Memory"

[parameters.persist]
kind = "bool"
default = true
description = "Keep data on disk"

[parameters.database]
kind = "string"
pattern = "[a-z_][a-z0-9_]{0,30}"
required = true
description = "The database name"

[parameters.password]
kind = "secret"
secret = "KV_PASSWORD"
length = 24
pattern = "[A-Za-z0-9]{16,64}"
description = "The password"

[outputs]
url = "kv://{database}:{password}@{host}:{port}"
name = "{app}/{database}"

[runtimes.local]
notes = "runs kv-server"
binaries = ["kv-server"]
config = '''
[app]
name = "{app}"
expose = "tcp"
replicas = {replicas}
memory = "{memory}"
command = ["kv-server", "--db", "{database}", "--size={size}"]
[env]
KV_PERSIST = "{persist}"

[secrets]
required = ["KV_PASSWORD"]
'''

[runtimes.kubernetes]
notes = "runs the image"
config = '''
[app]
name = "{app}"
expose = "tcp"
replicas = {replicas}
memory = "{memory}"
image = "example.com/kv:1"
[env]
KV_DB = "{database}"
KV_SIZE = "{size}"
KV_PERSIST = "{persist}"

[secrets]
required = ["KV_PASSWORD"]
'''
"#;

pub fn kv1() -> Template {
    parse(PATH, KV1).unwrap_or_else(|e| panic!("{e}"))
}

/// `text` with `from` replaced by `to` (exactly once).
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replacen(from, to, 1)
}

/// The diagnostics as the CLI prints them, one per line.
pub fn lines(e: &ConfigError) -> Vec<String> {
    e.diagnostics.iter().map(Diagnostic::to_string).collect()
}

/// A deterministic random source: counts up from a seed.
pub struct Counting(pub Cell<u8>);

impl Counting {
    pub fn new() -> Self {
        Counting(Cell::new(0))
    }
}

impl RandomSource for Counting {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            *b = self.0.get();
            self.0.set(self.0.get().wrapping_add(1));
        }
        Ok(())
    }
}

/// `--set` pairs.
pub fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
