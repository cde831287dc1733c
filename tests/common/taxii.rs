//! TAXII test scaffolding: the ledger's TAXII read side over real HTTPS on 127.0.0.1:0, and a
//! real HTTP client (reqwest on rustls) authenticated by HTTP Basic or a client certificate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

use borderlog::taxii::TAXII_MEDIA_TYPE;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::sync::oneshot;

use crate::common::TestServer;

/// A running TAXII endpoint; stops when dropped or with [`Endpoint::stop`].
pub struct Endpoint {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Endpoint {
    /// The ledger's read side for `server`.
    pub async fn ledger(server: &TestServer) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (node, keys) = (server.node.clone(), server.keys.clone());
        let task = tokio::spawn(async move {
            borderlog::taxii::serve(&node, &keys, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("TAXII serve");
        });
        Endpoint {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// An endpoint whose task the caller made (the gateway).
    pub fn from_task(
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    ) -> Endpoint {
        Endpoint {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `https://localhost:PORT` (the name on the dev server certificate).
    pub fn base(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// A session as `who`.
    pub fn session(&self, keys: &Path, who: Who) -> Session {
        let ca = std::fs::read(keys.join("ca.crt")).unwrap();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .resolve("localhost", self.addr);
        let mut basic = None;
        match who {
            Who::Basic(name) => basic = Some((name.to_owned(), password(keys, name))),
            Who::BasicWith(name, password) => basic = Some((name.to_owned(), password.to_owned())),
            Who::Cert(name) => builder = builder.identity(identity(keys, name)),
            Who::Nobody => {}
        }
        Session {
            client: builder.build().unwrap(),
            base: self.base(),
            basic,
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A party's certificate and key as a reqwest identity.
pub fn identity(keys: &Path, name: &str) -> reqwest::Identity {
    let mut pem = std::fs::read(keys.join(format!("{name}.crt"))).unwrap();
    pem.extend(std::fs::read(keys.join(format!("{name}.key"))).unwrap());
    reqwest::Identity::from_pem(&pem).unwrap()
}

/// The password `init` made for `name`.
pub fn password(keys: &Path, name: &str) -> String {
    std::fs::read_to_string(borderlog::taxii::users::password_path(keys, name))
        .unwrap()
        .trim()
        .to_owned()
}

/// How a session authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// HTTP Basic with the password `init` made.
    Basic(&'a str),
    /// HTTP Basic with this password.
    BasicWith(&'a str, &'a str),
    /// The party's client certificate.
    Cert(&'a str),
    /// Neither.
    Nobody,
}

/// A client with its credentials.
pub struct Session {
    pub client: reqwest::Client,
    pub base: String,
    basic: Option<(String, String)>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    /// The Content-Type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an error message resource with this status.
    pub fn assert_error(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(self.content_type(), TAXII_MEDIA_TYPE);
        let body = self.json();
        assert_eq!(body["http_status"], status.to_string(), "{body}");
        assert!(body["title"].is_string(), "{body}");
        body
    }
}

impl Session {
    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.basic {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// GET `path` accepting TAXII 2.1.
    pub async fn get(&self, path: &str) -> Reply {
        self.get_accepting(path, TAXII_MEDIA_TYPE).await
    }

    /// GET `path` with this Accept header.
    pub async fn get_accepting(&self, path: &str, accept: &str) -> Reply {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .header("accept", accept);
        read(self.auth(request).send().await.expect("request")).await
    }

    /// POST `body` to `path` with this Content-Type.
    pub async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("accept", TAXII_MEDIA_TYPE)
            .header("content-type", content_type)
            .body(body);
        read(self.auth(request).send().await.expect("request")).await
    }

    /// DELETE `path`.
    pub async fn delete(&self, path: &str) -> Reply {
        let request = self
            .client
            .delete(format!("{}{path}", self.base))
            .header("accept", TAXII_MEDIA_TYPE);
        read(self.auth(request).send().await.expect("request")).await
    }
}

async fn read(response: reqwest::Response) -> Reply {
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.expect("body").to_vec(),
    }
}
