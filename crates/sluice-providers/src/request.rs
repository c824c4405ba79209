//! The upstream `http::Request` every adapter builds: a JSON `POST` with the provider's
//! headers, then the operator's `extra_headers` (which win over ours).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use serde::Serialize;

use crate::EncodeError;

/// `base` + `/` + `path`, whether or not `base` ends with a slash.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let mut url = String::with_capacity(base.len() + 1 + path.len());
    url.push_str(base);
    url.push('/');
    url.push_str(path);
    url
}

/// A header value carrying a credential: marked sensitive so it is never logged or
/// HPACK-indexed.
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, EncodeError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| EncodeError::Invalid {
        param: None,
        message: "the provider API key contains characters that are not allowed in an HTTP \
                  header; check the key's configured value"
            .into(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `POST url` with `body` serialized as JSON.
pub(crate) fn post_json(
    url: String,
    mut headers: HeaderMap,
    extra_headers: &HeaderMap,
    body: &impl Serialize,
) -> Result<Request<Bytes>, EncodeError> {
    let uri = Uri::try_from(url.as_str()).map_err(|e| EncodeError::Invalid {
        param: None,
        message: format!("invalid upstream URL '{url}': {e}; check the provider's base_url"),
    })?;
    let body = serde_json::to_vec(body).map_err(|e| EncodeError::Invalid {
        param: None,
        message: format!("request cannot be serialized: {e}"),
    })?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for name in extra_headers.keys() {
        headers.remove(name);
        for value in extra_headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let mut request = Request::new(Bytes::from(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}
