//! The HTTP client every remote provider uses: one `reqwest` client with its
//! timeouts, the provider's [`Auth`] applied to every request, answers read whole,
//! and transport failures classed by the phase a call is in (a lost submit may have
//! been charged; a lost poll is simply repeated). Result files are downloaded
//! without credentials.

use std::sync::Arc;
use std::time::Duration;

use atelier_core::ports::{ErrorClass, ProviderError};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use super::Auth;

/// Which call an error happened in: a submit whose answer was lost may have
/// created (and charged for) a task, a poll may simply be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Submit,
    Query,
    /// An input-file upload: cheap and safe to repeat, so a lost answer is an
    /// ordinary transport error, never `SubmitUnknown`.
    Upload,
}

/// A transport failure. A refused connection never reached the provider and may be
/// retried; a timeout or reset during a submit may have been carried out (and
/// charged), so it is `SubmitUnknown`, never something to send again blindly.
/// `who` names the provider in the message (reqwest's text names the URL, never
/// the key, which travels in a header).
pub fn transport_error(error: &reqwest::Error, phase: Phase, who: &str) -> ProviderError {
    let class = if error.is_connect() {
        ErrorClass::ConnectionRefused
    } else if phase == Phase::Submit {
        ErrorClass::SubmitUnknown
    } else if error.is_timeout() {
        ErrorClass::Timeout
    } else if error.is_decode() {
        ErrorClass::MalformedResponse
    } else {
        ErrorClass::ServerError
    };
    ProviderError::new(class, format!("{who} request failed: {error}"))
}

/// `Retry-After` in seconds, when given.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Downloads a result file (result URLs are public and short-lived; no
/// credentials go with them). Returns the bytes and the `Content-Type` essence.
pub async fn download(http: &reqwest::Client, url: &str, who: &str) -> Result<(Bytes, Option<String>), ProviderError> {
    let response = http.get(url).send().await.map_err(|error| transport_error(&error, Phase::Query, who))?;
    let status = response.status();
    if !status.is_success() {
        let class = if status.is_server_error() { ErrorClass::ServerError } else { ErrorClass::ClientError };
        return Err(ProviderError::new(class, format!("downloading a result ({who}) failed with HTTP {status}")));
    }
    let mime = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
    let bytes = response.bytes().await.map_err(|error| transport_error(&error, Phase::Query, who))?;
    Ok((bytes, mime))
}

/// An answer read whole, whatever its status: the provider's own client reads its
/// error shape from it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// `Retry-After`, when given.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

/// A provider's HTTP client.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    auth: Arc<dyn Auth>,
    /// Names the provider in transport errors ("Kie request failed: …").
    who: &'static str,
}

impl ApiClient {
    /// `timeout` bounds a whole call; connecting takes at most 10 s.
    pub fn new(who: &'static str, auth: Arc<dyn Auth>, timeout: Duration) -> Result<Self, ProviderError> {
        let http =
            reqwest::Client::builder().timeout(timeout).connect_timeout(Duration::from_secs(10)).build().map_err(
                |error| ProviderError::new(ErrorClass::ClientError, format!("building the HTTP client: {error}")),
            )?;
        Ok(Self { http, auth, who })
    }

    /// A request to build on (`client.request(Method::POST, url).json(&body)`).
    pub fn request(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Authenticates and sends a request, and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder, phase: Phase) -> Result<Reply, ProviderError> {
        let mut request = request.build().map_err(|error| {
            ProviderError::new(ErrorClass::ClientError, format!("building a {} request: {error}", self.who))
        })?;
        self.auth.authorize(&mut request).await?;
        let response = self.http.execute(request).await.map_err(|error| transport_error(&error, phase, self.who))?;
        let status = response.status();
        let headers = response.headers().clone();
        // A body lost half-way through a submit is as unknown as a lost answer.
        let body = response.bytes().await.map_err(|error| transport_error(&error, phase, self.who))?;
        Ok(Reply { status, headers, body })
    }

    /// Downloads a result file, without credentials.
    pub async fn download(&self, url: &str) -> Result<(Bytes, Option<String>), ProviderError> {
        download(&self.http, url, self.who).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;

    /// Signs over the body, as request-signing schemes do.
    struct Signer {
        seen: Mutex<Vec<u8>>,
    }

    #[async_trait]
    impl Auth for Signer {
        async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), ProviderError> {
            let body = request.body().and_then(reqwest::Body::as_bytes).unwrap_or_default().to_vec();
            let signature = format!("len={};path={}", body.len(), request.url().path());
            request.headers_mut().insert("x-signature", signature.parse().expect("header"));
            *self.seen.lock().expect("lock") = body;
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_auth_sees_the_whole_request_before_it_is_sent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut received = vec![0; 4096];
            let read = stream.read(&mut received).await.expect("read");
            stream
                .write_all(b"HTTP/1.1 418 I'm a teapot\r\ncontent-length: 2\r\nretry-after: 7\r\n\r\nno")
                .await
                .expect("write");
            String::from_utf8_lossy(&received[..read]).to_string()
        });
        let signer = Arc::new(Signer { seen: Mutex::default() });
        let client = ApiClient::new("Test", signer.clone(), Duration::from_secs(5)).expect("client");
        let url = reqwest::Url::parse(&format!("http://{address}/v1/sign")).expect("url");
        let reply = client.send(client.request(reqwest::Method::POST, url).body("{\"a\":1}"), Phase::Submit).await;
        let reply = reply.expect("an answer, whatever its status");
        assert_eq!((reply.status.as_u16(), &reply.body[..]), (418, &b"no"[..]));
        assert_eq!(reply.retry_after(), Some(Duration::from_secs(7)));
        let request = server.await.expect("server").to_ascii_lowercase();
        assert!(request.contains("x-signature: len=7;path=/v1/sign"), "{request}");
        assert_eq!(*signer.seen.lock().expect("lock"), b"{\"a\":1}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_a_lost_submit() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let client =
            ApiClient::new("Test", Arc::new(super::super::Bearer::new("k").expect("auth")), Duration::from_secs(5))
                .expect("client");
        let url = reqwest::Url::parse(&format!("http://{address}/")).expect("url");
        let error = client.send(client.request(reqwest::Method::POST, url), Phase::Submit).await.expect_err("refused");
        assert_eq!(error.class, ErrorClass::ConnectionRefused, "never reached the provider: safe to send again");
    }
}
