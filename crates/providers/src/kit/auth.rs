//! How a provider's requests prove who sends them. An [`Auth`] sees the whole built
//! request (method, URL, headers and body) just before it is sent, so one trait
//! covers a bearer token, a key in a named header, HTTP Basic, request signing over the body
//! (VolcEngine's HMAC signature), and tokens fetched from an OAuth token endpoint
//! ([`OAuth`] over a [`TokenSource`], which caches and renews them).

use async_trait::async_trait;
use atelier_core::ports::{ErrorClass, ProviderError};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

#[async_trait]
pub trait Auth: Send + Sync {
    /// Adds the request's credentials.
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), ProviderError>;
}

fn header_value(text: &str, what: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| ProviderError::new(ErrorClass::Unauthorized, format!("the {what} is not a valid header value")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Authorization: Bearer <token>`, with any fixed headers beside it (OpenAI's
/// `OpenAI-Organization` and `OpenAI-Project`).
pub struct Bearer {
    authorization: HeaderValue,
    extra: Vec<(HeaderName, HeaderValue)>,
}

impl Bearer {
    pub fn new(token: &str) -> Result<Self, ProviderError> {
        Ok(Self { authorization: header_value(&format!("Bearer {token}"), "API key")?, extra: Vec::new() })
    }

    /// Sends `name: value` with every request too.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Result<Self, ProviderError> {
        self.extra.push((HeaderName::from_static(name), header_value(value, name)?));
        Ok(self)
    }
}

#[async_trait]
impl Auth for Bearer {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), ProviderError> {
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        for (name, value) in &self.extra {
            headers.insert(name.clone(), value.clone());
        }
        Ok(())
    }
}

/// The key in a header of the provider's naming (Azure's `api-key`).
pub struct ApiKeyHeader {
    name: HeaderName,
    value: HeaderValue,
}

impl ApiKeyHeader {
    pub fn new(name: &'static str, key: &str) -> Result<Self, ProviderError> {
        Ok(Self { name: HeaderName::from_static(name), value: header_value(key, "API key")? })
    }
}

#[async_trait]
impl Auth for ApiKeyHeader {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), ProviderError> {
        request.headers_mut().insert(self.name.clone(), self.value.clone());
        Ok(())
    }
}

/// HTTP Basic credentials (a self-hosted server's `--api-auth`), or none at all.
pub struct Basic {
    authorization: Option<HeaderValue>,
}

impl Basic {
    pub fn new(credentials: Option<(&str, &str)>) -> Result<Self, ProviderError> {
        use base64::Engine;
        let authorization = match credentials {
            Some((user, password)) => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(header_value(&format!("Basic {token}"), "password")?)
            }
            None => None,
        };
        Ok(Self { authorization })
    }
}

#[async_trait]
impl Auth for Basic {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), ProviderError> {
        if let Some(authorization) = &self.authorization {
            request.headers_mut().insert(AUTHORIZATION, authorization.clone());
        }
        Ok(())
    }
}

/// Where short-lived access tokens come from (an OAuth token endpoint, a service
/// account's signed assertion): the source caches a token and renews it before it
/// expires.
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self) -> Result<String, ProviderError>;
}

/// `Authorization: Bearer` with a token from a [`TokenSource`].
pub struct OAuth<S>(pub S);

#[async_trait]
impl<S: TokenSource> Auth for OAuth<S> {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<(), ProviderError> {
        let token = self.0.token().await?;
        request.headers_mut().insert(AUTHORIZATION, header_value(&format!("Bearer {token}"), "access token")?);
        Ok(())
    }
}
