//! Concurrent writers: no lost update, one version per commit.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

/// One PATCH per top-level field, all at once on the same key: each is a read-modify-write, so
/// without serialised writers most of them would overwrite the others' fields.
fn field_patches() -> Vec<Value> {
    vec![
        json!({"name": "concurrent"}),
        json!({"description": "many writers"}),
        json!({"is_active": false}),
        json!({"rate_limit": {"request_max_limit": 7, "request_reset_duration": "1m"}}),
        json!({"budget": {"max_limit": 3.5, "reset_duration": "1d"}}),
        json!({"provider_configs": [{"provider": "openai", "weight": 2.0}]}),
        json!({"team_id": "t"}),
    ]
}

on_both_backends! {
    async fn concurrent_patches_to_one_virtual_key_lose_no_field(app) {
        app.call("POST", "/api/governance/teams", Some(json!({"id": "t", "name": "T"}))).await.expect(201);
        let app = Arc::new(app);
        let keys: Vec<String> = (0..3).map(|i| format!("vk-{i}")).collect();
        for key in &keys {
            app.call("PUT", &format!("/api/governance/virtual-keys/{key}"), Some(json!({}))).await.expect(201);
        }
        // 3 keys × 7 fields = 21 concurrent read-modify-writes.
        let mut tasks = Vec::new();
        for key in &keys {
            for patch in field_patches() {
                let (app, path) = (app.clone(), format!("/api/governance/virtual-keys/{key}"));
                tasks.push(tokio::spawn(async move { app.call("PATCH", &path, Some(patch)).await }));
            }
        }
        for task in tasks {
            task.await.unwrap().expect(200);
        }
        for key in &keys {
            let vk = app.call("GET", &format!("/api/governance/virtual-keys/{key}"), None).await.body;
            for patch in field_patches() {
                for (field, value) in patch.as_object().unwrap() {
                    assert_eq!(&vk[field], value, "{key}.{field} was lost: {vk}");
                }
            }
        }
    }

    async fn concurrent_writers_each_commit_their_own_version(app) {
        let start = app.cp.store().version().await.unwrap();
        let app = Arc::new(app);
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move {
                    let path = format!("/api/governance/virtual-keys/vk-{i}");
                    app.call("PUT", &path, Some(json!({"name": format!("key {i}")}))).await
                })
            })
            .collect();
        let mut versions = BTreeSet::new();
        for task in tasks {
            let r = task.await.unwrap();
            r.expect(201);
            versions.insert(r.version());
        }
        let want: BTreeSet<u64> = (start + 1..=start + 20).collect();
        assert_eq!(versions, want, "every commit got its own, consecutive version");
        let published = app.cp.current();
        assert_eq!(published.version, start + 20);
        assert_eq!(published.config.governance.virtual_keys.len(), 20);
    }
}
