//! The rules of operating a running app (SPEC §10: scale and restart are not releases):
//! which replica counts `1ctl app scale` may set, and what a deploy does to a scaled count.
//! The store applies them inside its transaction; the API turns a refusal into a 422 that
//! names the field and the fix.

use satusky_types::AppSpec;

use crate::validate::MAX_REPLICAS;

/// Why a scale is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaleRefusal {
    #[error("{asked} replicas is more than the limit of {MAX_REPLICAS}: ask for 0–{MAX_REPLICAS}")]
    TooMany { asked: u32 },
    #[error(
        "the app scales itself: [hpa] in satusky.toml keeps it between {min} and {max} replicas; \
         change min/max there (or remove [hpa]) and deploy"
    )]
    Autoscaled { min: u32, max: u32 },
}

/// Whether the running release of `spec` may be scaled to `replicas`.
pub fn check_scale(spec: &AppSpec, replicas: u32) -> Result<(), ScaleRefusal> {
    if let Some(hpa) = &spec.hpa {
        return Err(ScaleRefusal::Autoscaled {
            min: hpa.min,
            max: hpa.max,
        });
    }
    if replicas > MAX_REPLICAS {
        return Err(ScaleRefusal::TooMany { asked: replicas });
    }
    Ok(())
}

/// The replica count set with `app scale` that survives a deploy of `spec`: kept when the
/// file does not set `replicas` (`file_sets_replicas` false) and the new spec has no `[hpa]`;
/// otherwise the file's count (or the autoscaler) wins and the scaled count is dropped.
pub fn scale_after_deploy(
    scaled: Option<u32>,
    spec: &AppSpec,
    file_sets_replicas: bool,
) -> Option<u32> {
    scaled.filter(|_| !file_sets_replicas && spec.hpa.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use satusky_types::HpaSpec;

    fn spec() -> AppSpec {
        let text = "[app]\nname = \"web\"\ncommand = [\"./web\"]\n";
        let path = std::path::Path::new("satusky.toml");
        crate::config::parse_str(text, path, &Default::default())
            .expect("minimal spec")
            .into_spec()
    }

    #[test]
    fn a_scale_is_refused_over_the_limit_and_under_an_autoscaler() {
        let mut s = spec();
        assert_eq!(check_scale(&s, 0), Ok(()));
        assert_eq!(check_scale(&s, MAX_REPLICAS), Ok(()));
        let e = check_scale(&s, MAX_REPLICAS + 1).unwrap_err();
        assert!(e.to_string().contains("limit of 1000"), "{e}");
        s.hpa = Some(HpaSpec {
            min: 2,
            max: 5,
            cpu_target: Some(70),
            memory_target: None,
        });
        let e = check_scale(&s, 3).unwrap_err();
        assert!(e.to_string().contains("[hpa]"), "{e}");
        assert!(e.to_string().contains("between 2 and 5"), "{e}");
    }

    #[test]
    fn whether_a_file_sets_replicas() {
        use crate::config::sets_replicas;
        assert!(sets_replicas("[app]\nname = \"web\"\nreplicas = 2\n"));
        assert!(!sets_replicas(
            "[app]\nname = \"web\"\n[deploy]\nreplicas = 2\n"
        ));
        assert!(!sets_replicas("replicas = 2\n[app]\nname = \"web\"\n"));
        assert!(!sets_replicas("[app\n"));
    }

    #[test]
    fn a_deploy_keeps_the_scaled_count_unless_its_file_sets_replicas() {
        let mut s = spec();
        assert_eq!(scale_after_deploy(Some(3), &s, false), Some(3));
        assert_eq!(scale_after_deploy(Some(3), &s, true), None);
        assert_eq!(scale_after_deploy(None, &s, false), None);
        s.hpa = Some(HpaSpec {
            min: 1,
            max: 4,
            cpu_target: Some(70),
            memory_target: None,
        });
        assert_eq!(
            scale_after_deploy(Some(3), &s, false),
            None,
            "an autoscaler takes over"
        );
    }
}
