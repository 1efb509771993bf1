//! `GET …/apps/{app}/releases/{version}/build`: a release's build after the fact — what became
//! of it (built, reused from which release, failed and why, still running) and its whole log
//! as kept — so a failed build can be read once the terminal that deployed it is closed.
//! What the state is follows from the release row alone ([`judge`], pure); the log lines are
//! the release's `build_log` events, read by release.

use axum::Json;
use axum::extract::State;
use satusky_store::ReleaseRecord;
use satusky_types::{ApiError, BuildReport, PlaneState, ReleaseStatus};

use super::apps::load_app;
use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// The most log lines one answer holds: a build keeps at most 20,000 lines
/// (`satusky_core::build_log`), plus its marker lines.
const MAX_LINES: u32 = 20_100;

/// A release's build: its state, whether it reused an earlier artifact, and its log.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/releases/{version}/build", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"),
        ("version" = u64, Path, description = "release number")),
    responses((status = 200, body = BuildReport), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn build_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app, version)): ApiPath<(String, String, u64)>,
) -> Result<Json<BuildReport>, ApiErrorResponse> {
    let rec = load_app(&state, &caller, &org, &app, Action::Read).await?;
    let releases = state.store.list_releases(&org, &app).await?;
    let Some(release) = releases.iter().find(|r| r.version == version) else {
        return Err(ApiErrorResponse::not_found(format!(
            "release v{version} of \"{app}\" not found; `1ctl app releases {app}` lists them"
        )));
    };
    let building = rec
        .work
        .as_ref()
        .is_some_and(|w| w.release == version && w.step == satusky_core::engine::Step::Build);
    let (log, truncated) = state
        .store
        .build_log(&org, &app, version, MAX_LINES)
        .await?;
    let judged = judge(release, &releases, building);
    Ok(Json(BuildReport {
        app,
        org,
        release: version,
        state: judged.state,
        message: judged.message,
        artifact: release.artifact.clone(),
        reused: judged.reused_from.is_some(),
        reused_from: judged.reused_from,
        log,
        truncated,
    }))
}

/// What became of a release's build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub state: PlaneState,
    pub message: String,
    pub reused_from: Option<u64>,
}

/// Pure: the build of `release` among the app's `releases`, `building` when the engine's work
/// is on its build step now.
pub fn judge(release: &ReleaseRecord, releases: &[ReleaseRecord], building: bool) -> Judged {
    let failed_build = release
        .failure
        .as_ref()
        .filter(|f| f.get("dimension").and_then(|d| d.as_str()) == Some("build"));
    if let Some(f) = failed_build {
        let text = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        return Judged {
            state: PlaneState::Failed,
            message: format!("{}: {}", text("reason"), text("message")),
            reused_from: None,
        };
    }
    if let Some(artifact) = &release.artifact {
        let reused_from = releases
            .iter()
            .filter(|r| r.version < release.version && r.artifact.as_ref() == Some(artifact))
            .map(|r| r.version)
            .min();
        let message = match reused_from {
            Some(v) => format!("reused {artifact}, built for v{v} (not built again)"),
            None => format!("built {artifact}"),
        };
        return Judged {
            state: PlaneState::Ready,
            message,
            reused_from,
        };
    }
    let (state, message) = if building {
        (PlaneState::InProgress, "building now".to_string())
    } else if let Some(image) = &release.spec.image {
        (
            PlaneState::NotApplicable,
            format!("nothing to build: the release runs the image {image}"),
        )
    } else if release.status == ReleaseStatus::Pending {
        (PlaneState::Pending, "waiting to be built".to_string())
    } else {
        (
            PlaneState::Unknown,
            format!(
                "never finished: the release was {} before its build ended",
                release.status
            ),
        )
    };
    Judged {
        state,
        message,
        reused_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: u64, artifact: Option<&str>) -> ReleaseRecord {
        ReleaseRecord {
            version,
            status: ReleaseStatus::Superseded,
            image: None,
            source: "deploy".into(),
            spec: satusky_testkit::spec::app("web"),
            hostnames: Vec::new(),
            generation: version,
            created_at_ms: 0,
            context: Some("sha256:ab".into()),
            artifact: artifact.map(str::to_string),
            failure: None,
            activated_at_ms: None,
            secrets: Default::default(),
        }
    }

    #[test]
    fn a_build_is_built_reused_failed_running_or_never_finished() {
        let all = [
            release(1, Some("sha256:a")),
            release(2, Some("sha256:b")),
            release(3, Some("sha256:a")),
            release(4, None),
        ];
        assert_eq!(judge(&all[0], &all, false).message, "built sha256:a");
        let reused = judge(&all[2], &all, false);
        assert_eq!(
            (reused.state, reused.reused_from),
            (PlaneState::Ready, Some(1))
        );
        assert_eq!(
            reused.message,
            "reused sha256:a, built for v1 (not built again)"
        );
        assert_eq!(judge(&all[3], &all, true).state, PlaneState::InProgress);
        let gone = judge(&all[3], &all, false);
        assert_eq!(gone.state, PlaneState::Unknown);
        assert!(gone.message.contains("superseded"), "{}", gone.message);
        let mut failed = release(5, None);
        failed.failure = Some(serde_json::json!({
            "dimension": "build", "reason": "BuildFailed", "message": "exit 2"
        }));
        let f = judge(&failed, &all, false);
        assert_eq!(
            (f.state, f.message.as_str()),
            (PlaneState::Failed, "BuildFailed: exit 2")
        );
    }
}
