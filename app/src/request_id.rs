//! The id every response carries in `X-Request-ID` and every log line of the request repeats.
/// The request id: a trusted proxy's `X-Request-ID` when it is sane, else a new one.
pub fn request_id(req: &actix_web::dev::ServiceRequest, peer_trusted: bool) -> String {
    if peer_trusted {
        if let Some(id) = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()) {
            let id = id.trim();
            if !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            {
                return id.to_string();
            }
        }
    }
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}
