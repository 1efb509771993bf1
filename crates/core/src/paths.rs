//! Paths inside a build context, as `satusky.toml` names them (`build.dockerfile`): the one
//! rule the CLI packs by and the Kubernetes build Job reads by, so both name the same file.

/// `./docker//Dockerfile` → `docker/Dockerfile`: `.` and empty segments dropped; `None` for an
/// absolute path, one that uses `..`, or one that names nothing.
pub fn clean_in_context(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_or_refused() {
        assert_eq!(
            clean_in_context("Dockerfile").as_deref(),
            Some("Dockerfile")
        );
        assert_eq!(
            clean_in_context("./docker//Dockerfile").as_deref(),
            Some("docker/Dockerfile")
        );
        for bad in ["../Dockerfile", "/abs/Dockerfile", "", ".", "a/../b"] {
            assert_eq!(clean_in_context(bad), None, "{bad}");
        }
    }
}
