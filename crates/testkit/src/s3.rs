//! A fresh bucket per test on the throwaway S3 server: moto's, started by
//! `scripts/moto-server` (which `scripts/test` runs once for the whole suite and
//! names in `ATELIER_TEST_S3_ENDPOINT`).
//!
//! Unset, the S3 variants are skipped with a note, unless `ATELIER_TEST_REQUIRE_S3`
//! is set (as `scripts/test` does): then they fail, so CI never passes by skipping.
//!
//! The asset store takes its S3 credentials from the environment, as in production
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`: moto takes any, `scripts/test`
//! sets `test`). [`TestBucket::client`] is the tests' own view of the bucket, made
//! here with its own credentials, to check what the store wrote.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{Attribute, ObjectStore, ObjectStoreExt};

/// The variable naming the test S3 server's endpoint (`http://127.0.0.1:PORT`).
pub const ENDPOINT_VAR: &str = "ATELIER_TEST_S3_ENDPOINT";
/// Set: a missing S3 server fails the S3 variants instead of skipping them.
pub const REQUIRE_VAR: &str = "ATELIER_TEST_REQUIRE_S3";
/// The region the buckets are made in (moto's default).
pub const REGION: &str = "us-east-1";

/// An empty bucket of its own on the test S3 server. Buckets live in moto's memory:
/// they go when it stops.
#[derive(Debug, Clone)]
pub struct TestBucket {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub name: String,
}

impl TestBucket {
    /// A new bucket on the server `ATELIER_TEST_S3_ENDPOINT` names; `None` (a skip,
    /// with a note) when it names none, a panic instead when `ATELIER_TEST_REQUIRE_S3`
    /// is set.
    pub async fn create() -> Option<Self> {
        let endpoint = match std::env::var(ENDPOINT_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os(REQUIRE_VAR).is_none(),
                    "{REQUIRE_VAR} is set but {ENDPOINT_VAR} is not (scripts/moto-server starts one)"
                );
                eprintln!("note: {ENDPOINT_VAR} is unset; skipping the S3 variant (scripts/test sets it)");
                return None;
            }
        };
        // Without credentials object_store asks the instance metadata service, which
        // is no address to send a test's requests to: say what is missing instead.
        for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            assert!(
                std::env::var(var).is_ok_and(|value| !value.is_empty()),
                "{ENDPOINT_VAR} is set but {var} is not: the S3 store reads its credentials from the \
                 environment (moto takes any: scripts/test sets AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)"
            );
        }
        Some(Self::create_at(&endpoint).await.unwrap_or_else(|error| panic!("{error}")))
    }

    /// A new bucket on the S3 server at `endpoint` (moto: it checks no signature, so
    /// the bucket is made with a plain `PUT /{bucket}`, which `object_store` has no
    /// call for).
    pub async fn create_at(endpoint: &str) -> Result<Self, String> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let name = format!("atelier-test-{}", uuid::Uuid::new_v4().simple());
        let url = format!("{endpoint}/{name}");
        let response = reqwest::Client::new()
            .put(&url)
            .send()
            .await
            .map_err(|error| format!("creating the bucket {url}: {error}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(format!("creating the bucket {url}: {status} {body}"));
        }
        Ok(Self { endpoint, name })
    }

    /// The asset store's URL for this bucket (no prefix).
    pub fn storage_url(&self) -> String {
        self.storage_url_under("")
    }

    /// The asset store's URL for a prefix of this bucket (`""`: the whole bucket).
    pub fn storage_url_under(&self, prefix: &str) -> String {
        let prefix = prefix.trim_matches('/');
        let path = if prefix.is_empty() { String::new() } else { format!("/{prefix}") };
        format!("s3://{}{path}?endpoint={}&region={REGION}&allow_http=true", self.name, self.endpoint)
    }

    /// The tests' own client of the bucket, with credentials of its own (not the
    /// environment's), to check what the store under test wrote.
    pub fn client(&self) -> Arc<AmazonS3> {
        let client = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(&self.name)
            .with_region(REGION)
            .with_allow_http(true)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .expect("an S3 client for the test bucket");
        Arc::new(client)
    }

    /// Every key in the bucket (under `prefix`, when given), sorted.
    pub async fn keys(&self, prefix: Option<&str>) -> Vec<String> {
        let prefix = prefix.map(Path::from);
        let objects: Vec<_> = self.client().list(prefix.as_ref()).try_collect().await.expect("listing the test bucket");
        let mut keys: Vec<String> = objects.into_iter().map(|meta| meta.location.to_string()).collect();
        keys.sort();
        keys
    }

    /// An object's bytes and content type as the bucket holds them; `None` when it
    /// is not there.
    pub async fn object(&self, key: &str) -> Option<(Vec<u8>, Option<String>)> {
        let result = match self.client().get(&Path::from(key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return None,
            Err(error) => panic!("reading {key} from the test bucket: {error}"),
        };
        let content_type = result.attributes.get(&Attribute::ContentType).map(|value| value.to_string());
        let bytes = result.bytes().await.expect("reading an object of the test bucket");
        Some((bytes.to_vec(), content_type))
    }

    /// The keys of the multipart uploads begun and neither completed nor aborted (S3
    /// keeps their parts, and bills them, until a lifecycle rule or an abort removes
    /// them). Asked of moto with a plain `GET /{bucket}?uploads`.
    pub async fn pending_uploads(&self) -> Vec<String> {
        let url = format!("{}/{}?uploads", self.endpoint, self.name);
        let response = reqwest::get(&url).await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        let xml = response.text().await.expect("the multipart uploads listing");
        xml.split("<Upload>")
            .skip(1)
            .filter_map(|upload| Some(upload.split_once("<Key>")?.1.split_once("</Key>")?.0.to_owned()))
            .collect()
    }
}
