//! The HTTPRoutes: `{app}` serves the generated hostname and the aliases; each redirect host
//! gets its own `{app}.{host}` answering `301` to its target.
//!
//! - parentRefs: the platform Gateway (its own listeners: the wildcard of the platform zone,
//!   plain HTTP) and, when the route has custom hosts (outside the zone), the app's
//!   ListenerSet (their HTTPS listeners; see [`super::certificates`]). A Gateway parentRef
//!   never reaches a ListenerSet's listeners, hence both.
//! - `{app}`: one rule, every path → the Service's port 80, with a `ResponseHeaderModifier`
//!   that **sets** `x-satusky-release: ORG/APP@vN` — set, not add, so an app cannot forge or
//!   double the proof (the local edge replaces it the same way).
//! - Redirects: one route per redirect host, because a rule cannot tell hosts apart and two
//!   hosts may redirect to different targets. `RequestRedirect` with the target's scheme,
//!   host, port and — when it has one — path as a prefix (`https://new.example/base` + `/a` →
//!   `/base/a`, as the local edge does), status 301 (Core support in Gateway API; the HTTP
//!   plane accepts 301 and 308). A target with a query or fragment cannot be expressed by
//!   `RequestRedirect`, and is an error rather than a silently different redirect.

use gateway_api::httproutes::{
    HttpRoute, HttpRouteParentRefs, HttpRouteRules, HttpRouteRulesBackendRefs,
    HttpRouteRulesFilters, HttpRouteRulesFiltersRequestRedirect,
    HttpRouteRulesFiltersRequestRedirectPath, HttpRouteRulesFiltersRequestRedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme, HttpRouteRulesFiltersResponseHeaderModifier,
    HttpRouteRulesFiltersResponseHeaderModifierSet, HttpRouteRulesFiltersType,
    HttpRouteRulesMatches, HttpRouteRulesMatchesPath, HttpRouteRulesMatchesPathType, HttpRouteSpec,
};
use satusky_core::runtime::release_id;

use super::certificates::{GATEWAY_API_VERSION, GATEWAY_GROUP};
use super::labels::HOSTNAME;
use super::service::SERVICE_PORT;
use super::{Ctx, GatewayRef, Hosts, Object, RenderError, names};

/// The response header that proves which release answered (SPEC §4, HTTP plane).
pub const RELEASE_HEADER: &str = "x-satusky-release";
/// Most hostnames one HTTPRoute may list (`spec.hostnames` maxItems in the CRD).
pub const MAX_ROUTE_HOSTNAMES: usize = 16;
/// The redirect status: permanent, and Core in Gateway API (308 is Extended).
pub const REDIRECT_STATUS: i64 = 301;

/// `{app}` (when the app has a serving host), then the redirect routes by host.
pub fn render(
    ctx: &Ctx<'_>,
    hosts: &Hosts<'_>,
    gateway: &GatewayRef,
) -> Result<Vec<Object>, RenderError> {
    let mut objects = Vec::new();
    if !hosts.serving.is_empty() {
        objects.push(app_route(ctx, hosts, gateway)?);
    }
    for (host, target) in &hosts.redirects {
        objects.push(redirect_route(ctx, hosts, host, target, gateway)?);
    }
    Ok(objects)
}

fn parent_refs(ctx: &Ctx<'_>, gateway: &GatewayRef, custom: bool) -> Vec<HttpRouteParentRefs> {
    let mut refs = vec![HttpRouteParentRefs {
        group: Some(GATEWAY_GROUP.to_owned()),
        kind: Some("Gateway".to_owned()),
        name: gateway.name.clone(),
        namespace: Some(gateway.namespace.clone()),
        section_name: gateway.section_name.clone(),
        port: None,
    }];
    if custom {
        refs.push(HttpRouteParentRefs {
            group: Some(GATEWAY_GROUP.to_owned()),
            kind: Some("ListenerSet".to_owned()),
            name: ctx.app.to_owned(),
            ..HttpRouteParentRefs::default()
        });
    }
    refs
}

fn every_path() -> Option<Vec<HttpRouteRulesMatches>> {
    Some(vec![HttpRouteRulesMatches {
        path: Some(HttpRouteRulesMatchesPath {
            r#type: Some(HttpRouteRulesMatchesPathType::PathPrefix),
            value: Some("/".to_owned()),
        }),
        ..HttpRouteRulesMatches::default()
    }])
}

fn app_route(
    ctx: &Ctx<'_>,
    hosts: &Hosts<'_>,
    gateway: &GatewayRef,
) -> Result<Object, RenderError> {
    if hosts.serving.len() > MAX_ROUTE_HOSTNAMES {
        return Err(RenderError::TooManyHostnames {
            route: ctx.app.to_owned(),
            count: hosts.serving.len(),
            max: MAX_ROUTE_HOSTNAMES,
        });
    }
    let has_alias = hosts.serving.iter().any(|h| hosts.custom.contains(h));
    let release_header = HttpRouteRulesFilters {
        r#type: HttpRouteRulesFiltersType::ResponseHeaderModifier,
        response_header_modifier: Some(HttpRouteRulesFiltersResponseHeaderModifier {
            set: Some(vec![HttpRouteRulesFiltersResponseHeaderModifierSet {
                name: RELEASE_HEADER.to_owned(),
                value: release_id(ctx.org, ctx.app, ctx.release),
            }]),
            ..HttpRouteRulesFiltersResponseHeaderModifier::default()
        }),
        ..HttpRouteRulesFilters::default()
    };
    let route = HttpRoute {
        metadata: ctx.meta(ctx.app),
        spec: HttpRouteSpec {
            parent_refs: Some(parent_refs(ctx, gateway, has_alias)),
            hostnames: Some(hosts.serving.iter().map(|h| (*h).to_owned()).collect()),
            rules: Some(vec![HttpRouteRules {
                matches: every_path(),
                filters: Some(vec![release_header]),
                backend_refs: Some(vec![HttpRouteRulesBackendRefs {
                    name: ctx.app.to_owned(),
                    port: Some(SERVICE_PORT),
                    ..HttpRouteRulesBackendRefs::default()
                }]),
                ..HttpRouteRules::default()
            }]),
        },
        status: None,
    };
    Object::new(GATEWAY_API_VERSION, "HTTPRoute", &route)
}

/// A redirect target split into what `RequestRedirect` can express.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: Option<u16>,
    /// The path prefix to put in front of the request's path; `None` keeps the path as is.
    pub path: Option<String>,
}

/// Why a redirect target cannot be a `RequestRedirect`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("only absolute http:// or https:// URLs can be redirected to")]
    NotHttp,
    #[error(
        "a query or fragment in the target cannot be expressed by a Gateway API \
         RequestRedirect; remove it"
    )]
    QueryOrFragment,
    #[error("{0:?} is not a port")]
    Port(String),
    #[error("{0:?} is not a hostname a redirect can name")]
    Host(String),
    #[error("{0:?} is not a URL path")]
    Path(String),
}

/// Parses an absolute `http(s)://HOST[:PORT][/PATH]` URL; the reason when it cannot be a
/// `RequestRedirect`.
pub fn parse_target(url: &str) -> Result<Target, TargetError> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(TargetError::NotHttp);
    };
    if rest.contains(['?', '#']) {
        return Err(TargetError::QueryOrFragment);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| TargetError::Port(port.to_owned()))?;
            (host, Some(port))
        }
        None => (authority, None),
    };
    let host = host.to_ascii_lowercase();
    if !names::is_dns1123_subdomain(&host) {
        return Err(TargetError::Host(host));
    }
    let path = path.trim_end_matches('/');
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TargetError::Path(path.to_owned()));
    }
    Ok(Target {
        https,
        host,
        port,
        path: (!path.is_empty()).then(|| path.to_owned()),
    })
}

fn redirect_route(
    ctx: &Ctx<'_>,
    hosts: &Hosts<'_>,
    host: &str,
    target: &str,
    gateway: &GatewayRef,
) -> Result<Object, RenderError> {
    let t = parse_target(target).map_err(|reason| RenderError::UnsupportedRedirect {
        host: host.to_owned(),
        target: target.to_owned(),
        reason,
    })?;
    let redirect = HttpRouteRulesFiltersRequestRedirect {
        scheme: Some(if t.https {
            HttpRouteRulesFiltersRequestRedirectScheme::Https
        } else {
            HttpRouteRulesFiltersRequestRedirectScheme::Http
        }),
        hostname: Some(t.host),
        port: t.port.map(i32::from),
        path: t
            .path
            .map(|prefix| HttpRouteRulesFiltersRequestRedirectPath {
                r#type: HttpRouteRulesFiltersRequestRedirectPathType::ReplacePrefixMatch,
                replace_prefix_match: Some(prefix),
                replace_full_path: None,
            }),
        status_code: Some(REDIRECT_STATUS),
    };
    let name = names::per_host(ctx.app, host);
    let route = HttpRoute {
        metadata: ctx.meta_with(&name, &[(HOSTNAME, host.to_owned())]),
        spec: HttpRouteSpec {
            parent_refs: Some(parent_refs(ctx, gateway, hosts.custom.contains(&host))),
            hostnames: Some(vec![host.to_owned()]),
            rules: Some(vec![HttpRouteRules {
                matches: every_path(),
                filters: Some(vec![HttpRouteRulesFilters {
                    r#type: HttpRouteRulesFiltersType::RequestRedirect,
                    request_redirect: Some(redirect),
                    ..HttpRouteRulesFilters::default()
                }]),
                ..HttpRouteRules::default()
            }]),
        },
        status: None,
    };
    Object::new(GATEWAY_API_VERSION, "HTTPRoute", &route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(https: bool, host: &str, port: Option<u16>, path: Option<&str>) -> Target {
        Target {
            https,
            host: host.to_owned(),
            port,
            path: path.map(str::to_owned),
        }
    }

    #[test]
    fn targets() {
        let cases = [
            (
                "https://api.example.com",
                target(true, "api.example.com", None, None),
            ),
            (
                "https://api.example.com/",
                target(true, "api.example.com", None, None),
            ),
            (
                "http://API.example.com:8080/base/",
                target(false, "api.example.com", Some(8080), Some("/base")),
            ),
            (
                "https://x.example.com/a/b",
                target(true, "x.example.com", None, Some("/a/b")),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(parse_target(url).unwrap(), want, "{url}");
        }
    }

    #[test]
    fn inexpressible_targets_are_refused() {
        for url in [
            "https://x.example.com/?from=old",
            "https://x.example.com/#top",
            "ftp://x.example.com",
            "https://x.example.com:0",
            "https://x.example.com:http",
            "https://bad_host.example.com",
        ] {
            assert!(parse_target(url).is_err(), "{url}");
        }
    }
}
