//! A build Job fetches its context with a build token: only that org's context, only until
//! the token expires; user tokens of the org work too, other orgs' do not.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use satusky_server::build_token::BuildTokens;
use satusky_server::{AppState, Settings};
use satusky_store::Store;
use satusky_types::Role;
use tower::ServiceExt;

const CONTEXT: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

async fn get(app: &axum::Router, path: &str, token: &str) -> (StatusCode, Vec<u8>) {
    let res = app
        .clone()
        .oneshot(
            Request::get(path)
                .header("authorization", format!("Bearer {token}"))
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
    let contexts = dir.path().join("contexts");
    std::fs::create_dir_all(&contexts).unwrap();
    std::fs::write(
        contexts.join(format!("{}.tar.gz", CONTEXT.replace(':', "-"))),
        b"tarball",
    )
    .unwrap();
    let tokens = BuildTokens::new(b"test-key");
    let settings = Settings {
        contexts_dir: Some(contexts),
        ..Settings::default()
    };
    let app =
        satusky_server::router(AppState::new(store, settings).with_build_tokens(tokens.clone()));
    let path = format!("/v1/orgs/acme/builds/{CONTEXT}/context");
    let far = satusky_core::time::now_ms() + 60_000;

    let (status, body) = get(&app, &path, &tokens.mint("acme", CONTEXT, far)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"tarball");

    let other_ctx = CONTEXT.replace("01", "02");
    let (status, _) = get(&app, &path, &tokens.mint("acme", &other_ctx, far)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token for another context"
    );
    let (status, _) = get(&app, &path, &tokens.mint("acme", CONTEXT, 1)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an expired token");
    let (status, _) = get(
        &app,
        &path,
        &BuildTokens::new(b"other-key").mint("acme", CONTEXT, far),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token signed with another key"
    );
    let (status, _) = get(&app, &path, &acme_user).await;
    assert_eq!(status, StatusCode::OK, "a user of the org");
    let (status, _) = get(&app, &path, &other_user).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a user of another org");
}
