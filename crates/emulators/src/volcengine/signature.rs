//! Verifying VolcEngine's request signature ("HMAC-SHA256", its V4 scheme:
//! the providers' protocol notes, 4.2), written here from the protocol and
//! sharing no code with any client's signer.
//!
//! The client sends `X-Date` (UTC `YYYYMMDDTHHMMSSZ`), `X-Content-Sha256` (hex
//! SHA-256 of the body) and `Authorization: HMAC-SHA256 Credential=<AK>/<date>/
//! cn-north-1/cv/request, SignedHeaders=<names>, Signature=<hex>`. The emulator
//! rebuilds the canonical request from what it received, over the headers the
//! client listed, and the body's own hash:
//!
//! ```text
//! METHOD \n path \n canonical query \n (name:value \n)* \n signed;headers \n bodyHash
//! ```
//!
//! then `stringToSign = "HMAC-SHA256\n" + X-Date + "\n" + scope + "\n" + hex(sha256(canonical))`,
//! signed with `kSigning = HMAC(HMAC(HMAC(HMAC(SK, date), region), service), "request")`.
//!
//! A request is refused, in this order: no `Authorization` (`MissingAuthenticationToken`),
//! one that does not parse (`InvalidAuthorization`), another access key
//! (`InvalidAccessKey`), no or a malformed `X-Date`, or one further than the
//! allowed skew from now (`InvalidTimestamp`), then `SignatureDoesNotMatch` for
//! everything else: a scope other than `<X-Date's day>/cn-north-1/cv/request`,
//! signed headers without `host`, `x-date` and `x-content-sha256` (or naming a
//! header the request lacks), an `X-Content-Sha256` that is not the body's hash,
//! and a signature that differs.

use std::time::Duration;

use axum::http::{HeaderMap, Method, Uri};
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::envelope::GatewayCode;

/// The signing region of the visual API.
pub(super) const REGION: &str = "cn-north-1";
/// The signing service of the visual API.
pub(super) const SERVICE: &str = "cv";
/// The algorithm named in `Authorization` and the string to sign.
const ALGORITHM: &str = "HMAC-SHA256";
/// The headers every signature must cover.
const REQUIRED_SIGNED: [&str; 3] = ["host", "x-date", "x-content-sha256"];

/// Who may call, and how far a client's clock may be from ours.
pub(super) struct Verifier<'a> {
    pub(super) access_key_id: &'a str,
    pub(super) secret_access_key: &'a str,
    pub(super) clock_skew: Duration,
}

/// Why a request's signature was refused: the gateway error to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rejection {
    pub(super) code: GatewayCode,
    pub(super) message: String,
}

impl Rejection {
    fn new(code: GatewayCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    fn mismatch(detail: &str) -> Self {
        Self::new(
            GatewayCode::SignatureDoesNotMatch,
            format!(
                "The request signature we calculated does not match the signature you provided. Check your Secret \
                 Access Key and signing method. ({detail})"
            ),
        )
    }
}

/// The parts of an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    /// `<date>/<region>/<service>/request`.
    scope: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

/// Reads `HMAC-SHA256 Credential=<AK>/<scope>, SignedHeaders=<a;b>, Signature=<hex>`.
fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name.trim() {
            "Credential" => credential = Some(value.trim()),
            "SignedHeaders" => signed = Some(value.trim()),
            "Signature" => signature = Some(value.trim()),
            _ => return None,
        }
    }
    let (access_key_id, scope) = credential?.split_once('/')?;
    let signed_headers: Vec<&str> = signed?.split(';').filter(|name| !name.is_empty()).collect();
    let signature = signature.filter(|s| !s.is_empty())?;
    if access_key_id.is_empty() || signed_headers.is_empty() {
        return None;
    }
    Some(Authorization { access_key_id, scope, signed_headers, signature })
}

/// Checks a request's signature; `now` is the server's clock.
pub(super) fn verify(
    verifier: &Verifier<'_>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let Some(value) = headers.get("authorization") else {
        return Err(Rejection::new(
            GatewayCode::MissingAuthenticationToken,
            "The request does not carry an Authorization header.",
        ));
    };
    let authorization = value.to_str().ok().and_then(parse_authorization).ok_or_else(|| {
        Rejection::new(
            GatewayCode::InvalidAuthorization,
            "The Authorization header is not `HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.",
        )
    })?;
    if authorization.access_key_id != verifier.access_key_id {
        return Err(Rejection::new(
            GatewayCode::InvalidAccessKey,
            format!("The access key `{}` is not valid.", authorization.access_key_id),
        ));
    }

    let x_date = header_text(headers, "x-date")
        .ok_or_else(|| Rejection::new(GatewayCode::InvalidTimestamp, "The X-Date header is missing."))?;
    let signed_at = NaiveDateTime::parse_from_str(x_date, "%Y%m%dT%H%M%SZ").map(|t| t.and_utc()).map_err(|_| {
        Rejection::new(GatewayCode::InvalidTimestamp, format!("X-Date `{x_date}` is not in the form YYYYMMDDTHHMMSSZ."))
    })?;
    let skew = (now - signed_at).abs().to_std().unwrap_or(Duration::MAX);
    if skew > verifier.clock_skew {
        return Err(Rejection::new(
            GatewayCode::InvalidTimestamp,
            format!(
                "X-Date `{x_date}` is {} s away from the server's time; at most {} s are allowed.",
                skew.as_secs(),
                verifier.clock_skew.as_secs()
            ),
        ));
    }

    let date = x_date.get(..8).unwrap_or(x_date);
    let expected_scope = credential_scope(date);
    if authorization.scope != expected_scope {
        return Err(Rejection::mismatch(&format!(
            "the credential scope is `{}`, expected `{expected_scope}`",
            authorization.scope
        )));
    }
    for required in REQUIRED_SIGNED {
        if !authorization.signed_headers.contains(&required) {
            return Err(Rejection::mismatch(&format!("SignedHeaders must include `{required}`")));
        }
    }
    let mut signed = Vec::with_capacity(authorization.signed_headers.len());
    for name in &authorization.signed_headers {
        if *name != name.to_ascii_lowercase() {
            return Err(Rejection::mismatch(&format!("signed header `{name}` is not lower-case")));
        }
        let value = header_text(headers, name)
            .ok_or_else(|| Rejection::mismatch(&format!("signed header `{name}` is not in the request")))?;
        signed.push((*name, value));
    }

    let body_hash = hex(&Sha256::digest(body));
    if header_text(headers, "x-content-sha256").is_none_or(|claimed| !claimed.eq_ignore_ascii_case(&body_hash)) {
        return Err(Rejection::mismatch("X-Content-Sha256 is not the SHA-256 of the body"));
    }

    let canonical =
        canonical_request(method.as_str(), uri.path(), uri.query().unwrap_or_default(), &signed, &body_hash);
    let expected = signature(verifier.secret_access_key, x_date, &canonical);
    if !constant_time_eq(expected.as_bytes(), authorization.signature.to_ascii_lowercase().as_bytes()) {
        return Err(Rejection::mismatch("the signature differs"));
    }
    Ok(())
}

/// A header's value as text (trimmed), if present and ASCII.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `<date>/cn-north-1/cv/request`.
pub(super) fn credential_scope(date: &str) -> String {
    format!("{date}/{REGION}/{SERVICE}/request")
}

/// The canonical request, over `signed` (lower-case name, value) in the client's
/// order, which the protocol sorts by name.
pub(super) fn canonical_request(
    method: &str,
    path: &str,
    raw_query: &str,
    signed: &[(&str, &str)],
    body_hash: &str,
) -> String {
    let mut headers: Vec<(&str, String)> =
        signed.iter().map(|(name, value)| (*name, canonical_header_value(name, value))).collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = format!("{method}\n{}\n{}\n", canonical_path(path), canonical_query(raw_query));
    for (name, value) in &headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(body_hash);
    out
}

/// A header's value as signed: `host` loses a default port (`:80`, `:443`).
fn canonical_header_value(name: &str, value: &str) -> String {
    if name == "host" {
        for port in [":80", ":443"] {
            if let Some(host) = value.strip_suffix(port) {
                return host.to_owned();
            }
        }
    }
    value.to_owned()
}

/// The path, percent-encoded with `/` kept (`/` for the visual API).
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    percent_encode(&percent_decode(path, false), b"/")
}

/// The query: pairs decoded, sorted by key (a repeated key keeps its values'
/// order), key and value percent-encoded with `-_.~` safe, joined with `&`.
pub(super) fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let encoded: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k, b""), percent_encode(v, b""))).collect();
    encoded.join("&")
}

/// Percent-encodes every byte but the unreserved ones (`A-Z a-z 0-9 - _ . ~`)
/// and `also_safe`, upper-case hex; a space becomes `%20`.
fn percent_encode(text: &str, also_safe: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || also_safe.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space in a query, as forms write it);
/// a malformed escape is kept as it is.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// `kSigning`: the secret key narrowed to a day, the region, the service and `request`.
pub(super) fn signing_key(secret_access_key: &str, date: &str) -> [u8; 32] {
    let k_date = hmac(secret_access_key.as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, REGION.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    hmac(&k_service, b"request")
}

/// `"HMAC-SHA256\n" + X-Date + "\n" + scope + "\n" + hex(sha256(canonical))`.
pub(super) fn string_to_sign(x_date: &str, canonical_request: &str) -> String {
    let date = x_date.get(..8).unwrap_or(x_date);
    format!("{ALGORITHM}\n{x_date}\n{}\n{}", credential_scope(date), hex(&Sha256::digest(canonical_request.as_bytes())))
}

/// The hex signature of `canonical_request` sent at `x_date`.
pub(super) fn signature(secret_access_key: &str, x_date: &str, canonical_request: &str) -> String {
    let date = x_date.get(..8).unwrap_or(x_date);
    let key = signing_key(secret_access_key, date);
    hex(&hmac(&key, string_to_sign(x_date, canonical_request).as_bytes()))
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => [0; 32],
    }
}

/// Lower-case hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    // A vector computed independently, with Python's hashlib, hmac and
    // urllib.parse.quote(safe="-_.~"), following the protocol notes 4.2 step by step.
    const AK: &str = "AKLTtestvector";
    const SK: &str = "c2VjcmV0LWtleQ==";
    const X_DATE: &str = "20250102T030405Z";
    const BODY: &str = r#"{"req_key":"high_aes_general_v30l_zt2i","prompt":"a red fox"}"#;
    const BODY_HASH: &str = "613f9defa05741d403f6996f357c99f663da7d923f85433b85e95aa2974fb64f";
    const CANONICAL_QUERY: &str = "Action=CVProcess&Note=a%20b%2Fc~&Version=2022-08-31";
    const CANONICAL_HASH: &str = "a8c464b0fe181dd8fede65d45474e48e27cf55b07ccb46889e14354a93f4ff5c";
    const SIGNING_KEY: &str = "6906b96d10338349f5432d562ac89424be78f3b1c1d4d38abb9c2653ac5f09c6";
    const AUTHORIZATION: &str = "HMAC-SHA256 Credential=AKLTtestvector/20250102/cn-north-1/cv/request, \
        SignedHeaders=content-type;host;x-content-sha256;x-date;x-extra, \
        Signature=6d1e6b07ed687dc0bdfc49c3d81f299e9d6161002d6fd935d607682d861d9f8f";

    fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("host", "visual.volcengineapi.com:443"),
            ("x-date", X_DATE),
            ("x-content-sha256", BODY_HASH),
            ("x-extra", "Kept As Is"),
            ("authorization", AUTHORIZATION),
            ("user-agent", "not signed"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        headers
    }

    fn verifier() -> Verifier<'static> {
        Verifier { access_key_id: AK, secret_access_key: SK, clock_skew: Duration::from_secs(900) }
    }

    fn at(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").expect("time").and_utc()
    }

    fn uri(query: &str) -> Uri {
        format!("/?{query}").parse().expect("uri")
    }

    #[test]
    fn each_step_matches_the_independent_vector() {
        assert_eq!(hex(&Sha256::digest(BODY.as_bytes())), BODY_HASH);
        // The same query however the client wrote it.
        for raw in
            ["Version=2022-08-31&Action=CVProcess&Note=a+b%2Fc~", "Action=CVProcess&Note=a%20b/c%7E&Version=2022-08-31"]
        {
            assert_eq!(canonical_query(raw), CANONICAL_QUERY, "{raw}");
        }
        let signed = [
            ("x-extra", "Kept As Is"),
            ("host", "visual.volcengineapi.com:443"),
            ("content-type", "application/json"),
            ("x-date", X_DATE),
            ("x-content-sha256", BODY_HASH),
        ];
        let canonical =
            canonical_request("POST", "/", "Version=2022-08-31&Action=CVProcess&Note=a+b%2Fc~", &signed, BODY_HASH);
        assert_eq!(hex(&Sha256::digest(canonical.as_bytes())), CANONICAL_HASH, "{canonical}");
        assert_eq!(hex(&signing_key(SK, "20250102")), SIGNING_KEY);
        let expected = AUTHORIZATION.rsplit("Signature=").next().expect("signature");
        assert_eq!(signature(SK, X_DATE, &canonical), expected);
    }

    #[test]
    fn the_vector_verifies_within_the_skew_and_not_beyond() {
        let uri = uri("Version=2022-08-31&Action=CVProcess&Note=a+b%2Fc~");
        let check = |headers: &HeaderMap, body: &str, now: &str| {
            verify(&verifier(), &Method::POST, &uri, headers, body.as_bytes(), at(now)).map_err(|r| r.code)
        };
        assert_eq!(check(&headers(), BODY, "20250102T030405Z"), Ok(()));
        assert_eq!(check(&headers(), BODY, "20250102T031905Z"), Ok(()), "exactly 15 minutes late");
        assert_eq!(check(&headers(), BODY, "20250102T031906Z"), Err(GatewayCode::InvalidTimestamp));
        assert_eq!(check(&headers(), BODY, "20250102T024904Z"), Err(GatewayCode::InvalidTimestamp));
        assert_eq!(check(&headers(), &BODY.replace("fox", "cat"), X_DATE), Err(GatewayCode::SignatureDoesNotMatch));

        let mut changed = headers();
        changed.insert("x-extra", HeaderValue::from_static("Kept as is"));
        assert_eq!(check(&changed, BODY, X_DATE), Err(GatewayCode::SignatureDoesNotMatch));
        let mut unsigned_changed = headers();
        unsigned_changed.insert("user-agent", HeaderValue::from_static("another"));
        unsigned_changed.insert("host", HeaderValue::from_static("visual.volcengineapi.com"));
        assert_eq!(check(&unsigned_changed, BODY, X_DATE), Ok(()), "unsigned headers and :443 do not count");

        let with_authorization = |value: &str| {
            let mut headers = headers();
            headers.insert("authorization", HeaderValue::from_str(value).expect("value"));
            check(&headers, BODY, X_DATE)
        };
        assert_eq!(with_authorization(&AUTHORIZATION.replace(AK, "AKLTother")), Err(GatewayCode::InvalidAccessKey));
        assert_eq!(with_authorization("Bearer abc"), Err(GatewayCode::InvalidAuthorization));
        assert_eq!(
            with_authorization(&AUTHORIZATION.replace("cn-north-1", "cn-beijing")),
            Err(GatewayCode::SignatureDoesNotMatch)
        );
        assert_eq!(
            with_authorization(&AUTHORIZATION.replace("content-type;host;x-content-sha256;", "content-type;host;")),
            Err(GatewayCode::SignatureDoesNotMatch),
            "x-content-sha256 must be signed"
        );
        let mut missing = headers();
        missing.remove("authorization");
        assert_eq!(check(&missing, BODY, X_DATE), Err(GatewayCode::MissingAuthenticationToken));
        let wrong_secret = Verifier { secret_access_key: "other", ..verifier() };
        assert_eq!(
            verify(&wrong_secret, &Method::POST, &uri, &headers(), BODY.as_bytes(), at(X_DATE)).map_err(|r| r.code),
            Err(GatewayCode::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn authorization_headers_parse() {
        let parsed = parse_authorization(AUTHORIZATION).expect("parses");
        assert_eq!(parsed.access_key_id, AK);
        assert_eq!(parsed.scope, "20250102/cn-north-1/cv/request");
        assert_eq!(parsed.signed_headers, ["content-type", "host", "x-content-sha256", "x-date", "x-extra"]);
        for bad in [
            "",
            "HMAC-SHA256",
            "HMAC-SHA256Credential=a/b",
            "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=ab",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
        assert_eq!(percent_decode("a%2", true), "a%2");
        assert_eq!(percent_decode("%e4%b8%ad+x", true), "中 x");
        assert_eq!(canonical_query("b=%E4%B8%AD&a="), "a=&b=%E4%B8%AD");
    }
}
