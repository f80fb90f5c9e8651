//! The physical limit: a minimal axum server answering, from memory, exactly
//! the bytes and headers models-cache gave for each URL.
//!
//! At start it asks `--capture-from` for every `--path` twice, without and
//! with `Accept-Encoding: gzip`, and keeps status, headers (minus the
//! per-connection ones) and body of each: the same bytes in both encodings.
//! (A server that answers gzip requests uncompressed gets a gzip copy made
//! here, at the default level.) A request whose `Accept-Encoding` names gzip
//! gets the gzip answer. Nothing is computed per request beyond a map lookup: no server of
//! this payload can do less. Prints `listening <addr>` on stdout once bound.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use models_cache_bench::LISTENING;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// Base URL of the models-cache instance to copy (`http://127.0.0.1:3000`).
    #[arg(long)]
    capture_from: String,
    /// A path and query to copy; repeat.
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
}

/// One captured response, both encodings.
struct Captured {
    status: StatusCode,
    headers: HeaderMap,
    gzip_headers: HeaderMap,
    body: Bytes,
    gzip_body: Bytes,
}

type Responses = Arc<HashMap<String, Captured>>;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let client = reqwest::Client::new();
    let mut responses = HashMap::new();
    for path in &args.paths {
        let url = format!("{}{path}", args.capture_from.trim_end_matches('/'));
        let captured = capture(&client, &url)
            .await
            .unwrap_or_else(|e| exit(&format!("cannot capture {url}: {e}")));
        responses.insert(path.clone(), captured);
    }
    let app = Router::new()
        .fallback(serve)
        .with_state(Arc::new(responses));
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot bind {}: {e}", args.bind)));
    let addr = listener
        .local_addr()
        .expect("BUG: a bound socket has an address");
    println!("{LISTENING} {addr}");
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| exit(&e.to_string()));
}

async fn capture(client: &reqwest::Client, url: &str) -> Result<Captured, reqwest::Error> {
    // No `Accept-Encoding` is sent (reqwest is built without decompression),
    // so this is the identity body models-cache serves.
    let response = client.get(url).send().await?;
    let status = response.status();
    let mut headers = response.headers().clone();
    for per_connection in ["date", "content-length", "transfer-encoding", "connection"] {
        headers.remove(per_connection);
    }
    let body = response.bytes().await?;
    let zipped = client
        .get(url)
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await?;
    let (gzip_headers, gzip_body) = if zipped
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip")
    {
        let mut gzip_headers = zipped.headers().clone();
        for per_connection in ["date", "content-length", "transfer-encoding", "connection"] {
            gzip_headers.remove(per_connection);
        }
        (gzip_headers, zipped.bytes().await?)
    } else {
        let mut gzip_headers = headers.clone();
        gzip_headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        gzip_headers.append(VARY, HeaderValue::from_static("accept-encoding"));
        (gzip_headers, gzip(&body))
    };
    Ok(Captured {
        status,
        headers,
        gzip_headers,
        gzip_body,
        body,
    })
}

fn gzip(body: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(body)
        .expect("BUG: writing to a Vec cannot fail");
    Bytes::from(encoder.finish().expect("BUG: writing to a Vec cannot fail"))
}

async fn serve(State(responses): State<Responses>, request: Request) -> Response {
    let key = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Some(captured) = responses.get(key) else {
        return (StatusCode::NOT_FOUND, "not captured").into_response();
    };
    let wants_gzip = request
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let (headers, body) = if wants_gzip {
        (&captured.gzip_headers, &captured.gzip_body)
    } else {
        (&captured.headers, &captured.body)
    };
    let mut response = Response::new(Body::from(body.clone()));
    *response.status_mut() = captured.status;
    *response.headers_mut() = headers.clone();
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    response
}

fn exit(message: &str) -> ! {
    eprintln!("limit-server: {message}");
    std::process::exit(2)
}
