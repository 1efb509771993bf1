//! TLS for custom domains: one cert-manager `Certificate` per custom host (aliases and
//! redirect hosts alike — both are probed over HTTPS) and one Gateway API `ListenerSet`
//! `{app}` giving each host an HTTPS listener on the platform Gateway.
//!
//! Why a ListenerSet (`gateway.networking.k8s.io/v1`, standard channel since Gateway API
//! v1.5): a listener is where a hostname meets its certificate, and the platform Gateway lives
//! in the platform's namespace. Adding listeners to it directly would give every org write
//! access to a shared object (and cap the platform at 64 listeners); a ListenerSet in the
//! org's namespace attaches to the Gateway by `parentRef` — the Gateway opts in with
//! `spec.allowedListeners` — and may reference certificate Secrets in its own namespace without
//! a ReferenceGrant. Routes reach these listeners only through a ListenerSet `parentRef` (a
//! Gateway `parentRef` never attaches to a ListenerSet's listeners), which [`super::routes`]
//! adds.
//!
//! Names: the Certificate of `host` is `{app}.{host}` (≤ 63 characters, see
//! [`names::per_host`]) and writes the Secret `{app}.{host}-tls`; the listener is named after
//! the host. cert-manager owns that Secret: it is not labelled as ours, so pruning never
//! touches it.

use gateway_api::listenersets::{
    ListenerSet, ListenerSetListeners, ListenerSetListenersAllowedRoutes,
    ListenerSetListenersAllowedRoutesKinds, ListenerSetListenersAllowedRoutesNamespaces,
    ListenerSetListenersAllowedRoutesNamespacesFrom, ListenerSetListenersTls,
    ListenerSetListenersTlsCertificateRefs, ListenerSetListenersTlsMode, ListenerSetParentRef,
    ListenerSetSpec,
};
use serde::Serialize;

use super::labels::HOSTNAME;
use super::{Ctx, CustomObject, GatewayRef, Hosts, IssuerRef, Object, RenderError, names};

/// Gateway API's group, of the Gateway, ListenerSet and HTTPRoute kinds.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// The API version of ListenerSet and HTTPRoute.
pub const GATEWAY_API_VERSION: &str = "gateway.networking.k8s.io/v1";
/// Most listeners one ListenerSet may hold (`spec.listeners` maxItems in the CRD).
pub const MAX_LISTENERS: usize = 64;
/// The HTTPS port of the custom-domain listeners.
const HTTPS_PORT: i32 = 443;

/// cert-manager's `Certificate.spec`, the fields Satusky sets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateSpec<'a> {
    secret_name: String,
    dns_names: [&'a str; 1],
    issuer_ref: IssuerRefSpec<'a>,
}

#[derive(Serialize)]
struct IssuerRefSpec<'a> {
    group: &'a str,
    kind: &'a str,
    name: &'a str,
}

/// The Certificates of every custom host, then the ListenerSet (none without custom hosts).
pub fn render(
    ctx: &Ctx<'_>,
    hosts: &Hosts<'_>,
    gateway: &GatewayRef,
    issuer: &IssuerRef,
) -> Result<Vec<Object>, RenderError> {
    if hosts.custom.is_empty() {
        return Ok(Vec::new());
    }
    if hosts.custom.len() > MAX_LISTENERS {
        return Err(RenderError::TooManyDomains {
            count: hosts.custom.len(),
            max: MAX_LISTENERS,
        });
    }
    let mut objects = Vec::with_capacity(hosts.custom.len() + 1);
    for host in &hosts.custom {
        objects.push(certificate(ctx, host, issuer)?);
    }
    objects.push(listener_set(ctx, &hosts.custom, gateway)?);
    Ok(objects)
}

fn certificate(ctx: &Ctx<'_>, host: &str, issuer: &IssuerRef) -> Result<Object, RenderError> {
    let name = names::per_host(ctx.app, host);
    let body = CustomObject {
        metadata: ctx.meta_with(&name, &[(HOSTNAME, host.to_owned())]),
        spec: CertificateSpec {
            secret_name: names::tls_secret(&name),
            dns_names: [host],
            issuer_ref: IssuerRefSpec {
                group: "cert-manager.io",
                kind: &issuer.kind,
                name: &issuer.name,
            },
        },
    };
    Object::new("cert-manager.io/v1", "Certificate", &body)
}

fn listener(app: &str, host: &str) -> ListenerSetListeners {
    ListenerSetListeners {
        name: host.to_owned(),
        hostname: Some(host.to_owned()),
        port: HTTPS_PORT,
        protocol: "HTTPS".to_owned(),
        tls: Some(ListenerSetListenersTls {
            mode: Some(ListenerSetListenersTlsMode::Terminate),
            certificate_refs: Some(vec![ListenerSetListenersTlsCertificateRefs {
                group: Some(String::new()),
                kind: Some("Secret".to_owned()),
                name: names::tls_secret(&names::per_host(app, host)),
                namespace: None,
            }]),
            options: None,
        }),
        // Only this org's HTTPRoutes may use the org's custom domains.
        allowed_routes: Some(ListenerSetListenersAllowedRoutes {
            kinds: Some(vec![ListenerSetListenersAllowedRoutesKinds {
                group: Some(GATEWAY_GROUP.to_owned()),
                kind: "HTTPRoute".to_owned(),
            }]),
            namespaces: Some(ListenerSetListenersAllowedRoutesNamespaces {
                from: Some(ListenerSetListenersAllowedRoutesNamespacesFrom::Same),
                selector: None,
            }),
        }),
    }
}

fn listener_set(
    ctx: &Ctx<'_>,
    custom: &[&str],
    gateway: &GatewayRef,
) -> Result<Object, RenderError> {
    let set = ListenerSet {
        metadata: ctx.meta(ctx.app),
        spec: ListenerSetSpec {
            parent_ref: ListenerSetParentRef {
                group: Some(GATEWAY_GROUP.to_owned()),
                kind: Some("Gateway".to_owned()),
                name: gateway.name.clone(),
                namespace: Some(gateway.namespace.clone()),
            },
            listeners: custom.iter().map(|host| listener(ctx.app, host)).collect(),
        },
        status: None,
    };
    Object::new(GATEWAY_API_VERSION, "ListenerSet", &set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::names::{MAX_LABEL, is_dns1123_subdomain, is_label_value};

    #[test]
    fn a_short_host_names_its_certificate_and_secret_in_full() {
        let name = names::per_host("web", "shop.example.com");
        assert_eq!(name, "web.shop.example.com");
        assert_eq!(names::tls_secret(&name), "web.shop.example.com-tls");
    }

    #[test]
    fn long_hosts_get_a_hashed_name_that_stays_a_valid_label_value() {
        // cert-manager copies the Certificate's name into label values (≤ 63).
        let app = "a-rather-long-application-name-here";
        for host in [
            format!("{}.example.com", "x".repeat(200)),
            "a-very-long-subdomain-name-for-testing.deeply.nested.customer-domain.example.com"
                .to_owned(),
            format!("{}.b.c", "a".repeat(63)),
        ] {
            let name = names::per_host(app, &host);
            assert!(name.len() <= MAX_LABEL, "{name}");
            assert!(is_label_value(&name), "{name}");
            assert!(is_dns1123_subdomain(&name), "{name}");
            assert!(is_dns1123_subdomain(&names::tls_secret(&name)), "{name}");
        }
        let a = names::per_host(app, &format!("{}.one.example", "x".repeat(60)));
        let b = names::per_host(app, &format!("{}.two.example", "x".repeat(60)));
        assert_ne!(a, b, "a shared prefix is told apart by the hash");
    }

    #[test]
    fn the_listener_references_the_secret_its_certificate_writes() {
        let host = format!("{}.example.com", "y".repeat(70));
        let l = listener("web", &host);
        let secret = &l.tls.unwrap().certificate_refs.unwrap()[0].name;
        assert_eq!(
            *secret,
            names::tls_secret(&names::per_host("web", &host)),
            "the Certificate's spec.secretName"
        );
    }
}
