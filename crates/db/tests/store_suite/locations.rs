//! Locations (seed 000's `location_data`): owned, listed newest first, filtered by
//! radius (the box in SQL, the exact distance after) across the antimeridian and
//! near a pole, relabelled, deleted, and gone with the upload they came from.

use std::sync::Arc;

use atelier_core::location::{Location, LocationSource, Near};
use atelier_core::ports::{LocationStore, UploadStore};
use atelier_core::task::Upload;
use atelier_core::{CoreError, LocationId, UploadId, UserId};
use atelier_db::Database;
use atelier_places::{Coordinates, Gazetteer};

use super::v7_at;

fn at(latitude: f64, longitude: f64) -> Coordinates {
    Coordinates::new(latitude, longitude).unwrap()
}

fn location(owner: &UserId, point: Coordinates, label: &str, millis: i64) -> Location {
    Location {
        id: LocationId(format!("loc_{}", v7_at(millis).replace('-', ""))),
        owner: owner.clone(),
        coordinates: point,
        label: Some(label.to_owned()),
        place: Gazetteer::global().reverse(point),
        source: LocationSource::Manual,
        upload: None,
        created_at: millis,
    }
}

fn labels(locations: &[Location]) -> Vec<&str> {
    locations.iter().map(|location| location.label.as_deref().unwrap_or_default()).collect()
}

fn near(latitude: f64, longitude: f64, radius_km: f64) -> Near {
    Near::new(at(latitude, longitude), radius_km).unwrap()
}

pub(crate) async fn locations_are_owned_listed_filtered_and_deleted(store: Arc<Database>) {
    let (ada, bob) = (UserId::new(), UserId::new());
    let points = [
        ("paris", at(48.8566, 2.3522)),
        ("versailles", at(48.8049, 2.1204)),
        ("london", at(51.5074, -0.1278)),
        ("taveuni east", at(-16.8, 179.95)),
        ("taveuni west", at(-16.8, -179.95)),
        ("north pole", at(90.0, 0.0)),
        ("near the pole", at(89.95, 170.0)),
    ];
    let mut stored = Vec::new();
    for (n, (label, point)) in (0i64..).zip(points) {
        let location = location(&ada, point, label, 1_000 + n);
        store.create_location(&location).await.unwrap();
        stored.push(location);
    }
    let bobs = location(&bob, at(48.8566, 2.3522), "bob's paris", 2_000);
    store.create_location(&bobs).await.unwrap();

    // Read back whole: coordinates as given, the place as JSON.
    let paris = store.get_location(&stored[0].id).await.unwrap().unwrap();
    assert_eq!(paris, stored[0]);
    assert_eq!(paris.place.place.country_code, "FR");
    assert_eq!(store.get_location(&LocationId::new()).await.unwrap(), None);

    // Newest first, one owner's, in pages.
    let first = store.list_locations(&ada, None, None, 4).await.unwrap();
    assert_eq!(labels(&first.locations), ["near the pole", "north pole", "taveuni west", "taveuni east"]);
    let cursor = first.next_cursor.unwrap();
    let second = store.list_locations(&ada, None, Some(&cursor), 4).await.unwrap();
    assert_eq!(labels(&second.locations), ["london", "versailles", "paris"]);
    assert!(second.next_cursor.is_none());

    // Within a radius: Versailles is 17.9 km from Paris, London 344 km.
    let paris_20 = store.list_locations(&ada, Some(&near(48.8566, 2.3522, 20.0)), None, 50).await.unwrap();
    assert_eq!(labels(&paris_20.locations), ["versailles", "paris"]);
    let paris_10 = store.list_locations(&ada, Some(&near(48.8566, 2.3522, 10.0)), None, 50).await.unwrap();
    assert_eq!(labels(&paris_10.locations), ["paris"]);
    let paris_400 = store.locations_near(&ada, &near(48.8566, 2.3522, 400.0), 10).await.unwrap();
    let nearest: Vec<&str> = paris_400.iter().map(|(l, _)| l.label.as_deref().unwrap_or_default()).collect();
    assert_eq!(nearest, ["paris", "versailles", "london"]);
    assert!(paris_400[0].1 < 0.001 && (paris_400[1].1 - 17.9).abs() < 0.5 && (paris_400[2].1 - 343.6).abs() < 2.0);

    // Across the antimeridian, from either side: both halves of Taveuni (10.6 km
    // apart), nothing else.
    for longitude in [179.99, -179.99] {
        let found = store.list_locations(&ada, Some(&near(-16.8, longitude, 20.0)), None, 50).await.unwrap();
        assert_eq!(labels(&found.locations), ["taveuni west", "taveuni east"], "from {longitude}");
    }
    // Around the pole every longitude counts: 5.6 km across it.
    let pole = store.list_locations(&ada, Some(&near(89.99, -10.0, 10.0)), None, 50).await.unwrap();
    assert_eq!(labels(&pole.locations), ["near the pole", "north pole"]);

    // A page of a radius filter may be short, but following the cursor misses none.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_locations(&ada, Some(&near(48.8566, 2.3522, 20.0)), cursor.as_ref(), 2).await.unwrap();
        seen.extend(page.locations.iter().map(|l| l.label.clone().unwrap_or_default()));
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
    }
    assert_eq!(seen, ["versailles", "paris"]);

    // Owners are apart.
    let bob_list = store.list_locations(&bob, Some(&near(48.8566, 2.3522, 20.0)), None, 50).await.unwrap();
    assert_eq!(labels(&bob_list.locations), ["bob's paris"]);

    // Relabel, clear, delete.
    assert!(store.update_location_label(&stored[0].id, Some("home")).await.unwrap());
    assert_eq!(store.get_location(&stored[0].id).await.unwrap().unwrap().label.as_deref(), Some("home"));
    assert!(store.update_location_label(&stored[0].id, None).await.unwrap());
    assert_eq!(store.get_location(&stored[0].id).await.unwrap().unwrap().label, None);
    assert!(!store.update_location_label(&LocationId::new(), Some("x")).await.unwrap());
    assert!(store.delete_location(&stored[0].id).await.unwrap());
    assert!(!store.delete_location(&stored[0].id).await.unwrap());
    assert_eq!(store.get_location(&stored[0].id).await.unwrap(), None);
}

pub(crate) async fn a_photos_location_goes_with_its_upload(store: Arc<Database>) {
    let owner = UserId::new();
    let upload = Upload {
        id: UploadId::new(),
        name: "photo.jpg".into(),
        mime: "image/jpeg".into(),
        bytes: 1234,
        width: Some(40),
        height: Some(30),
        sha256: "cd".repeat(32),
        blob_key: "blobs/cd/photo.jpg".into(),
        thumbnail_key: None,
        created_at: 1_000,
        owner: Some(owner.clone()),
    };
    store.create_upload(&upload).await.unwrap();
    let mut taken = location(&owner, at(35.6895, 139.6917), "tokyo", 1_001);
    taken.label = None;
    taken.source = LocationSource::Exif;
    taken.upload = Some(upload.id.clone());
    store.create_location(&taken).await.unwrap();
    assert_eq!(store.upload_location(&upload.id).await.unwrap(), Some(taken.clone()));
    assert_eq!(store.upload_location(&UploadId::new()).await.unwrap(), None);

    // An upload that is gone cannot be named.
    let mut orphan = location(&owner, at(0.0, 0.0), "orphan", 1_002);
    orphan.upload = Some(UploadId::new());
    assert!(matches!(store.create_location(&orphan).await, Err(CoreError::NotFound { what: "upload" })));

    store.delete_upload(&upload.id).await.unwrap();
    assert_eq!(store.get_location(&taken.id).await.unwrap(), None, "deleted with its upload");
}

fn task_ids(tasks: &[atelier_core::task::Task]) -> Vec<atelier_core::TaskId> {
    tasks.iter().map(|task| task.id).collect()
}

pub(crate) async fn tasks_and_their_outputs_filter_by_place(store: Arc<Database>) {
    use atelier_core::ports::{AssetIndex, QueueStore, TaskStore};
    use atelier_core::task::{AssetFilter, NewTask, TaskFilter, TaskPlace};

    use super::{asset, claim_one, insert, new_task};

    let paris = TaskPlace { coordinates: at(48.8566, 2.3522), location: Some(LocationId::new()) };
    let east = TaskPlace { coordinates: at(-16.8, 179.95), location: None };
    let west = TaskPlace { coordinates: at(-16.8, -179.95), location: None };
    let in_paris = insert(&store, NewTask { place: Some(paris.clone()), ..new_task(1000) }).await;
    let in_east = insert(&store, NewTask { place: Some(east.clone()), ..new_task(1001) }).await;
    let in_west = insert(&store, NewTask { place: Some(west), ..new_task(1002) }).await;
    let nowhere = insert(&store, new_task(1003)).await;
    assert_eq!(store.get_task(in_paris).await.unwrap().unwrap().place, Some(paris));
    assert_eq!(store.get_task(in_east).await.unwrap().unwrap().place, Some(east));
    assert_eq!(store.get_task(nowhere).await.unwrap().unwrap().place, None);

    let tasks_near = |near: Near| TaskFilter { near: Some(near), limit: 50, ..TaskFilter::default() };
    let found = store.list_tasks(&tasks_near(near(48.85, 2.35, 10.0))).await.unwrap();
    assert_eq!(task_ids(&found.tasks), [in_paris]);
    let found = store.list_tasks(&tasks_near(near(-16.8, 179.99, 20.0))).await.unwrap();
    assert_eq!(task_ids(&found.tasks), [in_west, in_east], "both sides of the antimeridian");
    let found = store.list_tasks(&tasks_near(near(-16.8, 179.0, 20.0))).await.unwrap();
    assert!(found.tasks.is_empty(), "in the box's latitude band but farther than 20 km");
    let all = store.list_tasks(&TaskFilter { limit: 50, ..TaskFilter::default() }).await.unwrap();
    assert_eq!(all.tasks.len(), 4);

    // Outputs filter by their task's place.
    for n in 0..4 {
        let (id, lease) = claim_one(&store, 2_000 + n).await;
        assert!(store.complete(id, &lease, vec![asset(id, 0, &format!("blobs/{id}"))], 3_000).await.unwrap());
    }
    let assets_near = |near: Near| AssetFilter { near: Some(near), limit: 50, ..AssetFilter::default() };
    let found = store.list_assets(&assets_near(near(48.85, 2.35, 10.0))).await.unwrap();
    assert_eq!(found.assets.iter().map(|a| a.task_id).collect::<Vec<_>>(), [in_paris]);
    let found = store.list_assets(&assets_near(near(-16.8, -179.99, 20.0))).await.unwrap();
    let mut tasks: Vec<_> = found.assets.iter().map(|a| a.task_id).collect();
    tasks.sort();
    assert_eq!(tasks, [in_east, in_west]);
    assert!(store.list_assets(&assets_near(near(0.0, 0.0, 100.0))).await.unwrap().assets.is_empty());
}
