//! Issue #12, acceptance 6: every reason of `satusky_types::Reason` (each documented in
//! docs/reasons.md) is produced by the code that produces it in the product, and every
//! `failed` plane among them tells the user what to do next.
//!
//! One walk, plane by plane: each `*_reasons` function drives a real producer — the engine's
//! step function through the testkit's `Sim` (and a real `LocalRuntime` answering its apply
//! and observe), the lifecycle's judgements, the stale rule, the Kubernetes runtime's
//! `observe` over Deployment/Pod/HTTPRoute/Gateway JSON, the local edge's route plane, the
//! probe's DNS/TLS/HTTP verdicts — with inputs that yield each reason. No test here builds a
//! plane itself. Then it asserts:
//! 1. every reason was produced at least once, except exactly those in [`NOT_PRODUCED_YET`];
//! 2. every produced `failed` plane has a non-empty remediation;
//! 3. the `state` column of docs/reasons.md names a state each reason was produced with.
//!
//! In memory and fast: no network, no process started (the I/O paths have their own
//! real-protocol tests); the local runtime only gets a temporary state directory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use rustls::{CertificateError, Error as TlsError};
use satusky_core::engine::{
    Action, StatusDoc, endpoint_targets, initial_doc, metadata_plane, observed_at_rest, report,
    unusable_release,
};
use satusky_core::runtime::{BuildFailure, EdgeInfo, EndpointTarget, Runtime, WorkloadObservation};
use satusky_kube::observe::{self, ParentRef};
use satusky_local::ledger::MemoryLedger;
use satusky_local::routes::{Route, RouteTable};
use satusky_local::runtime::route_plane;
use satusky_local::{LocalConfig, LocalRuntime};
use satusky_probe::dns_verdict::{DnsObservation, DnsRecord, QueryOutcome, Resolvers, dns_plane};
use satusky_probe::http_verdict::{HttpObservation, RedirectChain, chain_plane, http_plane};
use satusky_probe::tls_verdict::{ConnectFailure, LeafInfo, failure_planes, tls_plane};
use satusky_testkit::fake::observed;
use satusky_testkit::sim::{Sim, ZONE};
use satusky_testkit::spec;
use satusky_types::{AppSpec, Hostname, Plane, PlaneState, Reason};
use serde_json::{Value, json};

/// Reasons no code produces yet, each with the issue that will. The walk asserts this is
/// exactly the set of reasons it did not see: once one is produced, it must leave the list.
const NOT_PRODUCED_YET: &[Reason] = &[
    // A hostname held by another app of the same org is refused at `PUT` with 409 whose
    // details carry `reason: HostnameTaken` (tests/admission.rs), before any release or status
    // document exists, so no plane says it; across orgs a claim waits for its own proof
    // (OwnershipUnverified, OwnershipConflict, OwnershipLost).
    Reason::HostnameTaken,
    // Issue #13: neither issuer waits for DNS before ordering yet (a failed challenge says
    // what the ACME server saw instead).
    Reason::AwaitingDns,
];

const ORG: &str = "acme";
const APP: &str = "web";
const CONTEXT: &str = "sha256:0123";
/// The generated hostname of acme/web in the sim's zone.
const HOST: &str = "web-acme.apps.test";
const ALIAS: &str = "shop.example.com";
const REDIRECT: &str = "www.example.com";
const EDGE: &str = "203.0.113.7";

/// One plane a producer returned, with what produced it (for the failure messages).
struct Produced {
    by: &'static str,
    plane: Plane,
}

fn by(by: &'static str, planes: impl IntoIterator<Item = Plane>) -> Vec<Produced> {
    planes
        .into_iter()
        .map(|plane| Produced { by, plane })
        .collect()
}

// ---- engine helpers -------------------------------------------------------------------------

fn sim(spec: AppSpec, context: Option<&str>) -> Sim {
    Sim::deploy(ORG, APP, spec, context)
}

/// The build and workload planes of a status document (what the engine decides itself).
fn own_planes(doc: &StatusDoc) -> [Plane; 2] {
    [doc.build.clone(), doc.workload.plane.clone()]
}

/// Every plane of a status document, endpoints included.
fn all_planes(doc: &StatusDoc) -> Vec<Plane> {
    let mut out = own_planes(doc).to_vec();
    for e in &doc.endpoints {
        out.extend(e.planes().into_iter().map(|(_, p)| p.clone()));
    }
    out
}

/// Step `s` until the engine stops (at most 64 steps), moving the clock by `jump` after each;
/// the build and workload planes of every status document it saved.
fn drive(s: &mut Sim, jump: Duration) -> Vec<Plane> {
    let mut out = Vec::new();
    for _ in 0..64 {
        let d = s.step();
        if let Some(doc) = &d.status {
            out.extend(own_planes(doc));
        }
        if d.action == Action::Stop {
            return out;
        }
        s.advance(jump);
    }
    panic!("the engine did not stop within 64 steps");
}

/// Deploy the default app and answer its rollout with `observations` in turn.
fn rollout(observations: Vec<WorkloadObservation>) -> Vec<Plane> {
    let mut s = sim(spec::app(APP), Some(CONTEXT));
    for o in observations {
        s.runtime.on_observe(Ok(o));
    }
    drive(&mut s, Duration::ZERO)
}

/// A sim of `spec` (replicas as given) whose v1 rolled out and is active, at rest.
fn at_rest(replicas: u32) -> Sim {
    let mut s = sim(
        AppSpec {
            replicas,
            ..spec::app(APP)
        },
        Some(CONTEXT),
    );
    s.runtime.on_observe(Ok(observed(1, replicas, replicas)));
    drive(&mut s, Duration::ZERO);
    assert_eq!(s.app.active_release, Some(1), "v1 is active");
    assert!(s.app.work.is_none(), "at rest");
    s
}

// ---- generic ---------------------------------------------------------------------------------

fn generic_reasons() -> Vec<Produced> {
    let mut out = Vec::new();
    // No runtime attached: build and workload wait for one, endpoint planes wait too.
    let s = sim(spec::app(APP), Some(CONTEXT));
    out.extend(by(
        "engine::initial_doc without a runtime",
        all_planes(&initial_doc(&s.app, false, s.now)),
    ));
    // No prober configured: the probed planes are not checked.
    let mut s = sim(spec::app(APP), Some(CONTEXT));
    s.prober = None;
    s.runtime.on_observe(Ok(observed(1, 1, 1)));
    drive(&mut s, Duration::ZERO);
    // The route planes are the fake runtime's: only the engine's own planes count here.
    let doc = s.app.status.as_ref().expect("a status document");
    let mut planes = own_planes(doc).to_vec();
    for e in &doc.endpoints {
        planes.extend([
            e.metadata.clone(),
            e.dns.clone(),
            e.tls.clone(),
            e.http.clone(),
        ]);
    }
    out.extend(by("engine::next endpoints without a prober", planes));
    // A restarted control plane: planes last seen ready before it started are not trusted.
    let s = at_rest(1);
    let r = report(&s.app, true, s.now + 1_000);
    let mut planes = vec![r.build, r.workload.plane];
    for e in &r.endpoints {
        planes.extend(e.planes().into_iter().map(|(_, p)| p.clone()));
    }
    out.extend(by("engine::report after a restart (stale rule)", planes));
    // An app that is not public (`expose = "tcp"`): its endpoint planes do not apply.
    let mut s = sim(
        AppSpec {
            expose: satusky_types::Expose::Tcp,
            ..spec::app(APP)
        },
        Some(CONTEXT),
    );
    s.runtime.on_observe(Ok(observed(1, 1, 1)));
    drive(&mut s, Duration::ZERO);
    let doc = s.app.status.as_ref().expect("a status document");
    out.extend(by(
        "engine::next of a tcp app (not public)",
        all_planes(doc),
    ));
    out
}

// ---- build -----------------------------------------------------------------------------------

fn build_reasons() -> Vec<Produced> {
    let mut out = Vec::new();
    let s = sim(spec::app(APP), Some(CONTEXT));
    out.extend(by(
        "engine::initial_doc",
        own_planes(&initial_doc(&s.app, true, s.now)),
    ));
    let s = sim(spec::image_app(APP, "ghcr.io/acme/web:1"), None);
    out.extend(by(
        "engine::initial_doc of an image",
        own_planes(&initial_doc(&s.app, true, s.now)),
    ));
    // Building, built, rolled out.
    out.extend(by(
        "engine::next build → rollout",
        rollout(vec![observed(1, 1, 1)]),
    ));
    // The build command fails.
    let mut s = sim(spec::app(APP), Some(CONTEXT));
    s.runtime.on_build(
        Err(BuildFailure {
            message: "the build command exited with status 2".into(),
            log_tail: vec!["error[E0425]: cannot find value `x`".into()],
            timed_out: false,
        }),
        &[],
    );
    out.extend(by(
        "engine::next, a failed build",
        drive(&mut s, Duration::ZERO),
    ));
    // The runtime stopped the build at its timeout.
    let mut s = sim(spec::app(APP), Some(CONTEXT));
    s.runtime.on_build(
        Err(BuildFailure {
            message: String::new(),
            log_tail: vec!["still compiling".into()],
            timed_out: true,
        }),
        &[],
    );
    out.extend(by(
        "engine::next, a build past its timeout",
        drive(&mut s, Duration::ZERO),
    ));
    // Neither a context nor an image: nothing to build or run.
    let mut s = sim(
        AppSpec {
            image: None,
            ..spec::app(APP)
        },
        None,
    );
    out.extend(by(
        "engine::next, nothing to build",
        drive(&mut s, Duration::ZERO),
    ));
    out
}

// ---- workload: the engine's judgements -------------------------------------------------------

fn workload_reasons() -> Vec<Produced> {
    let mut out = Vec::new();
    // The runtime still reports nothing, then a replica not ready, then one whose readiness
    // check fails, then ready.
    let mut nothing = observed(1, 1, 0);
    nothing.release = None;
    let mut check_fails = observed(1, 1, 0);
    check_fails.waiting =
        Some("the readiness check GET /healthz answered 500, not 2xx: \"boom\"".into());
    out.extend(by(
        "engine::next rollout (judge_workload)",
        rollout(vec![
            nothing,
            observed(1, 1, 0),
            check_fails,
            observed(1, 1, 1),
        ]),
    ));
    // A static site: its files in place, no replicas (the local runtime's observation).
    let mut site = observed(1, 1, 0);
    site.static_files = Some("2 files from public".into());
    out.extend(by(
        "engine::next rollout of a static site (judge_workload)",
        rollout(vec![site]),
    ));
    // Never ready: past the progress deadline.
    let mut s = sim(spec::app(APP), Some(CONTEXT));
    s.runtime.on_observe(Ok(observed(1, 1, 0)));
    out.extend(by(
        "engine::next rollout past the progress deadline",
        drive(&mut s, Duration::from_secs(120)),
    ));
    // At rest: one of two replicas exited (degraded), then none serves.
    let s = at_rest(2);
    let mut one_down = observed(1, 2, 1);
    one_down.exited =
        Some("replica 1 of v1 exited with status 3 after 2.0 s; last output:\nboom".into());
    let mut all_down = observed(1, 2, 2);
    all_down.exited = one_down.exited.clone();
    all_down.recovering = 2;
    let mut failing = observed(1, 2, 0);
    failing.waiting = Some("nothing listens on 127.0.0.1:$PORT (connection refused)".into());
    for o in [one_down, all_down, failing] {
        let (doc, _) = observed_at_rest(&s.app, &o, s.now).expect("a change at rest");
        out.extend(by(
            "engine::observed_at_rest (judge_active)",
            [doc.workload.plane],
        ));
    }
    // A stored release that no longer validates.
    let s = sim(spec::app(APP), Some(CONTEXT));
    let d = unusable_release(&s.app, 1, "spec.port: 70000 is not a port", s.now);
    out.extend(by(
        "engine::unusable_release",
        own_planes(d.status.as_ref().expect("a status document")),
    ));
    out
}

// ---- workload: the local runtime ------------------------------------------------------------

/// Deploy `spec` through the engine, with the real local runtime answering each apply and the
/// observation right after it (replayed to the engine through the sim's fake runtime).
async fn local_rollout(rt: &LocalRuntime, spec: AppSpec, context: Option<&str>) -> Vec<Plane> {
    let mut s = sim(spec, context);
    let mut out = Vec::new();
    for _ in 0..32 {
        let d = s.decide();
        if let Some(doc) = &d.status {
            out.extend(own_planes(doc));
        }
        if d.action == Action::Stop {
            return out;
        }
        if let Action::Apply(desired) = &d.action {
            s.runtime.on_apply(rt.apply(desired.clone()).await);
            s.runtime
                .on_observe(rt.observe(ORG.into(), APP.into()).await);
        }
        s.perform(&d);
    }
    panic!("the engine did not stop within 32 steps");
}

async fn local_runtime_reasons() -> Vec<Produced> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = LocalConfig {
        state_dir: dir.path().to_path_buf(),
        zone: satusky_core::hostnames::Zone::parse(ZONE).expect("the zone"),
        edge_addresses: vec![EDGE.parse().expect("an address")],
        probe_addr: None,
        isolation: satusky_local::isolation::Isolation::SameUser,
        ready_recheck: satusky_local::supervisor::READY_RECHECK,
    };
    let rt = LocalRuntime::start(
        config,
        RouteTable::new(),
        Arc::new(satusky_dns::ZoneRecords::new()),
        Arc::new(MemoryLedger::new()),
    )
    .await
    .expect("the local runtime starts");

    // Refused at `PUT` before anything is recorded (the API answers 422 with this reason).
    let no_command = AppSpec {
        command: None,
        image: None,
        ..spec::app(APP)
    };
    let refused = rt
        .admit(&satusky_testkit::sim::validated(no_command))
        .expect_err("no command, no image: refused");
    assert_eq!(refused.failure(), Some(Reason::NoCommand), "{refused}");

    let mut out = Vec::new();
    // An image, nothing to build: the local runtime cannot run containers.
    out.extend(by(
        "LocalRuntime apply/observe of an image",
        local_rollout(&rt, spec::image_app(APP, "ghcr.io/acme/web:1"), None).await,
    ));
    // An image with an uploaded context (admitted): built, but no command to start.
    out.extend(by(
        "LocalRuntime apply/observe of a build without a command",
        local_rollout(
            &rt,
            spec::image_app(APP, "ghcr.io/acme/web:1"),
            Some(CONTEXT),
        )
        .await,
    ));
    // A release whose artifact is not in the local artifact store.
    out.extend(by(
        "LocalRuntime apply of a missing artifact",
        local_rollout(&rt, spec::app(APP), Some(CONTEXT)).await,
    ));
    rt.shutdown().await;
    out
}

// ---- workload: Kubernetes --------------------------------------------------------------------

fn deployment(conditions: Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "generation": 3,
                     "annotations": {observe::RELEASE_ANNOTATION: "1"}},
        "spec": {"replicas": 1, "selector": {}, "template": {}},
        "status": {"observedGeneration": 3, "replicas": 1, "updatedReplicas": 1,
                   "readyReplicas": 0, "availableReplicas": 0, "conditions": conditions},
    }))
    .expect("a Deployment")
}

fn pod_waiting(reason: &str, message: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d9f-abcde"},
        "status": {"containerStatuses": [{
            "name": "app", "image": "ghcr.io/acme/web:1", "imageID": "", "ready": false,
            "restartCount": 4,
            "state": {"waiting": {"reason": reason, "message": message}},
            "lastState": {"terminated": {"exitCode": 1, "message": "listen: address in use"}},
        }]},
    }))
    .expect("a Pod")
}

fn pod_unschedulable() -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d9f-fghij"},
        "status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
        }]},
    }))
    .expect("a Pod")
}

fn kube_workload_reasons() -> Vec<Produced> {
    let deadline = deployment(json!([{
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet \"web-7d9f\" has timed out progressing.",
    }]));
    let fine = deployment(json!([]));
    let cases = [
        (&deadline, vec![]),
        (
            &fine,
            vec![pod_waiting("CrashLoopBackOff", "back-off 40s restarting")],
        ),
        (
            &fine,
            vec![pod_waiting("ImagePullBackOff", "Back-off pulling image")],
        ),
        (&fine, vec![pod_waiting("ErrImagePull", "manifest unknown")]),
        (&fine, vec![pod_unschedulable()]),
    ];
    cases
        .into_iter()
        .flat_map(|(d, pods)| {
            by(
                "kube observe::workload → engine::next",
                rollout(vec![observe::workload(d, &pods)]),
            )
        })
        .collect()
}

// ---- certificate issuers ----------------------------------------------------------------------

/// The TLS steps the runtimes' issuers name: the local ACME issuer's plan, cert-manager's
/// objects read by the Kubernetes runtime.
fn issuer_reasons() -> Vec<Produced> {
    use satusky_local::acme::AcmeTimings;
    use satusky_local::acme::plan::{HostStatus, Step, plane};
    let now = std::time::SystemTime::now();
    let dir = "https://acme.test/dir";
    let mut acme = Vec::new();
    for step in [Step::Issuing, Step::ChallengePending] {
        acme.push(plane(
            &HostStatus {
                step,
                ..HostStatus::new()
            },
            now,
            dir,
        ));
    }
    let mut failed = HostStatus::new();
    failed.fail(
        "rejected (urn:ietf:params:acme:error:connection)".into(),
        now,
        &AcmeTimings::default(),
    );
    acme.push(plane(&failed, now, dir));
    let mut produced = by("local acme::plan::plane", acme);

    use satusky_kube::issuance::{Observed, certificate_plane};
    let issuer = satusky_kube::IssuerRef::default();
    let see = |cert: Option<&Value>, challenges: &[Value]| {
        certificate_plane(
            ALIAS,
            &issuer,
            &Observed {
                name: "web.shop",
                certificate: cert,
                requests: &[],
                orders: &[],
                challenges,
            },
        )
    };
    let failing = json!({"metadata": {"name": "web.shop", "generation": 1},
        "status": {"conditions": [{"type": "Issuing", "status": "False", "reason": "Failed",
            "message": "the ACME order failed", "observedGeneration": 1}]}});
    let issuing = json!({"metadata": {"name": "web.shop", "generation": 1},
        "status": {"conditions": [{"type": "Issuing", "status": "True", "reason": "DoesNotExist",
            "message": "Issuing certificate as Secret does not exist", "observedGeneration": 1}]}});
    produced.extend(by(
        "kube issuance::certificate_plane",
        [
            see(None, &[]),
            see(Some(&issuing), &[]),
            see(Some(&failing), &[]),
        ],
    ));
    produced
}

// ---- metadata --------------------------------------------------------------------------------

fn metadata_reasons() -> Vec<Produced> {
    use satusky_core::ownership::{Proof, describe, txt_value};
    use satusky_types::OwnershipState;
    let mut s = sim(spec::app(APP), Some(CONTEXT));
    let host = "shop.example.test";
    let alias = spec::alias(host);
    let with = |state: OwnershipState, message: String| {
        let mut d = spec::domain(ORG, &alias, state);
        d.ownership.message = message;
        d
    };
    let own = txt_value(ORG, host);
    let conflict = describe(
        host,
        &own,
        &Proof::Conflict {
            rival: txt_value("other", host),
        },
    );
    let mut planes = vec![metadata_plane(&s.app, &s.app.hostnames[0].clone())];
    for d in [
        with(OwnershipState::Verified, String::new()),
        with(
            OwnershipState::Pending,
            describe(host, &own, &Proof::Missing),
        ),
        with(OwnershipState::Pending, conflict),
        with(OwnershipState::Lost, String::new()),
        with(OwnershipState::Grace, String::new()),
    ] {
        s.app.domains = vec![d];
        planes.push(metadata_plane(&s.app, &alias));
    }
    let mut produced = by("engine::metadata_plane", planes);
    // An unproven domain's TLS plane: no certificate before the proof.
    s.app.hostnames = vec![alias.clone()];
    s.app.domains = vec![with(OwnershipState::Pending, String::new())];
    let doc = initial_doc(&s.app, true, s.now);
    let route = Plane::new(PlaneState::Pending, Reason::NotChecked, "");
    let reports =
        satusky_core::engine::endpoint_reports(&s.app, &doc, &Ok(vec![route]), None, s.now);
    produced.extend(by(
        "engine::endpoint_reports (unproven)",
        reports.into_iter().map(|r| r.tls),
    ));
    produced
}

// ---- route -----------------------------------------------------------------------------------

fn http_route(hostnames: &[&str], accepted: &str, resolved: &str) -> Value {
    json!({
        "metadata": {"name": APP, "generation": 2},
        "spec": {"hostnames": hostnames},
        "status": {"parents": [{
            "parentRef": {"name": "platform", "namespace": "satusky-system"},
            "conditions": [
                {"type": "Accepted", "status": accepted, "observedGeneration": 2,
                 "reason": if accepted == "True" { "Accepted" } else { "NotAllowedByListeners" },
                 "message": "route checked"},
                {"type": "ResolvedRefs", "status": resolved, "observedGeneration": 2,
                 "reason": if resolved == "True" { "ResolvedRefs" } else { "BackendNotFound" },
                 "message": "service web not found"},
            ],
        }]},
    })
}

fn gateway(programmed: &str, addresses: Value) -> Value {
    json!({
        "metadata": {"name": "platform", "namespace": "satusky-system"},
        "status": {
            "conditions": [{"type": "Programmed", "status": programmed}],
            "listeners": [{"name": "https", "conditions": [{"type": "Programmed", "status": programmed}]}],
            "addresses": addresses,
        },
    })
}

fn kube_route_reasons() -> Vec<Produced> {
    let hosts = [spec::generated(ORG, APP, ZONE)];
    let parent = ParentRef {
        namespace: "satusky-system".into(),
        name: "platform".into(),
    };
    let with_address = json!([{"type": "IPAddress", "value": EDGE}]);
    let ok_gw = gateway("True", with_address.clone());
    let unprogrammed = gateway("False", with_address);
    let no_address = gateway("True", json!([]));
    let mut unreported = http_route(&[HOST], "True", "True");
    unreported["status"]["parents"] = json!([]);
    let cases: Vec<(Vec<Value>, Option<&Value>)> = vec![
        (vec![http_route(&[HOST], "True", "True")], Some(&ok_gw)),
        (vec![http_route(&[HOST], "False", "True")], Some(&ok_gw)),
        (vec![http_route(&[HOST], "True", "False")], Some(&ok_gw)),
        (vec![], Some(&ok_gw)),
        (
            vec![http_route(&[HOST, "stray.example.com"], "True", "True")],
            Some(&ok_gw),
        ),
        (
            vec![http_route(&[HOST], "True", "True")],
            Some(&unprogrammed),
        ),
        (vec![http_route(&[HOST], "True", "True")], Some(&no_address)),
        (vec![unreported], Some(&ok_gw)),
    ];
    cases
        .into_iter()
        .flat_map(|(routes, gw)| {
            by(
                "kube observe::route_planes",
                observe::route_planes(&hosts, &routes, gw, &parent),
            )
        })
        .collect()
}

fn local_route_reasons() -> Vec<Produced> {
    let table = RouteTable::new();
    let alias = spec::alias(ALIAS);
    let redirect = spec::redirect(REDIRECT, &format!("https://{ALIAS}"));
    let serve = |org: &str, upstreams: usize| Route::Serve {
        org: org.into(),
        app: APP.into(),
        release_id: format!("{org}/{APP}@v1"),
        upstreams: (0..upstreams)
            .map(|i| ([127, 0, 0, 1], 9000 + i as u16).into())
            .collect(),
    };
    let mut planes = Vec::new();
    let mut plane = |h: &Hostname, serving| planes.push(route_plane(&table, ORG, APP, h, serving));
    plane(&alias, false); // no release serves yet
    plane(&alias, true); // serving, but no route
    table.set_host(ALIAS, serve(ORG, 1));
    plane(&alias, true);
    table.set_host(REDIRECT, serve(ORG, 1)); // a redirect host served as an app
    plane(&redirect, true);
    table.set_host(ALIAS, serve("bobco", 1)); // another app's route
    plane(&alias, true);
    by("local runtime route_plane", planes)
}

// ---- endpoint targets (as the engine hands them to the prober) -------------------------------

/// The engine's probe targets for the generated hostname, a custom domain and a redirect host
/// of acme/web v1, with the edge at [`EDGE`].
fn targets() -> [EndpointTarget; 3] {
    let mut s = sim(spec::app(APP), Some(CONTEXT));
    s.app.hostnames = vec![
        spec::generated(ORG, APP, ZONE),
        spec::alias(ALIAS),
        spec::redirect(REDIRECT, &format!("https://{ALIAS}")),
    ];
    let zone = satusky_core::Zone::parse(ZONE).expect("the zone");
    let edge = EdgeInfo {
        addresses: vec![EDGE.parse().expect("an address")],
        ..EdgeInfo::default()
    };
    endpoint_targets(&s.app, 1, &zone, &edge)
        .try_into()
        .expect("three targets")
}

// ---- DNS -------------------------------------------------------------------------------------

fn dns_reasons() -> Vec<Produced> {
    let [generated, alias, _] = targets();
    let addr = |ip: &str| QueryOutcome::Answer(vec![DnsRecord::Address(ip.parse().expect("ip"))]);
    let asked = Resolvers {
        servers: vec!["127.0.0.1:5353".parse().expect("an address")],
        from_system: false,
    };
    let obs = |a: QueryOutcome, aaaa: QueryOutcome| DnsObservation {
        a,
        aaaa,
        asked: asked.clone(),
    };
    let unreachable = || QueryOutcome::Unreachable("nothing within 2s".into());
    let cases = [
        obs(addr(EDGE), QueryOutcome::NoData),
        obs(QueryOutcome::NxDomain, QueryOutcome::NxDomain),
        obs(QueryOutcome::NoData, QueryOutcome::NoData),
        obs(addr("198.51.100.9"), QueryOutcome::NoData),
        obs(
            QueryOutcome::Failure("SERVFAIL".into()),
            QueryOutcome::Failure("SERVFAIL".into()),
        ),
        obs(unreachable(), unreachable()),
        obs(QueryOutcome::Timeout, QueryOutcome::Timeout),
    ];
    cases
        .iter()
        .flat_map(|o| [dns_plane(o, &generated), dns_plane(o, &alias)])
        .map(|plane| Produced {
            by: "probe dns_verdict::dns_plane",
            plane,
        })
        .collect()
}

// ---- TLS -------------------------------------------------------------------------------------

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn tls_reasons() -> Vec<Produced> {
    let leaf = |not_before: i64, not_after: i64| LeafInfo {
        not_before,
        not_after,
        issuer: "CN=Satusky local CA".into(),
        names: vec!["other.example.com".into()],
    };
    let valid = leaf(NOW - 30 * DAY, NOW + 60 * DAY);
    let cert = |e: CertificateError| Err(TlsError::InvalidCertificate(e));
    let cases: [(Result<(), TlsError>, LeafInfo); 7] = [
        (Ok(()), valid.clone()),
        (Ok(()), leaf(NOW - 80 * DAY, NOW + 3 * DAY)),
        (cert(CertificateError::UnknownIssuer), valid.clone()),
        (cert(CertificateError::NotValidForName), valid.clone()),
        (
            cert(CertificateError::Expired),
            leaf(NOW - 90 * DAY, NOW - DAY),
        ),
        (
            cert(CertificateError::NotValidYet),
            leaf(NOW + DAY, NOW + 90 * DAY),
        ),
        (cert(CertificateError::Revoked), valid),
    ];
    let mut out: Vec<Produced> = cases
        .iter()
        .map(|(verdict, leaf)| Produced {
            by: "probe tls_verdict::tls_plane",
            plane: tls_plane(HOST, verdict, Some(leaf), NOW),
        })
        .collect();
    // The connection failed before a TLS session: both the TLS and the HTTP plane.
    let limits = (Duration::from_secs(2), Duration::from_secs(2));
    let addr = format!("{EDGE}:443");
    for failure in [
        ConnectFailure::ConnectTimeout,
        ConnectFailure::Refused("Connection refused (os error 111)".into()),
        ConnectFailure::Reset("Connection reset by peer (os error 104)".into()),
        ConnectFailure::Connect("Network is unreachable (os error 101)".into()),
        ConnectFailure::HandshakeTimeout,
        ConnectFailure::NoCertificate("received fatal alert: UnrecognisedName".into()),
        ConnectFailure::Handshake("received fatal alert: ProtocolVersion".into()),
        ConnectFailure::NotTls("HTTP/1.1 400 Bad Request".into()),
    ] {
        let (tls, http) = failure_planes(&addr, &failure, limits);
        out.extend(by("probe tls_verdict::failure_planes", [tls, http]));
    }
    out
}

// ---- HTTP ------------------------------------------------------------------------------------

fn http_reasons() -> Vec<Produced> {
    let [generated, _, redirect] = targets();
    let this = Some("acme/web@v1".to_string());
    let answer =
        |status: u16, location: Option<&str>, release: &Option<String>| HttpObservation::Response {
            status,
            location: location.map(str::to_string),
            release: release.clone(),
        };
    let served = [
        answer(200, None, &this),
        answer(404, None, &this),
        answer(502, None, &None),
        answer(503, None, &None),
        answer(504, None, &None),
        answer(200, None, &None),
        answer(200, None, &Some("acme/web@v0".into())),
        answer(301, Some(&format!("https://{HOST}/healthz")), &this),
        HttpObservation::Reset("connection closed before message completed".into()),
        HttpObservation::Timeout(Duration::from_secs(2)),
        HttpObservation::Invalid("invalid HTTP version parsed".into()),
    ];
    let mut out: Vec<Produced> = served
        .iter()
        .map(|o| Produced {
            by: "probe http_verdict::http_plane",
            plane: http_plane(o, &generated),
        })
        .collect();
    let to = format!("https://{ALIAS}");
    for o in [
        answer(308, Some(&to), &None),
        answer(302, Some(&to), &None),
        answer(301, None, &None),
    ] {
        out.extend(by(
            "probe http_verdict::http_plane (redirect host)",
            [http_plane(&o, &redirect)],
        ));
    }
    // A redirect chain that comes back: alias → www → alias.
    let mut chain = RedirectChain::start(&redirect);
    let first = answer(308, Some(&to), &None);
    chain.step(&first);
    chain.step(&answer(301, Some(&format!("https://{REDIRECT}/")), &None));
    assert!(chain.looped(), "{}", chain.describe());
    out.extend(by(
        "probe http_verdict::chain_plane",
        [chain_plane(
            http_plane(&first, &redirect),
            &chain,
            &redirect,
        )],
    ));
    out
}

// ---- the walk --------------------------------------------------------------------------------

/// `reason → documented state`, read from the tables of docs/reasons.md.
fn documented_states() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/reasons.md"
    ))
    .expect("docs/reasons.md");
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells[1].trim_matches('`').to_string();
            let state = cells[2].to_string();
            (code, state)
        })
        .collect()
}

#[tokio::test]
async fn every_reason_is_produced_and_every_failure_has_a_remediation() {
    let started = std::time::Instant::now();
    let mut produced = Vec::new();
    produced.extend(generic_reasons());
    produced.extend(build_reasons());
    produced.extend(workload_reasons());
    produced.extend(local_runtime_reasons().await);
    produced.extend(kube_workload_reasons());
    produced.extend(metadata_reasons());
    produced.extend(issuer_reasons());
    produced.extend(kube_route_reasons());
    produced.extend(local_route_reasons());
    produced.extend(dns_reasons());
    produced.extend(tls_reasons());
    produced.extend(http_reasons());

    let mut states: HashMap<Reason, Vec<PlaneState>> = HashMap::new();
    for p in &produced {
        let seen = states.entry(p.plane.reason).or_default();
        if !seen.contains(&p.plane.state) {
            seen.push(p.plane.state);
        }
    }

    // 1. Every reason produced, but for the ones whose producer is still to come.
    let codes = |rs: &mut dyn Iterator<Item = Reason>| {
        let mut v: Vec<String> = rs.map(Reason::code).collect();
        v.sort();
        v
    };
    let missing = codes(
        &mut Reason::ALL
            .iter()
            .copied()
            .filter(|r| !states.contains_key(r)),
    );
    assert_eq!(
        missing,
        codes(&mut NOT_PRODUCED_YET.iter().copied()),
        "reasons no producer in this walk yielded (left) vs. NOT_PRODUCED_YET (right): produce \
         the missing ones from their real code, and drop a reason from NOT_PRODUCED_YET once \
         it is produced"
    );

    // 2. Every failed plane says what to do.
    let offenders: Vec<String> = produced
        .iter()
        .filter(|p| p.plane.state == PlaneState::Failed)
        .filter(|p| {
            p.plane
                .remediation
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
        })
        .map(|p| format!("{} ({}): {}", p.plane.reason, p.by, p.plane.message))
        .collect();
    assert!(
        offenders.is_empty(),
        "failed planes without a remediation:\n{}",
        offenders.join("\n")
    );

    // 3. docs/reasons.md's state column matches what the code produces.
    let documented = documented_states();
    let mut wrong = Vec::new();
    for reason in Reason::ALL {
        let Some(seen) = states.get(reason) else {
            continue;
        };
        let Some(state) = documented.get(&reason.code()) else {
            wrong.push(format!("{reason}: not documented"));
            continue;
        };
        if !seen.iter().any(|s| s.as_str() == state) {
            let seen: Vec<&str> = seen.iter().map(|s| s.as_str()).collect();
            wrong.push(format!(
                "{reason}: documented as {state}, produced as {}",
                seen.join(", ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/reasons.md's state column disagrees with the code:\n{}",
        wrong.join("\n")
    );
    eprintln!(
        "walked {} planes of {} reasons in {:?}",
        produced.len(),
        states.len(),
        started.elapsed()
    );
}
