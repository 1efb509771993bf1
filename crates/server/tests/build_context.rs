//! A build Job fetches its context with a build token: only that org's context, only until
//! the token expires; user tokens of the org work too (with any case of `Bearer`). For
//! another org's token, or a build token of another context, the context does not exist.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use satusky_local::contexts::ContextStore;
use satusky_server::build_token::BuildTokens;
use satusky_server::{AppState, Settings};
use satusky_store::Store;
use satusky_types::Role;
use tower::ServiceExt;

async fn get(app: &axum::Router, path: &str, token: &str) -> (StatusCode, Vec<u8>) {
    get_with(app, path, &format!("Bearer {token}")).await
}

async fn get_with(app: &axum::Router, path: &str, authorization: &str) -> (StatusCode, Vec<u8>) {
    let res = app
        .clone()
        .oneshot(
            Request::get(path)
                .header("authorization", authorization)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, body)
}

#[tokio::test]
async fn build_tokens_grant_exactly_one_context_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_file(&dir.path().join("state.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.ensure_org("acme").await.unwrap();
    store.ensure_org("other").await.unwrap();
    let acme_user = store.create_token("acme", Role::Member).await.unwrap();
    let other_user = store.create_token("other", Role::Admin).await.unwrap();
    let contexts = ContextStore::new(dir.path().join("contexts"));
    let tarball = tar_gz("hello");
    let context = contexts.put("acme", &tarball).unwrap().digest;
    let context = context.as_str();
    let tokens = BuildTokens::new(b"test-key");
    let settings = Settings {
        contexts: Some(std::sync::Arc::new(contexts)),
        ..Settings::default()
    };
    let app =
        satusky_server::router(AppState::new(store, settings).with_build_tokens(tokens.clone()));
    let path = format!("/v1/orgs/acme/builds/{context}/context");
    let far = satusky_core::time::now_ms() + 60_000;

    let (status, body) = get(&app, &path, &tokens.mint("acme", context, far)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, tarball);

    let other_ctx = format!("sha256:{}", "1".repeat(64));
    let (status, _) = get(&app, &path, &tokens.mint("acme", &other_ctx, far)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a token for another context");
    let (status, _) = get(&app, &path, &tokens.mint("acme", context, 1)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an expired token");
    let (status, _) = get(
        &app,
        &path,
        &BuildTokens::new(b"other-key").mint("acme", context, far),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token signed with another key"
    );
    let (status, _) = get(&app, &path, &acme_user).await;
    assert_eq!(status, StatusCode::OK, "a user of the org");
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let (status, _) = get_with(&app, &path, &format!("{scheme} {acme_user}")).await;
        assert_eq!(status, StatusCode::OK, "scheme {scheme}");
    }
    let (status, body) = get(&app, &path, &other_user).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a user of another org");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let other_path = format!("/v1/orgs/other/builds/{context}/context");
    let (status, _) = get(&app, &other_path, &other_user).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "acme's digest under the other org's own path"
    );
}

fn tar_gz(text: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "a.txt", text.as_bytes()).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}
