//! Who is calling: HTTP Basic credentials (user = party name, checked against the Argon2id
//! hashes of `keys/taxii-users.toml`), else the connection's client certificate. Anything
//! else gets 401 with `WWW-Authenticate: Basic`. Passwords are never logged or echoed.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;

use super::error::TaxiiError;
use super::https::Peer;
use super::users::Credentials;

/// The authenticated party name: Basic credentials when the request carries them (they must
/// then be right, whatever certificate the connection has), else the certificate's name.
pub async fn party_name(
    credentials: &Arc<Credentials>,
    headers: &HeaderMap,
    peer: &Peer,
) -> Result<String, TaxiiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return peer.0.clone().ok_or_else(|| {
            TaxiiError::Unauthorized(
                "send HTTP Basic credentials (user: your party name; password: from `borderlog taxii-user add`) or connect with your party's client certificate".into(),
            )
        });
    };
    let (user, password) = parse_basic(value.as_bytes())?;
    let credentials = credentials.clone();
    let checked_user = user.clone();
    // Argon2 is deliberately slow: off the async workers.
    let ok = tokio::task::spawn_blocking(move || credentials.check(&checked_user, &password))
        .await
        .map_err(|e| TaxiiError::Internal(format!("credential check failed: {e}")))?
        .map_err(|e| TaxiiError::Internal(format!("credentials file: {e}")))?;
    if ok {
        Ok(user)
    } else {
        Err(TaxiiError::Unauthorized(
            "wrong user name or password".into(),
        ))
    }
}

/// `Basic base64(user:password)` → (user, password); 401 for anything else.
fn parse_basic(value: &[u8]) -> Result<(String, String), TaxiiError> {
    let bad = || TaxiiError::Unauthorized("the Authorization header is not HTTP Basic".into());
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (scheme, encoded) = text.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("police-network:p:w")
        );
        assert_eq!(
            parse_basic(header.as_bytes()).unwrap(),
            ("police-network".into(), "p:w".into())
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic cG9saWNl"] {
            assert!(
                matches!(
                    parse_basic(bad.as_bytes()),
                    Err(TaxiiError::Unauthorized(_))
                ),
                "{bad}"
            );
        }
    }
}
