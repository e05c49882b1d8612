//! The portal's stylesheet and script, embedded in the binary and served under names that
//! carry a hash of their content, so browsers may keep them for a year.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::app::App;

/// One embedded file.
pub struct Asset {
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    hash: LazyLock<String>,
}

impl Asset {
    /// `/static/portal.<hash>.css`.
    pub fn url(&self) -> String {
        format!("/static/{}.{}.{}", self.stem, *self.hash, self.ext)
    }
}

macro_rules! asset {
    ($stem:literal, $ext:literal, $type:literal) => {
        Asset {
            stem: $stem,
            ext: $ext,
            content_type: $type,
            bytes: include_bytes!(concat!("../../static/", $stem, ".", $ext)),
            hash: LazyLock::new(|| {
                hex::encode(&Sha256::digest(include_bytes!(concat!("../../static/", $stem, ".", $ext)))[..6])
            }),
        }
    };
}

/// The stylesheet.
pub static CSS: Asset = asset!("portal", "css", "text/css; charset=utf-8");
/// The script (progressive enhancement only: every page works without it).
pub static JS: Asset = asset!("portal", "js", "text/javascript; charset=utf-8");

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/static/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    for asset in [&CSS, &JS] {
        if asset.url().strip_prefix("/static/") == Some(file.as_str()) {
            let mut response = asset.bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            return response;
        }
    }
    StatusCode::NOT_FOUND.into_response()
}
