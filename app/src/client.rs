//! State changes from the browser: JSON requests (POST, PUT, DELETE) to the API carrying the
//! session's CSRF token.

use serde::de::DeserializeOwned;

/// The state-changing methods the API takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Delete,
}

/// POSTs `body` (JSON) to `url`; returns the decoded answer or the API's error text.
pub async fn post<T: DeserializeOwned>(url: &str, csrf: &str, body: Option<serde_json::Value>) -> Result<T, String> {
    send(Method::Post, url, csrf, body).await
}

/// Sends `body` (JSON) to `url` with `method`; returns the decoded answer (`null` for an empty
/// one, such as a DELETE's 204) or the API's error text.
pub async fn send<T: DeserializeOwned>(
    method: Method,
    url: &str,
    csrf: &str,
    body: Option<serde_json::Value>,
) -> Result<T, String> {
    #[cfg(feature = "hydrate")]
    {
        use gloo_net::http::Request;
        let request = match method {
            Method::Post => Request::post(url),
            Method::Put => Request::put(url),
            Method::Delete => Request::delete(url),
        }
        .header("X-CSRF-Token", csrf)
        .header("Accept", "application/json");
        let request = match body {
            Some(b) => request.json(&b).map_err(|e| e.to_string())?,
            None => request.build().map_err(|e| e.to_string())?,
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("the server could not be reached: {e}"))?;
        if response.status() == 204 {
            return serde_json::from_str("null").map_err(|e| e.to_string());
        }
        if response.ok() {
            return response.json::<T>().await.map_err(|e| e.to_string());
        }
        let status = response.status();
        match response.json::<sicuro_types::ApiError>().await {
            Ok(e) => Err(e.error),
            Err(_) => Err(format!("the server answered {status}")),
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (method, url, csrf, body);
        Err("this action works in the browser".into())
    }
}
