//! Input references as a task input writes them (`upl_…`, `img_…`, `task:<id>`, a
//! `data:` URI, an http(s) URL): `InputRef::parse`, what the error messages show of
//! them (`short_reference`), the decoding of a data URI (`decode_data_uri`), and the
//! checks of a signed link's parts (`LinkSigner::verify`), all from any text.
#![no_main]

use atelier::inputs::decode_data_uri;
use atelier::links::LinkSigner;
use atelier_core::ports::{InputRef, short_reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = short_reference(text);
    match InputRef::parse(text) {
        Ok(InputRef::DataUri(uri)) => {
            let _ = decode_data_uri(&uri);
        }
        Ok(InputRef::Upload(id)) => assert_eq!(InputRef::parse(&id.to_string()), Ok(InputRef::Upload(id))),
        Ok(InputRef::Output(id)) => assert_eq!(InputRef::parse(id.as_str()), Ok(InputRef::Output(id))),
        Ok(_) | Err(_) => {}
    }
    let _ = decode_data_uri(text);
    // A signed link's query, `<asset>\n<expires>\n<signature>` (the handler reads the
    // expiry as an i64 and hands the rest as they came), and the same link signed.
    let mut parts = text.splitn(3, '\n');
    let (asset, expires, signature) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(""));
    if let Some(Ok(expires)) = expires.map(str::parse::<i64>) {
        let signer = LinkSigner::from_secret("fuzz");
        let _ = signer.verify(asset, expires, signature, 1_700_000_000_000);
        let signed = signer.sign(asset, expires);
        let _ = signer.verify(asset, expires, &signed, 1_700_000_000_000);
    }
});
