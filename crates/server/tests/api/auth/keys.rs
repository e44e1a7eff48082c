//! The keys API: a key is shown once and stays within its owner.

use atelier_core::account::{Role, secrets};
use serde_json::{Value, json};

use super::{assert_unauthorized, json_of, user_id_of};
use crate::helpers::{TestApp, assert_error, client_with_key};

#[tokio::test]
async fn keys_are_shown_once_and_stay_within_their_owner() {
    let app = TestApp::spawn().await;
    let (member, member_key) = app.user("keys@example.com", Role::Member).await;
    let (other, other_key) = app.user("other@example.com", Role::Member).await;
    let other_id = user_id_of(&other, &app).await;
    let member_id = user_id_of(&member, &app).await;

    let response = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "laptop" })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("atl_") && secret.starts_with(&prefix) && secret.len() > prefix.len() + 32, "{created}");
    assert_eq!((created["role"].as_str(), created["user_id"].as_str()), (Some("member"), Some(member_id.as_str())));
    let laptop = client_with_key(Some(&secret));
    assert_eq!(json_of(&laptop, &app, "/api/v1/me").await["role"], "member");

    let listed = member.get(app.url("/api/v1/keys")).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains(&secret) && !listed.contains(&member_key), "{listed}");
    assert!(!listed.contains(&secrets::token_hash(&secret)), "{listed}");
    assert!(!listed.contains(&secret[prefix.len() + 1..]), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{listed}");
    assert!(keys.iter().any(|k| k["prefix"] == prefix.as_str() && k["id"] == created["id"]));
    assert!(keys.iter().all(|k| k.get("key").is_none() && k["user_id"] == member_id.as_str()));

    // No more than its own role…
    let response = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "up", "role": "admin" })).send().await;
    let raised: Value = response.unwrap().json().await.unwrap();
    assert_eq!(raised["role"], "member", "{raised}");
    let raised_client = client_with_key(raised["key"].as_str());
    assert_error(raised_client.get(app.url("/api/v1/users")).send().await.unwrap(), 403, "forbidden").await;
    // …and never for someone else.
    let response = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "theirs", "user_id": other_id }));
    assert_error(response.send().await.unwrap(), 403, "forbidden").await;
    let theirs: Value = other.get(app.url("/api/v1/keys")).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["keys"].as_array().unwrap().len(), 1, "{theirs}");
    // Another user's key is not found, and keeps working.
    let other_key_id = theirs["keys"][0]["id"].as_str().unwrap().to_owned();
    let response = member.delete(app.url(&format!("/api/v1/keys/{other_key_id}"))).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
    assert_eq!(client_with_key(Some(&other_key)).get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    assert_error(member.get(app.url("/api/v1/keys?all=true")).send().await.unwrap(), 403, "forbidden").await;

    // An admin can do all three.
    let response =
        app.post("/api/v1/keys", &json!({ "name": "for other", "user_id": other_id, "role": "viewer" })).await;
    assert_eq!(response.status(), 201);
    let made: Value = response.json().await.unwrap();
    assert_eq!((made["user_id"].as_str(), made["role"].as_str()), (Some(other_id.as_str()), Some("viewer")));
    let made_client = client_with_key(made["key"].as_str());
    let me = json_of(&made_client, &app, "/api/v1/me").await;
    assert_eq!((me["user_id"].as_str(), me["role"].as_str()), (Some(other_id.as_str()), Some("viewer")));
    let revoked = app.delete(&format!("/api/v1/keys/{other_key_id}")).await;
    assert_eq!(revoked.status(), 200);
    assert!(revoked.json::<Value>().await.unwrap()["revoked_at"].is_string());
    assert_unauthorized(client_with_key(Some(&other_key)).get(app.url("/api/v1/me")).send().await.unwrap(), "revoked")
        .await;
    let all: Value = app.get("/api/v1/keys?all=true").await.json().await.unwrap();
    // The admin's, the member's three and the other's two.
    assert_eq!(all["keys"].as_array().unwrap().len(), 6, "{all}");
    // A member revokes its own.
    let own = member.delete(app.url(&format!("/api/v1/keys/{}", created["id"].as_str().unwrap()))).send().await;
    assert_eq!(own.unwrap().status(), 200);
    assert_unauthorized(laptop.get(app.url("/api/v1/me")).send().await.unwrap(), "revoked by its owner").await;
}
