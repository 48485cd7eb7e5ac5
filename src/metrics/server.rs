//! `GET /metrics` over HTTP/1.1 on `std::net`, bounded against hostile clients.
//!
//! One thread accepts; [`WORKERS`] threads serve, one connection each at a time, from
//! a queue of at most [`QUEUE`] connections (beyond it a connection is closed at once).
//! Each connection has [`TIMEOUT`] in all to send its request (however slowly it
//! trickles in) and each write has [`TIMEOUT`] too; a request is at most
//! [`MAX_REQUEST`] bytes, read into a fixed buffer. So idle, slow or huge clients
//! cost a bounded number of threads and bytes, and none of them touch the sampler:
//! the server reads the last published snapshot ([`MetricsState::snapshot`]).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::encode::{CONTENT_TYPE, encode};
use super::state::MetricsState;

/// Threads serving connections: the most connections served at once.
pub const WORKERS: usize = 4;
/// Accepted connections waiting for a worker; more are closed unserved.
pub const QUEUE: usize = 16;
/// How long a client has to send its whole request, and each write to it may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The largest request (request line and headers) read, bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Headers parsed at most.
const MAX_HEADERS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(
        "--metrics {0} is not a loopback address: the metrics name this machine's processes \
         and are served without authentication, so leaktop serves them on 127.0.0.1 or ::1 \
         only; add --metrics-public to serve them on {0} anyway"
    )]
    NotLoopback(SocketAddr),
    #[error("--metrics {addr}: cannot listen there: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("--metrics: cannot start the server thread: {0}")]
    Thread(io::Error),
}

/// Parses `--metrics`: `IP:PORT` (`127.0.0.1:9847`, `[::1]:9847`) or `localhost:PORT`.
/// Port 0 takes a free port (leaktop says which).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Some(port) = t.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| format!("'{s}' has no port number after localhost:"));
    }
    t.parse::<SocketAddr>()
        .map_err(|_| format!("'{s}' is not an address like 127.0.0.1:9847 or [::1]:9847"))
}

/// The metrics server: stops (and closes its port) when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (refusing a non-loopback one unless `public`) and serves `state`
    /// from then on. Errors: [`MetricsError::NotLoopback`], [`MetricsError::Bind`]
    /// (address in use, not on this machine, a port below 1024 unprivileged).
    pub fn start(
        addr: SocketAddr,
        public: bool,
        state: Arc<MetricsState>,
    ) -> Result<MetricsServer, MetricsError> {
        if !public && !addr.ip().is_loopback() {
            return Err(MetricsError::NotLoopback(addr));
        }
        let listener =
            TcpListener::bind(addr).map_err(|source| MetricsError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WORKERS {
            let (rx, state) = (rx.clone(), state.clone());
            std::thread::Builder::new()
                .name(format!("metrics-{i}"))
                .spawn(move || work(&rx, &state))
                .map_err(MetricsError::Thread)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let acceptor = std::thread::Builder::new()
            .name("metrics-accept".into())
            .spawn(move || accept(&listener, &tx, &stopping))
            .map_err(MetricsError::Thread)?;
        Ok(MetricsServer {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The address served (with the port taken, for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor blocked in accept(); the workers end with the queue.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn accept(listener: &TcpListener, queue: &SyncSender<TcpStream>, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // A failed accept (a client that reset at once, out of descriptors) is that
        // client's loss; the next may be served.
        let Ok(stream) = conn else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        match queue.try_send(stream) {
            Ok(()) => {}
            // Every worker busy and the queue full: closed unserved, not held.
            Err(TrySendError::Full(stream)) => drop(stream),
            Err(TrySendError::Disconnected(_)) => break,
        }
    }
}

fn work(queue: &Mutex<Receiver<TcpStream>>, state: &MetricsState) {
    loop {
        let next = queue.lock().map(|rx| rx.recv());
        match next {
            Ok(Ok(stream)) => serve(stream, state),
            _ => break,
        }
    }
}

/// Reads one request within [`TIMEOUT`] and [`MAX_REQUEST`], answers it and closes.
fn serve(mut stream: TcpStream, state: &MetricsState) {
    let deadline = Instant::now() + TIMEOUT;
    if stream.set_write_timeout(Some(TIMEOUT)).is_err() {
        return;
    }
    let mut buf = [0u8; MAX_REQUEST];
    let mut len = 0;
    let response = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        match respond(&buf[..len], state) {
            Some(r) => break r,
            None if len == buf.len() => break Response::plain(431, "request too large\n"),
            None => {}
        }
    };
    let _ = stream.write_all(&response.bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// The answer to a request read so far; `None` while it is incomplete.
fn respond(request: &[u8], state: &MetricsState) -> Option<Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(request) {
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => Some(Response::plain(431, "too many headers\n")),
        Err(_) => Some(Response::plain(400, "bad request\n")),
        Ok(httparse::Status::Complete(_)) => {
            let path = req.path.unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            let method = req.method.unwrap_or("");
            Some(match (method, path) {
                ("GET" | "HEAD", "/metrics") => {
                    let mut r = Response {
                        status: 200,
                        content_type: CONTENT_TYPE,
                        body: encode(&state.snapshot()).into_bytes(),
                        head_only: false,
                    };
                    r.head_only = method == "HEAD";
                    r
                }
                ("GET" | "HEAD", "/") => Response::plain(200, "leaktop: metrics at /metrics\n"),
                ("GET" | "HEAD", _) => Response::plain(404, "not found: metrics at /metrics\n"),
                _ => Response::plain(405, "only GET\n"),
            })
        }
    }
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    head_only: bool,
}

impl Response {
    fn plain(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
            head_only: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            _ => "Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            if self.status == 405 { "Allow: GET, HEAD\r\n" } else { "" },
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("127.0.0.1:9847"),
            Ok("127.0.0.1:9847".parse().unwrap())
        );
        assert_eq!(parse_addr("[::1]:0"), Ok("[::1]:0".parse().unwrap()));
        assert_eq!(
            parse_addr("localhost:80"),
            Ok("127.0.0.1:80".parse().unwrap())
        );
        for bad in [
            "9847",
            "127.0.0.1",
            "localhost:x",
            "host:1",
            "127.0.0.1:70000",
            "",
        ] {
            let e = parse_addr(bad).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn requests_are_answered_by_path_and_method() {
        let state = MetricsState::new();
        let status = |req: &str| respond(req.as_bytes(), &state).map(|r| r.status);
        assert_eq!(
            status("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(200)
        );
        assert_eq!(status("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), Some(200));
        assert_eq!(status("GET /other HTTP/1.1\r\n\r\n"), Some(404));
        assert_eq!(status("POST /metrics HTTP/1.1\r\n\r\n"), Some(405));
        assert_eq!(status("GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(status("\x01\x02 nonsense\r\n\r\n"), Some(400));
        let many: String = (0..40).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET /metrics HTTP/1.1\r\n{many}\r\n")),
            Some(431)
        );
        let head = respond(b"HEAD /metrics HTTP/1.1\r\n\r\n", &state).unwrap();
        let bytes = String::from_utf8(head.bytes()).unwrap();
        assert!(
            bytes.ends_with("\r\n\r\n") && bytes.contains("Content-Length: 6"),
            "{bytes}"
        );
    }

    #[test]
    fn a_public_address_is_refused_without_the_flag_and_says_why() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let e = MetricsServer::start(addr, false, MetricsState::new())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("0.0.0.0:0") && e.contains("--metrics-public"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
