//! What a parsed template is: its metadata, typed parameters, app parts per runtime, outputs
//! and the settings `AppSpec` does not hold yet (exposure, the build context's origin, a
//! static site). Built only by `parse`, which checks every rule here; read by `values` and
//! `resolve`. No I/O.

use std::fmt;
use std::ops::Range;

use satusky_core::quantity::Quantity;
use satusky_core::secrets::SecretValue;

use crate::pattern::Pattern;
use crate::placeholder::Placeholder;

/// `NAME@VERSION`, e.g. `redis@1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TemplateRef {
    pub name: String,
    pub version: u32,
}

impl fmt::Display for TemplateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

impl TemplateRef {
    /// The release source of an app deployed from this template: `template(NAME@VERSION)`.
    pub fn source(&self) -> String {
        format!("template({self})")
    }
}

/// The runtime a template is resolved for: the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuntimeKind {
    Local,
    Kubernetes,
}

impl RuntimeKind {
    pub const ALL: [RuntimeKind; 2] = [RuntimeKind::Local, RuntimeKind::Kubernetes];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Local => "local",
            RuntimeKind::Kubernetes => "kubernetes",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the app is reached (SPEC §10 "Exposure"): the spec's own type. A template declares it
/// in `[template] expose` for the catalog, and its app parts run with it (`[app] expose`);
/// resolution refuses a template whose app part says otherwise.
pub use satusky_types::Expose;

/// Where the app's build context comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    /// Nothing to build: an image, or the machine's binaries.
    None,
    /// The files bundled with the template (`templates/NAME/context/`, embedded in the
    /// catalog).
    Bundled,
    /// The folder the user deploys (e.g. a static site's files).
    User,
}

impl ContextKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContextKind::None => "none",
            ContextKind::Bundled => "bundled",
            ContextKind::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ContextKind::None, ContextKind::Bundled, ContextKind::User]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Which quantity a `quantity` parameter holds (the syntax of `satusky_core::quantity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Cpu,
    Memory,
    Storage,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Cpu => "cpu",
            Unit::Memory => "memory",
            Unit::Storage => "storage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Unit::Cpu, Unit::Memory, Unit::Storage]
            .into_iter()
            .find(|u| u.as_str() == s)
    }

    pub(crate) fn quantity(
        self,
        text: &str,
    ) -> Result<Quantity, satusky_core::quantity::ValueError> {
        match self {
            Unit::Cpu => satusky_core::quantity::parse_cpu(text),
            Unit::Memory => satusky_core::quantity::parse_memory(text),
            Unit::Storage => satusky_core::quantity::parse_storage(text),
        }
    }
}

/// A parameter's kind and the rules that come with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    String {
        pattern: Option<Pattern>,
        /// In characters.
        max_length: usize,
    },
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Bool,
    Enum {
        values: Vec<String>,
    },
    Quantity {
        unit: Unit,
        min: Option<Quantity>,
        max: Option<Quantity>,
    },
    /// Never in the app part: written to the app's secrets as `secret`; generated (`length`
    /// characters of `[A-Za-z0-9]`) when not given.
    Secret {
        secret: String,
        length: usize,
        pattern: Option<Pattern>,
    },
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::String { .. } => "string",
            Kind::Int { .. } => "int",
            Kind::Bool => "bool",
            Kind::Enum { .. } => "enum",
            Kind::Quantity { .. } => "quantity",
            Kind::Secret { .. } => "secret",
        }
    }
}

/// A parameter's value, typed by its kind (quantities and enum values as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    Secret(SecretValue),
}

impl Value {
    /// The text form: what `--set` takes, what is stored, what a plain text receives.
    pub fn text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Secret(s) => s.expose().to_owned(),
        }
    }
}

/// One typed parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// `[a-z][a-z0-9_]*`.
    pub name: String,
    pub description: String,
    pub kind: Kind,
    /// Must be given (or stored from an earlier deploy): no default.
    pub required: bool,
    /// Checked against the parameter's rules when the template is read. Never for secrets.
    pub default: Option<Value>,
}

/// A text of the template with placeholders, where it sits in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    pub text: String,
    /// Byte offset of `text` in the template file (its content, after any delimiter).
    pub offset: usize,
    pub placeholders: Vec<Placeholder>,
}

impl Text {
    /// The template's text, placeholders unreplaced.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The file's byte range of the placeholder `p`.
    pub fn span_of(&self, p: &Placeholder) -> Range<usize> {
        self.offset + p.range.start..self.offset + p.range.end
    }
}

/// One output: a text a binding writes into another app's secrets. `{host}` and `{port}`
/// stand for the app's internal address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTemplate {
    pub name: String,
    pub(crate) text: Text,
}

impl OutputTemplate {
    /// The text as the template writes it, e.g. `redis://:{password}@{host}:{port}`.
    pub fn text(&self) -> &str {
        self.text.as_str()
    }
}

/// How a template runs on one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSupport {
    pub runtime: RuntimeKind,
    /// For people: what runs, what the machine needs.
    pub notes: String,
    /// Programs the local runtime needs (a deploy without them is refused, `BinaryNotFound`).
    pub binaries: Vec<String>,
    /// Folders looked in besides PATH, each with at most one `*` (e.g. PostgreSQL's
    /// `/usr/lib/postgresql/*/bin`).
    pub paths: Vec<String>,
    /// What provides the binaries, for people (e.g. `postgresql`).
    pub packages: Option<String>,
    /// The app part: a `satusky.toml` with placeholders.
    pub(crate) config: Text,
}

impl RuntimeSupport {
    /// The app part, placeholders unreplaced.
    pub fn config(&self) -> &str {
        self.config.as_str()
    }
}

/// A parsed, checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Where it was read from (`templates/redis/template.toml`), for diagnostics.
    pub path: String,
    pub(crate) source: String,
    pub reference: TemplateRef,
    pub description: String,
    pub expose: Expose,
    pub context: ContextKind,
    /// The secret `--bind APP` writes the `url` output into (e.g. `DATABASE_URL`).
    pub bind_as: Option<String>,
    /// In the file's order.
    pub parameters: Vec<Parameter>,
    pub outputs: Vec<OutputTemplate>,
    /// In [`RuntimeKind::ALL`]'s order.
    pub runtimes: Vec<RuntimeSupport>,
}

impl Template {
    pub fn name(&self) -> &str {
        &self.reference.name
    }

    pub fn version(&self) -> u32 {
        self.reference.version
    }

    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    pub fn runtime(&self, runtime: RuntimeKind) -> Option<&RuntimeSupport> {
        self.runtimes.iter().find(|r| r.runtime == runtime)
    }
}
