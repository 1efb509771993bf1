//! Who may do what: the one owner of the role rule (SPEC §10 "Roles"). Every handler names
//! the [`Action`] it performs and asks [`crate::auth::Caller::authorize`]; nothing else
//! compares roles. Pure: no request, no store.
//!
//! `admin` may do everything. `member` may do everything a deploy needs, scale and restart
//! apps, add and check domains, change env values, deploy templates and bind apps (the
//! secrets a binding writes are never readable), and read the org; it may not destroy apps, remove domains,
//! manage tokens, or list, set or unset secrets. README's roles table says the same.

use satusky_types::Role;

/// What a request does, as far as roles are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the org's apps, releases, status, drift, events, build contexts, or whoami.
    Read,
    /// Deploy: upload a build context, `PUT` an app.
    Deploy,
    /// Roll an app back to an older release's snapshot.
    Rollback,
    /// Scale or restart an app's running release.
    Operate,
    /// Destroy an app with its releases and hostnames.
    DestroyApp,
    /// Add a custom domain to an app (routed once proven).
    AddDomain,
    /// Look a domain's proof up and read its planes now.
    CheckDomain,
    /// Remove a domain from an app (it stops being served).
    RemoveDomain,
    /// List, create or revoke the org's API tokens.
    ManageTokens,
    /// Set or unset an app's env values (a config release).
    ChangeEnv,
    /// List, set or unset an app's secrets directly (values are never read back by anyone).
    ManageSecrets,
    /// Bind a service's output into another app's secret (written, never read back).
    Bind,
}

impl Action {
    /// What a forbidden caller was trying to do, for "a member token cannot …".
    pub fn describe(self) -> &'static str {
        match self {
            Action::Read => "read the org",
            Action::Deploy => "deploy",
            Action::Rollback => "roll back apps",
            Action::Operate => "scale or restart apps",
            Action::DestroyApp => "destroy apps",
            Action::AddDomain => "add domains",
            Action::CheckDomain => "check domains",
            Action::RemoveDomain => "remove domains",
            Action::ManageTokens => "list, create or revoke tokens",
            Action::ChangeEnv => "change env values",
            Action::ManageSecrets => "list, set or unset secrets",
            Action::Bind => "bind apps",
        }
    }
}

/// Whether `role` may perform `action`. Written out per action so a new action must be
/// decided here for each role (the match is exhaustive).
pub fn allowed(role: Role, action: Action) -> bool {
    match role {
        Role::Admin => true,
        Role::Member => match action {
            Action::Read
            | Action::Deploy
            | Action::Rollback
            | Action::Operate
            | Action::AddDomain
            | Action::CheckDomain
            | Action::ChangeEnv
            | Action::Bind => true,
            Action::DestroyApp
            | Action::RemoveDomain
            | Action::ManageTokens
            | Action::ManageSecrets => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Action; 11] = [
        Action::Read,
        Action::Deploy,
        Action::Rollback,
        Action::Operate,
        Action::DestroyApp,
        Action::AddDomain,
        Action::CheckDomain,
        Action::RemoveDomain,
        Action::ManageTokens,
        Action::ChangeEnv,
        Action::ManageSecrets,
    ];

    #[test]
    fn admin_may_do_everything() {
        assert!(ALL.iter().all(|a| allowed(Role::Admin, *a)));
    }

    #[test]
    fn member_deploys_and_adds_domains_but_neither_destroys_removes_domains_nor_manages_tokens() {
        let member: Vec<_> = ALL.iter().filter(|a| allowed(Role::Member, **a)).collect();
        assert_eq!(
            member,
            [
                &Action::Read,
                &Action::Deploy,
                &Action::Rollback,
                &Action::Operate,
                &Action::AddDomain,
                &Action::CheckDomain,
                &Action::ChangeEnv
            ]
        );
    }
}
