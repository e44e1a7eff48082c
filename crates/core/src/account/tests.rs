//! The account service's rules against the in-memory account store: the first run,
//! who may create users and keys, key roles and revocation, sign-in with its
//! second factor and recovery codes, the failure limiter, and disabled users.

use std::sync::Arc;
use std::time::Duration;

use super::{AccountService, AccountSettings, Credential, Principal, Role, secrets, totp};
use crate::error::CoreError;
use crate::testing::MemoryAccounts;
use crate::time::now_millis;

fn service() -> AccountService {
    let settings =
        AccountSettings { max_failures: 3, failure_window: Duration::from_secs(60), ..AccountSettings::default() };
    AccountService::new(Arc::new(MemoryAccounts::new()), secrets::SecretBox::new(&[7; 32]), settings)
}

const PASSWORD: &str = "a long passphrase";

/// A user with a password, and the principal its key gives.
async fn member(accounts: &AccountService, admin: &Principal, email: &str, role: Role) -> Principal {
    let user = accounts.create_user(Some(admin), email, Some(PASSWORD), role).await.expect("user");
    let key = accounts.create_key_offline(&user, "test", role).await.expect("key");
    accounts.authenticate_key(&key.secret).await.expect("the key works")
}

async fn admin(accounts: &AccountService) -> Principal {
    let first = accounts.first_run().await.expect("first run").expect("an empty server");
    accounts.authenticate_key(&first.cli_key).await.expect("the CLI key works")
}

fn now_secs() -> u64 {
    u64::try_from(now_millis() / 1000).expect("after 1970")
}

#[tokio::test]
async fn the_first_run_makes_one_admin_a_link_and_a_cli_key_once() {
    let accounts = service();
    let first = accounts.first_run().await.expect("first run").expect("an empty server");
    assert_eq!((first.admin.email.as_str(), first.admin.role), ("admin@localhost", Role::Admin));
    let admin = accounts.authenticate_key(&first.cli_key).await.expect("the CLI key works");
    assert!(admin.is_admin());
    let signed_in = accounts.sign_in_with_link(&first.sign_in_token).await.expect("the link works");
    assert_eq!(signed_in.user.id, first.admin.id);
    assert!(accounts.sign_in_with_link(&first.sign_in_token).await.is_err(), "once");
    assert!(accounts.first_run().await.expect("second run").is_none(), "users exist now");
}

#[tokio::test]
async fn only_admins_create_users_and_emails_are_unique() {
    let accounts = service();
    let admin = admin(&accounts).await;
    let ada = member(&accounts, &admin, "Ada@Example.com ", Role::Member).await;
    assert_eq!(ada.email, "ada@example.com", "emails are trimmed and lower-cased");
    let refused = accounts.create_user(Some(&ada), "bob@example.com", None, Role::Member).await.expect_err("member");
    assert!(matches!(refused, CoreError::Forbidden { .. }), "{refused:?}");
    let taken = accounts.create_user(Some(&admin), "ada@example.com", None, Role::Viewer).await.expect_err("taken");
    assert!(matches!(taken, CoreError::Conflict { .. }), "{taken:?}");
    let short = accounts.create_user(Some(&admin), "cy@example.com", Some("short"), Role::Member).await;
    assert!(matches!(short, Err(CoreError::InvalidInput { .. })), "{short:?}");
}

#[tokio::test]
async fn a_key_never_acts_above_its_user_or_its_maker() {
    let accounts = service();
    let admin = admin(&accounts).await;
    let viewer = member(&accounts, &admin, "vi@example.com", Role::Viewer).await;
    let asked_admin = accounts.create_key(&viewer, None, "mine", Some(Role::Admin), None).await.expect("key");
    assert_eq!(asked_admin.key.role, Role::Viewer, "capped at the user's role");
    let ada = member(&accounts, &admin, "ada@example.com", Role::Member).await;
    let for_other = accounts.create_key(&ada, Some(&viewer.user_id), "theirs", None, None).await;
    assert!(matches!(for_other, Err(CoreError::Forbidden { .. })), "{for_other:?}");
    let expired = accounts.create_key(&ada, None, "old", None, Some(now_millis() - 1)).await;
    assert!(matches!(expired, Err(CoreError::InvalidInput { .. })), "{expired:?}");
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let accounts = service();
    let admin = admin(&accounts).await;
    let ada = member(&accounts, &admin, "ada@example.com", Role::Member).await;
    let key = accounts.create_key(&ada, None, "laptop", None, None).await.expect("key");
    accounts.authenticate_key(&key.secret).await.expect("works (and is now cached)");
    let bob = member(&accounts, &admin, "bob@example.com", Role::Member).await;
    let hidden = accounts.revoke_key(&bob, &key.key.id).await.expect_err("another user's key");
    assert!(matches!(hidden, CoreError::NotFound { what: "key" }));
    accounts.revoke_key(&ada, &key.key.id).await.expect("revoked");
    let refused = accounts.authenticate_key(&key.secret).await.expect_err("revoked");
    assert!(matches!(refused, CoreError::Unauthenticated { .. }), "{refused:?}");
    assert!(accounts.authenticate_key("atl_000000000000_nope").await.is_err());
}

#[tokio::test]
async fn a_limited_key_cannot_revoke_a_stronger_one() {
    let accounts = service();
    let admin = admin(&accounts).await;
    let ada = member(&accounts, &admin, "ada@example.com", Role::Member).await;
    let strong = accounts.create_key(&ada, None, "strong", None, None).await.expect("member key");
    let weak = accounts.create_key(&ada, None, "weak", Some(Role::Viewer), None).await.expect("viewer key");
    let weak = accounts.authenticate_key(&weak.secret).await.expect("works");
    let refused = accounts.revoke_key(&weak, &strong.key.id).await.expect_err("weaker");
    assert!(matches!(refused, CoreError::Forbidden { .. }), "{refused:?}");
}

#[tokio::test]
async fn sign_in_asks_for_the_second_factor_once_it_is_on() {
    let accounts = service();
    let admin = admin(&accounts).await;
    let ada = member(&accounts, &admin, "ada@example.com", Role::Member).await;
    accounts.sign_in("ada@example.com", PASSWORD, None).await.expect("password alone, before two-factor");
    let enrolment = accounts.begin_totp(&ada).await.expect("begin");
    let code = totp::code_at(&enrolment.secret, now_secs()).expect("code");
    let recovery = accounts.confirm_totp(&ada, &code).await.expect("confirmed");
    assert_eq!(recovery.len(), 10);
    let needs_code = accounts.sign_in("ada@example.com", PASSWORD, None).await.expect_err("needs the code");
    assert!(matches!(needs_code, CoreError::Unauthenticated { code: "totp_required", .. }), "{needs_code:?}");
    let reused = accounts.sign_in("ada@example.com", PASSWORD, Some(&code)).await;
    assert!(reused.is_err(), "a code is good once");
    let with_recovery = accounts.sign_in("ada@example.com", PASSWORD, Some(&recovery[0])).await;
    assert!(with_recovery.is_ok(), "a recovery code stands in for the device");
    assert!(accounts.sign_in("ada@example.com", PASSWORD, Some(&recovery[0])).await.is_err(), "once");
}

#[tokio::test]
async fn repeated_failures_are_held_off() {
    let accounts = service();
    let admin = admin(&accounts).await;
    member(&accounts, &admin, "ada@example.com", Role::Member).await;
    for _ in 0..3 {
        let wrong = accounts.sign_in("ada@example.com", "not the passphrase", None).await.expect_err("wrong");
        assert!(matches!(wrong, CoreError::Unauthenticated { .. }), "{wrong:?}");
    }
    let held = accounts.sign_in("ada@example.com", PASSWORD, None).await.expect_err("held off");
    assert!(matches!(held, CoreError::Overloaded { .. }), "even the right password waits: {held:?}");
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_everywhere() {
    let accounts = service();
    let admin = admin(&accounts).await;
    let ada = member(&accounts, &admin, "ada@example.com", Role::Member).await;
    let session = accounts.sign_in("ada@example.com", PASSWORD, None).await.expect("signed in");
    accounts.authenticate_session(&session.token).await.expect("the session works");
    accounts.update_user(&admin, &ada.user_id, None, Some(true)).await.expect("disabled");
    assert!(accounts.authenticate_session(&session.token).await.is_err(), "its sessions end");
    let Credential::ApiKey(_) = &ada.credential else { panic!("a key principal") };
    let self_demote = accounts.update_user(&admin, &admin.user_id, Some(Role::Member), None).await;
    assert!(matches!(self_demote, Err(CoreError::Conflict { code: "last_admin", .. })), "{self_demote:?}");
}

#[tokio::test]
async fn only_admins_read_users_and_the_audit_log() {
    let accounts = service();
    let admin = admin(&accounts).await;
    let ada = member(&accounts, &admin, "ada@example.com", Role::Member).await;
    assert!(matches!(accounts.list_users(&ada).await, Err(CoreError::Forbidden { .. })));
    assert!(matches!(accounts.audit_log(&ada, None, 10).await, Err(CoreError::Forbidden { .. })));
    let log = accounts.audit_log(&admin, None, 10).await.expect("admins read it");
    assert!(log.iter().any(|entry| entry.action == "user_created"), "{log:?}");
}
