//! The raw axum hello that `scripts/load.sh` measures beside the host: the same HTTP stack
//! and runtime, no middleware, no work. `axum-baseline [ADDRESS]` (default 127.0.0.1:18081).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    axum::serve(tokio::net::TcpListener::bind(&addr).await?, app).await
}
