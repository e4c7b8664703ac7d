//! What the client sends (lab 04): the request line and header fields of RFC 9112 §3, built
//! once per URL and reused for every repetition, and which methods may be retried.

use super::url::Url;

/// What a run asks for, as the command line says it.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub method: String,
    /// Extra header fields, `Name: value`, in order.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Speak HTTP/1.0 instead of HTTP/1.1.
    pub http10: bool,
    /// Send `Connection: close`: one request per connection.
    pub no_keepalive: bool,
}

impl RequestSpec {
    /// A plain GET over HTTP/1.1 with keep-alive.
    pub fn get() -> Self {
        RequestSpec {
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            http10: false,
            no_keepalive: false,
        }
    }

    /// RFC 9110 §9.2.2: repeating these has the same effect as sending them once, so a
    /// request lost on a connection the server had already closed may be sent again. POST and
    /// PATCH are not, and are never retried automatically.
    pub fn idempotent(&self) -> bool {
        matches!(
            self.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        )
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(name)
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    }

    /// Does this request ask to keep the connection (RFC 9112 §9.3)? HTTP/1.1 does unless it
    /// says `Connection: close`; HTTP/1.0 only when it says `Connection: keep-alive`.
    pub fn wants_keepalive(&self) -> bool {
        if self.no_keepalive || self.header_has_token("connection", "close") {
            false
        } else if self.http10 {
            self.header_has_token("connection", "keep-alive")
        } else {
            true
        }
    }

    /// The request's bytes for `url`: request line, fields, empty line, body. Built once per
    /// URL; every repetition writes the same bytes.
    pub fn encode(&self, url: &Url) -> Vec<u8> {
        let version = if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let mut out = format!("{} {} {version}\r\n", self.method, url.target);
        // Host is required in HTTP/1.1 (RFC 9112 §3.2) and harmless in 1.0.
        if !self.has_header("host") {
            out.push_str(&format!("Host: {}\r\n", url.authority));
        }
        if !self.has_header("user-agent") {
            out.push_str(concat!(
                "User-Agent: wirelab-http/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            ));
        }
        if !self.has_header("accept") {
            out.push_str("Accept: */*\r\n");
        }
        if self.no_keepalive && !self.has_header("connection") {
            out.push_str("Connection: close\r\n");
        }
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = &self.body {
            if !self.has_header("content-type") {
                out.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            }
            if !self.has_header("content-length") {
                out.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if let Some(body) = &self.body {
            bytes.extend_from_slice(body);
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_request_bytes() {
        let url = Url::parse("http://srv:8080/x").expect("valid");
        let text = String::from_utf8(RequestSpec::get().encode(&url)).expect("utf8");
        assert!(text.starts_with("GET /x HTTP/1.1\r\nHost: srv:8080\r\nUser-Agent: wirelab-http/"));
        assert!(text.ends_with("Accept: */*\r\n\r\n"));
    }

    #[test]
    fn no_keepalive_sends_connection_close_and_post_carries_its_length() {
        let url = Url::parse("http://srv/form").expect("valid");
        let spec = RequestSpec {
            method: "POST".into(),
            body: Some(b"a=1".to_vec()),
            no_keepalive: true,
            ..RequestSpec::get()
        };
        let text = String::from_utf8(spec.encode(&url)).expect("utf8");
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("Content-Length: 3\r\n\r\na=1"));
        assert!(!spec.idempotent());
        assert!(!spec.wants_keepalive());
    }

    #[test]
    fn http10_keeps_alive_only_when_asked() {
        let mut spec = RequestSpec {
            http10: true,
            ..RequestSpec::get()
        };
        assert!(!spec.wants_keepalive());
        spec.headers
            .push(("Connection".into(), "keep-alive".into()));
        assert!(spec.wants_keepalive());
    }
}
