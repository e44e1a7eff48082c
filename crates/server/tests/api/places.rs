//! Seed 000's location service over HTTP: the gazetteer both ways (capitals, both
//! sides of the antimeridian, the poles), radius searches, invalid values answered
//! 422 naming the field, and stored locations kept to their owner.

use atelier_core::account::Role;
use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, keys};

async fn get_json(client: &Client, app: &TestApp, path: &str) -> Value {
    let response = client.get(app.url(path)).send().await.expect("GET");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn create(client: &Client, app: &TestApp, body: Value) -> Value {
    let response = client.post(app.url("/api/v1/locations")).json(&body).send().await.expect("POST");
    let status = response.status();
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(status, 201, "{body}: {created}");
    created
}

/// The 422 a request gets, and the field it names.
async fn invalid_field(response: reqwest::Response) -> String {
    let body = assert_error(response, 422, "validation_error").await;
    body["details"]["field"].as_str().unwrap_or_else(|| panic!("no field named: {body}")).to_owned()
}

fn labels(list: &Value) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|l| l["label"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn reverse_names_capitals_both_sides_of_the_antimeridian_and_the_poles() {
    let app = TestApp::spawn().await;
    let cases = [
        ((35.6895, 139.6917), "Tokyo", "JP", "Japan"),
        ((48.8566, 2.3522), "Paris", "FR", "France"),
        ((-1.2864, 36.8172), "Nairobi", "KE", "Kenya"),
        ((-35.2809, 149.13), "Canberra", "AU", "Australia"),
        ((-34.6037, -58.3816), "Buenos Aires", "AR", "Argentina"),
        ((-16.8, 179.99), "Lambasa", "FJ", "Fiji"),
        ((-16.8, -179.99), "Lambasa", "FJ", "Fiji"),
        ((90.0, 0.0), "Longyearbyen", "SJ", "Svalbard and Jan Mayen"),
        ((-90.0, 0.0), "McMurdo Station", "AQ", "Antarctica"),
    ];
    for ((latitude, longitude), name, code, country) in cases {
        let place =
            get_json(&app.http, &app, &format!("/api/v1/places/reverse?latitude={latitude}&longitude={longitude}"))
                .await;
        assert_eq!(
            (place["name"].as_str(), place["country_code"].as_str(), place["country_name"].as_str()),
            (Some(name), Some(code), Some(country)),
            "({latitude}, {longitude}): {place}"
        );
        assert!(place["distance_km"].as_f64().is_some(), "{place}");
    }
    let tokyo = get_json(&app.http, &app, "/api/v1/places/reverse?latitude=35.6895&longitude=139.6917").await;
    assert_eq!(
        keys(&tokyo),
        ["admin1", "admin2", "country_code", "country_name", "distance_km", "latitude", "longitude", "name"]
    );
    assert_eq!(tokyo["admin1"], "Tokyo");
    assert!(tokyo["distance_km"].as_f64().is_some_and(|d| d < 1.0), "{tokyo}");
    // Lambasa lies west of the antimeridian's east side: nearer from there.
    let east = get_json(&app.http, &app, "/api/v1/places/reverse?latitude=-16.8&longitude=179.99").await;
    let west = get_json(&app.http, &app, "/api/v1/places/reverse?latitude=-16.8&longitude=-179.99").await;
    assert!(east["distance_km"].as_f64() < west["distance_km"].as_f64(), "{east} {west}");
}

#[tokio::test]
async fn invalid_values_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let reverse = [
        ("latitude=NaN&longitude=0", "latitude"),
        ("latitude=91&longitude=0", "latitude"),
        ("latitude=-90.5&longitude=0", "latitude"),
        ("latitude=0&longitude=-181", "longitude"),
        ("latitude=0&longitude=inf", "longitude"),
        ("latitude=0&longitude=NaN", "longitude"),
        ("longitude=0", "latitude"),
        ("latitude=0", "longitude"),
        ("latitude=north&longitude=0", "latitude"),
    ];
    for (query, field) in reverse {
        assert_eq!(invalid_field(app.get(&format!("/api/v1/places/reverse?{query}")).await).await, field, "{query}");
    }
    let nearby = [
        ("latitude=0&longitude=0&radius_km=-1", "radius_km"),
        ("latitude=0&longitude=0&radius_km=NaN", "radius_km"),
        ("latitude=0&longitude=0", "radius_km"),
        ("latitude=0&longitude=0&radius_km=10&limit=0", "limit"),
        ("latitude=0&longitude=0&radius_km=10&limit=201", "limit"),
        ("latitude=100&longitude=0&radius_km=10", "latitude"),
    ];
    for (query, field) in nearby {
        assert_eq!(invalid_field(app.get(&format!("/api/v1/places/nearby?{query}")).await).await, field, "{query}");
    }
    let long = "x".repeat(201);
    let search = [
        (String::new(), "q"),
        ("q=%20%20".to_owned(), "q"),
        ("q=,FR".to_owned(), "q"),
        (format!("q={long}"), "q"),
        ("q=Paris&limit=0".to_owned(), "limit"),
        ("q=Paris&limit=51".to_owned(), "limit"),
    ];
    for (query, field) in search {
        assert_eq!(invalid_field(app.get(&format!("/api/v1/places/search?{query}")).await).await, field, "{query}");
    }
    let bodies = [
        (json!({ "latitude": 91, "longitude": 0 }), "latitude"),
        (json!({ "latitude": 0, "longitude": 180.5 }), "longitude"),
        (json!({ "latitude": 10 }), "longitude"),
        (json!({ "longitude": 10 }), "latitude"),
        (json!({}), "latitude"),
        (json!({ "latitude": "north", "longitude": 0 }), "latitude"),
        (json!({ "latitude": 1, "longitude": 2, "query": "Paris" }), "query"),
        (json!({ "query": "Qxzvqxzv" }), "query"),
        (json!({ "query": "   " }), "query"),
        (json!({ "latitude": 1, "longitude": 2, "label": "x".repeat(201) }), "label"),
        (json!({ "latitude": 1, "longitude": 2, "altitude": 3 }), "altitude"),
    ];
    for (body, field) in bodies {
        let response = app.post("/api/v1/locations", &body).await;
        assert_eq!(invalid_field(response).await, field, "{body}");
    }
    let lists = [
        ("near=48.85,2.35", "radius_km"),
        ("radius_km=5", "near"),
        ("near=48.85&radius_km=5", "near"),
        ("near=95,2.35&radius_km=5", "latitude"),
        ("near=48.85,2.35&radius_km=-5", "radius_km"),
    ];
    for (query, field) in lists {
        assert_eq!(invalid_field(app.get(&format!("/api/v1/locations?{query}")).await).await, field, "{query}");
    }
}

#[tokio::test]
async fn search_finds_places_with_their_coordinates() {
    let app = TestApp::spawn().await;
    let paris = get_json(&app.http, &app, "/api/v1/places/search?q=Paris,%20FR&limit=3").await;
    let places = paris["places"].as_array().expect("places");
    assert!(!places.is_empty() && places.len() <= 3, "{paris}");
    assert_eq!((places[0]["name"].as_str(), places[0]["country_code"].as_str()), (Some("Paris"), Some("FR")));
    assert!((places[0]["latitude"].as_f64().unwrap_or_default() - 48.85).abs() < 0.1, "{paris}");
    assert!(places[0].get("distance_km").is_none(), "a search has no distance: {paris}");
    for (query, country) in [("Tokyo", "JP"), ("Nairobi", "KE"), ("Buenos%20Aires", "AR"), ("Canberra", "AU")] {
        let found = get_json(&app.http, &app, &format!("/api/v1/places/search?q={query}")).await;
        assert_eq!(found["places"][0]["country_code"], country, "{query}: {found}");
    }
    let none = get_json(&app.http, &app, "/api/v1/places/search?q=Qxzvqxzv").await;
    assert_eq!(none["places"], json!([]));
}

#[tokio::test]
async fn locations_are_stored_found_nearby_and_kept_to_their_owner() {
    let app = TestApp::spawn().await;
    let (ada, _) = app.user("ada@example.com", Role::Member).await;
    let (bob, _) = app.user("bob@example.com", Role::Member).await;

    let home = create(&ada, &app, json!({ "latitude": 48.8566, "longitude": 2.3522, "label": "  home " })).await;
    assert_eq!(keys(&home), ["created_at", "id", "label", "latitude", "longitude", "place", "source", "upload_id"]);
    let home_id = home["id"].as_str().expect("an id").to_owned();
    assert!(home_id.starts_with("loc_"), "{home}");
    assert_eq!((home["label"].as_str(), home["source"].as_str()), (Some("home"), Some("manual")));
    assert_eq!(home["upload_id"], Value::Null);
    assert_eq!((home["place"]["name"].as_str(), home["place"]["country_code"].as_str()), (Some("Paris"), Some("FR")));
    assert!(home["place"]["distance_km"].as_f64().is_some_and(|d| d < 1.0), "{home}");

    let palace = create(&ada, &app, json!({ "query": "Versailles, France", "label": "palace" })).await;
    assert_eq!((palace["source"].as_str(), palace["place"]["name"].as_str()), (Some("search"), Some("Versailles")));
    assert!((palace["latitude"].as_f64().unwrap_or_default() - 48.80).abs() < 0.05, "{palace}");
    create(&ada, &app, json!({ "latitude": -16.8, "longitude": 179.99, "label": "fiji east" })).await;
    create(&ada, &app, json!({ "latitude": -16.8, "longitude": -179.99, "label": "fiji west" })).await;
    let tokyo = create(&bob, &app, json!({ "latitude": 35.6895, "longitude": 139.6917 })).await;
    assert_eq!(tokyo["label"], Value::Null);

    // Newest first, the caller's own, in pages.
    let all = get_json(&ada, &app, "/api/v1/locations").await;
    assert_eq!(labels(&all["locations"]), ["fiji west", "fiji east", "palace", "home"]);
    let first = get_json(&ada, &app, "/api/v1/locations?limit=3").await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = get_json(&ada, &app, &format!("/api/v1/locations?limit=3&cursor={cursor}")).await;
    assert_eq!(labels(&second["locations"]), ["home"]);
    assert!(second.get("next_cursor").is_none());
    let bobs = get_json(&bob, &app, "/api/v1/locations").await;
    assert_eq!(bobs["locations"].as_array().map(Vec::len), Some(1));

    // Within a radius, across the antimeridian too.
    let paris = get_json(&ada, &app, "/api/v1/locations?near=48.8566,2.3522&radius_km=30").await;
    assert_eq!(labels(&paris["locations"]), ["palace", "home"]);
    let fiji = get_json(&ada, &app, "/api/v1/locations?near=-16.8,180&radius_km=5").await;
    assert_eq!(labels(&fiji["locations"]), ["fiji west", "fiji east"]);

    // Nearby: gazetteer places nearest first, and the caller's locations.
    let nearby =
        get_json(&ada, &app, "/api/v1/places/nearby?latitude=48.8566&longitude=2.3522&radius_km=30&limit=5").await;
    let distances: Vec<f64> =
        nearby["places"].as_array().expect("places").iter().filter_map(|p| p["distance_km"].as_f64()).collect();
    assert_eq!(distances.len(), 5, "{nearby}");
    assert!(distances.windows(2).all(|pair| pair[0] <= pair[1]) && distances[4] <= 30.0, "{distances:?}");
    assert_eq!(labels(&nearby["locations"]), ["home", "palace"]);
    assert!(nearby["locations"][1]["distance_km"].as_f64().is_some_and(|d| (15.0..20.0).contains(&d)), "{nearby}");
    let bob_nearby = get_json(&bob, &app, "/api/v1/places/nearby?latitude=48.8566&longitude=2.3522&radius_km=30").await;
    assert_eq!(bob_nearby["locations"], json!([]));
    let ocean = get_json(&ada, &app, "/api/v1/places/nearby?latitude=0&longitude=-160&radius_km=1").await;
    assert_eq!((ocean["places"].clone(), ocean["locations"].clone()), (json!([]), json!([])));

    // Someone else's location is not found, whatever is asked of it.
    let path = format!("/api/v1/locations/{home_id}");
    assert_error(bob.get(app.url(&path)).send().await.expect("GET"), 404, "not_found").await;
    let patch = bob.patch(app.url(&path)).json(&json!({ "label": "mine" })).send().await.expect("PATCH");
    assert_error(patch, 404, "not_found").await;
    assert_error(bob.delete(app.url(&path)).send().await.expect("DELETE"), 404, "not_found").await;
    assert_error(ada.get(app.url("/api/v1/locations/loc_nope")).send().await.expect("GET"), 404, "not_found").await;

    // Relabel, clear, delete.
    assert_eq!(get_json(&ada, &app, &path).await["label"], "home");
    let renamed: Value = ada
        .patch(app.url(&path))
        .json(&json!({ "label": "flat" }))
        .send()
        .await
        .expect("PATCH")
        .json()
        .await
        .expect("JSON");
    assert_eq!(renamed["label"], "flat");
    let cleared: Value = ada
        .patch(app.url(&path))
        .json(&json!({ "label": null }))
        .send()
        .await
        .expect("PATCH")
        .json()
        .await
        .expect("JSON");
    assert_eq!(cleared["label"], Value::Null);
    assert_eq!(ada.delete(app.url(&path)).send().await.expect("DELETE").status(), 204);
    assert_error(ada.get(app.url(&path)).send().await.expect("GET"), 404, "not_found").await;
}

#[tokio::test]
async fn a_viewer_reads_places_but_stores_no_location() {
    let app = TestApp::spawn().await;
    let (viewer, _) = app.user("vera@example.com", Role::Viewer).await;
    get_json(&viewer, &app, "/api/v1/places/reverse?latitude=1&longitude=2").await;
    let response = viewer
        .post(app.url("/api/v1/locations"))
        .json(&json!({ "latitude": 1, "longitude": 2 }))
        .send()
        .await
        .expect("POST");
    assert_error(response, 403, "forbidden").await;
}

/// exiftool's reading of a file (`-j -n`: tags as JSON, numbers as numbers).
fn exiftool(bytes: &[u8], extension: &str) -> Value {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join(format!("file.{extension}"));
    std::fs::write(&path, bytes).expect("writing the file");
    let output = std::process::Command::new("exiftool").args(["-j", "-n"]).arg(&path).output().expect("exiftool runs");
    assert!(output.status.success(), "exiftool: {}", String::from_utf8_lossy(&output.stderr));
    let tags: Value = serde_json::from_slice(&output.stdout).expect("exiftool's JSON");
    tags[0].clone()
}

/// The GPS tags exiftool finds, by name.
fn gps_tags(tags: &Value) -> Vec<String> {
    keys(tags).into_iter().filter(|key| key.starts_with("GPS")).collect()
}

/// Every file under `dir` whose path has a `thumbs` folder.
fn thumbnails_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.components().any(|part| part.as_os_str() == "thumbs") {
                found.push(path);
            }
        }
    }
    found
}

/// A phone photo taken in Tokyo: its GPS becomes a location linked to the upload,
/// and no file that leaves the server says where it was taken (exiftool finds no
/// GPS tag in the stored upload, its thumbnail, a task's output made of it, or that
/// output's thumbnail).
#[tokio::test]
async fn a_photos_position_becomes_a_location_and_never_leaves_the_server() {
    use std::sync::Arc;

    use atelier_core::catalog::Modality;
    use atelier_core::ports::Output;
    use atelier_core::testing::{Answer, Scripted};
    use atelier_places::testing::{GpsBlock, exif_blob, jpeg_with};

    if !atelier_core::testing::tool_present("exiftool") {
        return;
    }
    let photo = jpeg_with(Some(&exif_blob(&GpsBlock::at(35.6895, 139.6917))), None);
    let original = exiftool(&photo, "jpg");
    assert!(original["GPSLatitude"].as_f64().is_some_and(|lat| (lat - 35.6895).abs() < 1e-4), "{original}");
    assert!(original["GPSLongitude"].as_f64().is_some_and(|lon| (lon - 139.6917).abs() < 1e-4), "{original}");

    // A provider that answers with the photo itself, as an edit that kept it whole would.
    let camera = Scripted::new("camera")
        .with_models(vec![Scripted::spec("camera", "develop", Modality::Image)])
        .on_submit([Answer::Finish(vec![Output::new(photo.clone(), "image/jpeg")])]);
    let app = crate::helpers::TestApp::with(crate::helpers::Options {
        providers: vec![Arc::new(camera)],
        ..crate::helpers::Options::default()
    })
    .await
    .expect("an app");

    let response = app
        .http
        .post(app.url("/api/v1/uploads?name=tokyo.jpg"))
        .header("content-type", "image/jpeg")
        .body(photo.clone())
        .send()
        .await
        .expect("upload");
    let status = response.status();
    let upload: Value = response.json().await.expect("JSON");
    assert_eq!(status, 201, "{upload}");
    let upload_id = upload["id"].as_str().expect("an upload id").to_owned();
    let location = &upload["location"];
    assert_eq!((location["source"].as_str(), location["upload_id"].as_str()), (Some("exif"), Some(upload_id.as_str())));
    assert!(location["latitude"].as_f64().is_some_and(|lat| (lat - 35.6895).abs() < 1e-4), "{upload}");
    assert_eq!(
        (location["place"]["name"].as_str(), location["place"]["country_code"].as_str()),
        (Some("Tokyo"), Some("JP"))
    );
    let location_id = location["id"].as_str().expect("a location id").to_owned();
    let read_back = get_json(&app.http, &app, &format!("/api/v1/uploads/{upload_id}")).await;
    assert_eq!(read_back["location"]["id"], location_id.as_str());
    let listed = get_json(&app.http, &app, "/api/v1/locations?near=35.68,139.69&radius_km=5").await;
    assert_eq!(listed["locations"][0]["id"], location_id.as_str());

    // The stored upload: the picture without its position.
    let stored = app.get(&format!("/api/v1/uploads/{upload_id}/content")).await.bytes().await.expect("bytes").to_vec();
    assert_eq!(gps_tags(&exiftool(&stored, "jpg")), Vec::<String>::new(), "the stored upload");
    image::load_from_memory(&stored).expect("the stored upload still decodes");

    // An output made of it, and the output's thumbnail.
    let task = app.run("camera/develop", json!({ "prompt": "as taken" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let output = &task["images"][0];
    let bytes = app.output_bytes(output).await;
    assert_eq!(gps_tags(&exiftool(&bytes, "jpg")), Vec::<String>::new(), "the output: {output}");
    let thumbnail_url = output["thumbnail_url"].as_str().expect("a thumbnail");
    let thumbnail = app.get(thumbnail_url).await.bytes().await.expect("bytes").to_vec();
    let thumbnail_tags = exiftool(&thumbnail, "webp");
    assert_eq!(gps_tags(&thumbnail_tags), Vec::<String>::new(), "the output's thumbnail: {thumbnail_tags}");

    // Every thumbnail on disk (the upload's among them) is a re-encoding without Exif.
    let thumbnails = thumbnails_under(app.data_dir());
    assert!(!thumbnails.is_empty(), "thumbnails are stored under the data dir");
    for path in thumbnails {
        let tags = exiftool(&std::fs::read(&path).expect("a thumbnail"), "webp");
        assert_eq!(gps_tags(&tags), Vec::<String>::new(), "{}", path.display());
    }

    // The location goes with its upload.
    assert_eq!(app.delete(&format!("/api/v1/uploads/{upload_id}")).await.status(), 204);
    assert_error(app.get(&format!("/api/v1/locations/{location_id}")).await, 404, "not_found").await;
}

/// Tasks carry a place (coordinates, or one of the caller's locations); tasks and
/// the gallery filter on it by radius.
#[tokio::test]
async fn tasks_and_assets_filter_by_place() {
    let app = TestApp::spawn().await;
    let (ada, _) = app.user("ada@example.com", Role::Member).await;
    let (bob, _) = app.user("bob@example.com", Role::Member).await;
    let post = |body: Value| ada.post(app.url("/api/v1/tasks")).json(&body).send();
    let home = create(&ada, &app, json!({ "latitude": 48.8566, "longitude": 2.3522, "label": "home" })).await;
    let home_id = home["id"].as_str().expect("an id").to_owned();
    let bobs = create(&bob, &app, json!({ "latitude": 1, "longitude": 2 })).await;
    let task = |location: Value| json!({ "model": "local/placeholder", "input": { "prompt": "a red fox", "width": 96, "height": 64 }, "location": location });

    let response = post(task(json!({ "location_id": home_id }))).await.expect("POST");
    assert_eq!(response.status(), 202);
    let in_paris: Value = response.json().await.expect("JSON");
    assert_eq!(in_paris["location"], json!({ "latitude": 48.8566, "longitude": 2.3522, "location_id": home_id }));
    let response = post(task(json!({ "latitude": 35.6895, "longitude": 139.6917 }))).await.expect("POST");
    assert_eq!(response.status(), 202);
    let in_tokyo: Value = response.json().await.expect("JSON");
    assert_eq!(in_tokyo["location"], json!({ "latitude": 35.6895, "longitude": 139.6917 }));
    let response =
        post(json!({ "model": "local/placeholder", "input": { "prompt": "a red fox" } })).await.expect("POST");
    let nowhere = response.json::<Value>().await.expect("JSON")["task_id"].as_str().expect("id").to_owned();
    let (paris_id, tokyo_id) = (in_paris["task_id"].as_str().expect("id"), in_tokyo["task_id"].as_str().expect("id"));
    for id in [paris_id, tokyo_id, nowhere.as_str()] {
        assert_eq!(app.wait_for_end(id).await["status"], "completed");
    }
    assert!(get_json(&ada, &app, &format!("/api/v1/tasks/{nowhere}")).await.get("location").is_none());

    let ids = |list: &Value, key: &str, field: &str| -> Vec<String> {
        list[key].as_array().expect("a list").iter().map(|t| t[field].as_str().unwrap_or_default().to_owned()).collect()
    };
    let near_paris = get_json(&ada, &app, "/api/v1/tasks?near=48.85,2.35&radius_km=5").await;
    assert_eq!(ids(&near_paris, "tasks", "task_id"), [paris_id]);
    let near_tokyo = get_json(&ada, &app, "/api/v1/assets?near=35.68,139.69&radius_km=5").await;
    let tasks_of_assets = ids(&near_tokyo, "images", "task_id");
    assert!(!tasks_of_assets.is_empty() && tasks_of_assets.iter().all(|id| id == tokyo_id), "{near_tokyo}");
    let far = get_json(&ada, &app, "/api/v1/assets?near=0,0&radius_km=100").await;
    assert_eq!(far["images"], json!([]));

    // Invalid places, and someone else's location, are 422s naming the field.
    let cases = [
        (json!({ "latitude": 91, "longitude": 0 }), "latitude"),
        (json!({ "latitude": 1 }), "longitude"),
        (json!({ "location_id": "loc_nope" }), "location_id"),
        (json!({ "location_id": bobs["id"] }), "location_id"),
        (json!({ "latitude": 1, "longitude": 2, "location_id": home_id }), "location"),
    ];
    for (location, field) in cases {
        let response = post(task(location.clone())).await.expect("POST");
        assert_eq!(invalid_field(response).await, field, "{location}");
    }
    for path in ["/api/v1/tasks?near=1,2", "/api/v1/assets?radius_km=3", "/api/v1/tasks?near=1,2&radius_km=NaN"] {
        let field = invalid_field(ada.get(app.url(path)).send().await.expect("GET")).await;
        assert!(["radius_km", "near"].contains(&field.as_str()), "{path}: {field}");
    }
}
