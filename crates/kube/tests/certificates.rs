//! Custom-domain certificates through cert-manager, end to end against fakekube: the apply
//! renders a Certificate per custom domain whose Secret the ListenerSet listener serves;
//! fakekube plays cert-manager (challenge, failure, issuance) and `Runtime::certificates`
//! names each step; a domain leaving the desired set takes its Certificate with it.

use std::path::Path;

use fakekube::FakeKube;
use fakekube::hooks::certs::Issuance;
use satusky_core::runtime::{DesiredWorkload, Runtime};
use satusky_core::{AppHostnames, Overrides, parse_str};
use satusky_kube::IssuerRef;
use satusky_kube::runtime::{KubeConfig, KubeRuntime};
use satusky_types::{Hostname, Plane, PlaneState, Reason};
use serde_json::Value;

const ORG: &str = "acme";
const NS: &str = "satusky-acme";
const ZONE: &str = "apps.example.net";
const SHOP: &str = "shop.example.com";
const CERT: &str = "web.shop.example.com";

fn desired(domains: &[&str]) -> DesiredWorkload {
    let mut toml = "[app]\nname = \"web\"\nimage = \"nginx:1.27\"\n".to_owned();
    for d in domains {
        toml.push_str(&format!("[[domains]]\nhost = \"{d}\"\n"));
    }
    let spec = parse_str(&toml, Path::new("satusky.toml"), &Overrides::default()).unwrap();
    let hostnames = AppHostnames::of_app(ORG, ZONE, &spec).unwrap();
    DesiredWorkload {
        org: ORG.into(),
        app: "web".into(),
        release: 1,
        spec,
        artifact: None,
        hostnames,
        secrets: Default::default(),
        restarted_at_ms: None,
    }
}

fn runtime(fake: &FakeKube) -> KubeRuntime {
    KubeRuntime::new(
        fake.client(),
        KubeConfig {
            zone: ZONE.parse().unwrap(),
            gateway: Default::default(),
            issuer: IssuerRef::parse("ClusterIssuer/letsencrypt").unwrap(),
            probe_addr: None,
        },
        None,
    )
}

async fn planes(rt: &KubeRuntime, hostnames: &[Hostname]) -> Vec<Option<Plane>> {
    rt.certificates(ORG.into(), "web".into(), hostnames.to_vec())
        .await
        .expect("certificates")
}

fn shop(planes: &[Option<Plane>]) -> Plane {
    assert_eq!(planes.len(), 2);
    assert_eq!(planes[0], None, "the generated host is the platform's");
    planes[1].clone().expect("the custom domain's plane")
}

#[tokio::test]
async fn a_custom_domain_is_certified_through_cert_manager_and_pruned_with_it() {
    let fake = FakeKube::new();
    let rt = runtime(&fake);
    let with_shop = desired(&[SHOP]);
    let hostnames = with_shop.hostnames.to_vec();
    let p = shop(&planes(&rt, &hostnames).await);
    assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Issuing));
    assert!(p.message.contains("not created yet"), "{}", p.message);

    rt.apply(with_shop).await.expect("apply");
    let cert = fake
        .object("cert-manager.io/v1", "Certificate", NS, CERT)
        .expect("a Certificate for the custom domain");
    let listener_set = fake
        .object("gateway.networking.k8s.io/v1", "ListenerSet", NS, "web")
        .expect("the ListenerSet");
    let listener = listener_set["spec"]["listeners"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["hostname"] == SHOP))
        .cloned()
        .expect("a listener for the domain");
    assert_eq!(
        cert["spec"]["secretName"], listener["tls"]["certificateRefs"][0]["name"],
        "the listener serves the Secret the Certificate writes"
    );
    assert_eq!(cert["spec"]["dnsNames"], serde_json::json!([SHOP]));
    assert_eq!(cert["spec"]["issuerRef"]["name"], "letsencrypt");
    assert!(
        fake.objects("cert-manager.io/v1", "Certificate", Some(NS))
            .len()
            == 1,
        "nothing beyond the hostnames handed over"
    );
    let p = shop(&planes(&rt, &hostnames).await);
    assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Issuing));
    assert!(
        p.message.contains("is cert-manager running"),
        "{}",
        p.message
    );

    let waiting =
        "Waiting for HTTP-01 challenge propagation: wrong status code '404', expected '200'";
    fake.certificate_issuance(
        NS,
        CERT,
        &Issuance::Challenging {
            reason: waiting.into(),
        },
    )
    .unwrap();
    let p = shop(&planes(&rt, &hostnames).await);
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::InProgress, Reason::ChallengePending)
    );
    assert!(p.message.contains(waiting), "{}", p.message);

    let refused = "acme: authorization error for shop.example.com: 403 urn:ietf:params:acme:error:unauthorized: Invalid response";
    fake.certificate_issuance(
        NS,
        CERT,
        &Issuance::Failed {
            reason: refused.into(),
        },
    )
    .unwrap();
    let p = shop(&planes(&rt, &hostnames).await);
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::IssuanceFailed)
    );
    assert!(
        p.message
            .starts_with(&format!("HTTP-01 challenge for {SHOP} invalid: {refused}")),
        "{}",
        p.message
    );
    assert!(
        p.message.contains("cert-manager retries after"),
        "{}",
        p.message
    );

    fake.certificate_issuance(NS, CERT, &Issuance::Issued)
        .unwrap();
    let p = shop(&planes(&rt, &hostnames).await);
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Ready, Reason::CertificateValid)
    );
    assert!(
        p.message.contains("ClusterIssuer letsencrypt") && p.message.contains("valid until"),
        "{}",
        p.message
    );
    let secret: Option<Value> = fake.object("v1", "Secret", NS, &format!("{CERT}-tls"));
    assert!(secret.is_some(), "cert-manager wrote the Secret");

    // The domain leaves the desired set: its Certificate and listener are pruned; the Secret
    // is cert-manager's (not labelled as ours) and stays.
    rt.apply(desired(&[]))
        .await
        .expect("apply without the domain");
    assert!(
        fake.object("cert-manager.io/v1", "Certificate", NS, CERT)
            .is_none()
    );
    assert!(
        fake.object("gateway.networking.k8s.io/v1", "ListenerSet", NS, "web")
            .is_none()
    );
    assert!(
        fake.object("v1", "Secret", NS, &format!("{CERT}-tls"))
            .is_some()
    );
    let p = shop(&planes(&rt, &hostnames).await);
    assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Issuing));
}
