//! The records of the platform zone (and any extra static records, e.g. test zones), kept in
//! step with the store by a runtime (through `satusky_core::runtime::DnsZone`) and served by
//! [`crate::server`]. Pure data: no sockets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use satusky_core::runtime::{DnsZone, EdgeInfo};

/// The data of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    A(IpAddr),
    Cname(String),
    Txt(String),
}

#[derive(Debug, Default)]
struct Inner {
    /// name → (owner "org/app" or "" for static, records)
    names: HashMap<String, (String, Vec<RecordData>)>,
}

/// Shared, cloneable record set.
#[derive(Debug, Clone, Default)]
pub struct ZoneRecords {
    inner: Arc<RwLock<Inner>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl ZoneRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// Make `names` (an app's platform hostnames) answer with `addrs`, replacing whatever the
    /// app had before.
    pub fn set_app(&self, org: &str, app: &str, names: &[String], addrs: &[IpAddr]) {
        let records: Vec<RecordData> = addrs.iter().map(|a| RecordData::A(*a)).collect();
        self.set_app_records(org, app, names, &records);
    }

    /// Make `names` answer with `records`, replacing whatever the app had.
    pub fn set_app_records(&self, org: &str, app: &str, names: &[String], records: &[RecordData]) {
        let owner = format!("{org}/{app}");
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.names.retain(|_, (o, _)| *o != owner);
        for n in names {
            inner
                .names
                .insert(key(n), (owner.clone(), records.to_vec()));
        }
    }

    pub fn remove_app(&self, org: &str, app: &str) {
        self.set_app(org, app, &[], &[]);
    }

    /// Set a record set not owned by any app (extra zones from configuration, tests, or an
    /// out-of-band edit).
    pub fn set_static(&self, name: &str, records: Vec<RecordData>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if records.is_empty() {
            inner.names.remove(&key(name));
        } else {
            inner.names.insert(key(name), (String::new(), records));
        }
    }

    /// Replace every record set not owned by an app with `sets` (configuration reloaded):
    /// names that left it stop answering, apps' names are untouched.
    pub fn replace_static(&self, sets: Vec<(String, Vec<RecordData>)>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.names.retain(|_, (owner, _)| !owner.is_empty());
        for (name, records) in sets {
            if !records.is_empty() {
                inner.names.insert(key(&name), (String::new(), records));
            }
        }
    }

    /// The records at `name`, if the name exists.
    pub fn lookup(&self, name: &str) -> Option<Vec<RecordData>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.names.get(&key(name)).map(|(_, r)| r.clone())
    }

    /// The owner (`org/app`) of a name, if an app owns it.
    pub fn owner(&self, name: &str) -> Option<String> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .names
            .get(&key(name))
            .map(|(o, _)| o.clone())
            .filter(|o| !o.is_empty())
    }

    /// Every name, sorted.
    pub fn names(&self) -> Vec<String> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = inner.names.keys().cloned().collect();
        v.sort();
        v
    }
}

/// The zone as the control plane's [`DnsZone`]: the Kubernetes runtime programs it with the
/// Gateway's addresses when Satusky serves the platform zone itself.
impl DnsZone for ZoneRecords {
    fn set_app(&self, org: &str, app: &str, names: &[String], edge: &EdgeInfo) {
        let records: Vec<RecordData> = if edge.addresses.is_empty() {
            edge.cname_target
                .iter()
                .map(|t| RecordData::Cname(t.clone()))
                .collect()
        } else {
            edge.addresses.iter().map(|a| RecordData::A(*a)).collect()
        };
        self.set_app_records(org, app, names, &records);
    }

    fn remove_app(&self, org: &str, app: &str) {
        ZoneRecords::remove_app(self, org, app);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_records_replace_and_remove() {
        let z = ZoneRecords::new();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        z.set_app("acme", "web", &["web-acme.satusky.localhost".into()], &[lo]);
        assert_eq!(
            z.lookup("WEB-acme.satusky.localhost."),
            Some(vec![RecordData::A(lo)])
        );
        assert_eq!(
            z.owner("web-acme.satusky.localhost").as_deref(),
            Some("acme/web")
        );
        z.set_static(
            "api.example.test",
            vec![RecordData::Cname("elsewhere.test".into())],
        );
        z.remove_app("acme", "web");
        assert_eq!(z.lookup("web-acme.satusky.localhost"), None);
        assert!(
            z.lookup("api.example.test").is_some(),
            "static records stay"
        );
        assert_eq!(z.owner("api.example.test"), None);
    }

    #[test]
    fn as_a_dns_zone_it_answers_with_the_edge_addresses_or_its_hostname() {
        let z = ZoneRecords::new();
        let zone: &dyn DnsZone = &z;
        let names = ["web-acme.apps.test".to_string()];
        let gw: IpAddr = "203.0.113.7".parse().unwrap();
        let edge = EdgeInfo {
            addresses: vec![gw],
            cname_target: Some("lb.cloud.test".into()),
            probe_addr: None,
        };
        zone.set_app("acme", "web", &names, &edge);
        assert_eq!(z.lookup(&names[0]), Some(vec![RecordData::A(gw)]));
        let by_name = EdgeInfo {
            addresses: vec![],
            ..edge
        };
        zone.set_app("acme", "web", &names, &by_name);
        assert_eq!(
            z.lookup(&names[0]),
            Some(vec![RecordData::Cname("lb.cloud.test".into())])
        );
        zone.remove_app("acme", "web");
        assert_eq!(z.lookup(&names[0]), None);
    }
}
