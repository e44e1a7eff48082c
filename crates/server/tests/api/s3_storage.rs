//! The server with its files on S3: a bucket of its own on moto's server
//! (`atelier_testkit::s3`; skipped without one unless `ATELIER_TEST_REQUIRE_S3`).
//! Outputs, thumbnails and uploads go to the bucket, are served by Atelier (whole,
//! in ranges, through signed links: Atelier signs the links and streams the file
//! from the bucket; no presigned S3 URL leaves the server), feed later tasks, and
//! deletes take them out of the bucket. What is in the bucket is checked with the
//! test's own S3 client.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error, client_with_key, tools_present};
use atelier_testkit::s3::TestBucket;

/// A test app whose files are in a fresh bucket.
async fn app_on_s3() -> Option<(TestApp, TestBucket)> {
    let bucket = TestBucket::create().await?;
    let url = bucket.storage_url();
    let configure = Box::new(move |config: &mut atelier::config::Config, _: &str| config.storage.url = url);
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("the app");
    Some((app, bucket))
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbaImage::from_fn(width, height, |x, y| image::Rgba([(x * 3) as u8, (y * 5) as u8, 90, 255]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut bytes, image::ImageFormat::Png).expect("png");
    bytes.into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The bucket keys of a file with this hash and extension, and of its thumbnail.
fn keys_of(sha256: &str, extension: &str) -> (String, String) {
    (format!("blobs/{}/{sha256}.{extension}", &sha256[..2]), format!("thumbs/{}/{sha256}.webp", &sha256[..2]))
}

#[tokio::test]
async fn files_live_in_the_bucket_are_served_in_ranges_and_links_and_deletes_empty_it() {
    let Some((app, bucket)) = app_on_s3().await else { return };
    let info: Value = app.get("/api/v1/system/info").await.json().await.unwrap();
    assert_eq!(info["storage"], format!("s3://{}", bucket.name), "{info}");
    assert_eq!(app.get("/api/v1/health/ready").await.status(), 200, "the probe write to the bucket holds");
    assert!(bucket.keys(None).await.is_empty(), "the probe is removed");

    // An output and its thumbnail, in the bucket, served as the bucket holds them.
    let task_id = app.create_placeholder("a harbour at dawn", json!({ "seed": 5, "width": 512, "height": 256 })).await;
    let task = app.wait_for_end(&task_id).await;
    assert_eq!(task["status"], "completed", "{task}");
    let image = &task["images"][0];
    let sha256 = image["sha256"].as_str().unwrap();
    let (blob_key, thumb_key) = keys_of(sha256, "png");
    assert_eq!(bucket.keys(None).await, vec![blob_key.clone(), thumb_key.clone()]);
    let (stored, content_type) = bucket.object(&blob_key).await.expect("the output is in the bucket");
    assert_eq!((sha256_hex(&stored), content_type.as_deref()), (sha256.to_owned(), Some("image/png")));
    let url = image["url"].as_str().unwrap();
    let full = app.get(url).await;
    assert_eq!((full.status().as_u16(), full.headers()["content-type"].to_str().unwrap()), (200, "image/png"));
    assert_eq!(full.bytes().await.unwrap().to_vec(), stored);
    let thumbnail = app.get(image["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!(thumbnail.headers()["content-type"], "image/webp");
    let thumbnail = thumbnail.bytes().await.unwrap().to_vec();
    assert_eq!(Some(thumbnail.clone()), bucket.object(&thumb_key).await.map(|(bytes, _)| bytes));
    let decoded = image::load_from_memory(&thumbnail).expect("a WebP");
    assert_eq!((decoded.width(), decoded.height()), (256, 128));

    // Ranges, read from the bucket.
    let ranged = |range: &str| app.http.get(app.url(url)).header("range", range.to_owned()).send();
    let part = ranged("bytes=100-4195").await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 100-4195/{}", stored.len()));
    assert_eq!(part.bytes().await.unwrap().to_vec(), stored[100..4196]);
    let tail = ranged("bytes=-16").await.unwrap();
    assert_eq!(
        (tail.status().as_u16(), tail.bytes().await.unwrap().to_vec()),
        (206, stored[stored.len() - 16..].to_vec())
    );
    let beyond = ranged(&format!("bytes={}-", stored.len())).await.unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], format!("bytes */{}", stored.len()));

    // A signed link: no key, the same bytes, ranges too; a changed link is refused.
    let image_id = image["image_id"].as_str().unwrap();
    let share = app.post(&format!("/api/v1/assets/{image_id}/share"), &json!({ "ttl_secs": 300 })).await;
    assert_eq!(share.status(), 200);
    let link = share.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("/api/v1/shared/{image_id}?expires=")), "served by Atelier: {link}");
    let anonymous = client_with_key(None);
    let shared = anonymous.get(app.url(&link)).send().await.unwrap();
    assert_eq!(shared.status(), 200);
    assert_eq!(shared.bytes().await.unwrap().to_vec(), stored);
    let shared_part = anonymous.get(app.url(&link)).header("range", "bytes=0-7").send().await.unwrap();
    assert_eq!(shared_part.status(), 206);
    assert_eq!(shared_part.bytes().await.unwrap().to_vec(), b"\x89PNG\r\n\x1a\n");
    let tampered = link.replace("expires=", "expires=9");
    assert_error(anonymous.get(app.url(&tampered)).send().await.unwrap(), 403, "bad_signature").await;

    // An upload: in the bucket with its thumbnail, served back, and used as a task's input.
    let picture = png(160, 120);
    let upload_id = app.upload("quay.png", "image/png", picture.clone()).await;
    let (upload_key, upload_thumb) = keys_of(&sha256_hex(&picture), "png");
    let in_bucket = bucket.object(&upload_key).await.expect("the upload is in the bucket");
    assert_eq!(in_bucket, (picture.clone(), Some("image/png".to_owned())));
    assert!(bucket.object(&upload_thumb).await.is_some(), "the upload's thumbnail is in the bucket");
    let upload: Value = app.get(&format!("/api/v1/uploads/{upload_id}")).await.json().await.unwrap();
    assert_eq!(app.get(upload["url"].as_str().unwrap()).await.bytes().await.unwrap().to_vec(), picture);
    let mut video_key = None;
    // A slideshow of the upload: the input read from the bucket, the MP4 streamed
    // back into it (a multipart upload to a staging object, then a copy).
    if tools_present(&["ffmpeg"]) {
        let video = app.run("local/slideshow", json!({ "images": [upload_id], "fps": 5, "duration": 1 })).await;
        assert_eq!(video["status"], "completed", "{video}");
        let output = &video["images"][0];
        let served = app.output_bytes(output).await;
        assert_eq!(&served[4..8], b"ftyp", "an MP4");
        let key = keys_of(output["sha256"].as_str().unwrap(), "mp4").0;
        let (in_bucket, content_type) = bucket.object(&key).await.expect("the video is in the bucket");
        assert_eq!((in_bucket, content_type.as_deref()), (served, Some("video/mp4")));
        assert!(bucket.keys(Some("staging")).await.is_empty(), "nothing staged is left");
        assert!(bucket.pending_uploads().await.is_empty(), "no multipart upload is left open");
        video_key = Some((video["task_id"].as_str().unwrap().to_owned(), key));
    }

    // Deletes: the image (seed 004's history), the video's task, the upload; each
    // takes its objects out of the bucket, and nothing is left.
    assert_eq!(app.delete(&format!("/api/v1/history/{image_id}")).await.status(), 204);
    let keys = bucket.keys(None).await;
    assert!(!keys.contains(&blob_key) && !keys.contains(&thumb_key), "the image is gone from the bucket: {keys:?}");
    assert_error(anonymous.get(app.url(&link)).send().await.unwrap(), 404, "not_found").await;
    if let Some((video_task, key)) = video_key {
        assert_eq!(app.delete(&format!("/api/v1/tasks/{video_task}")).await.status(), 204);
        assert!(!bucket.keys(None).await.contains(&key), "the video is gone from the bucket");
    }
    assert_eq!(app.delete(&format!("/api/v1/uploads/{upload_id}")).await.status(), 204);
    assert_eq!(bucket.keys(None).await, Vec::<String>::new(), "the bucket is empty");
    // The data directory holds no files of its own.
    assert!(!app.data_dir().join("files").exists(), "nothing was written to the local directory");
}
