//! `GET /metrics` over HTTP/1.1 on `std::net`, bounded against hostile clients.
//!
//! One thread serves every connection, readiness-based: non-blocking sockets and one
//! `poll(2)` over them all, so an idle or slow client holds a socket and at most
//! [`MAX_REQUEST`] bytes, never a thread, and a scrape is answered whatever the
//! others do. At most [`MAX_CONNECTIONS`] are held; a new one beyond that takes the
//! place of the one that has waited longest without sending its whole request. Each
//! connection has [`TIMEOUT`] in all to send its request (however slowly it trickles
//! in), and [`TIMEOUT`] again to take the answer; then it is closed. None of this
//! touches the sampler: the server reads the last published snapshot
//! ([`MetricsState::snapshot`]).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::encode::{CONTENT_TYPE, encode};
use super::state::MetricsState;

/// Connections held at once, idle ones included: far below the usual 1,024 open
/// files, and far above what Prometheus needs (one scrape per target at a time).
pub const MAX_CONNECTIONS: usize = 512;
/// How long a client has to send its whole request, and then to take the answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The largest request (request line and headers) read, bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Headers parsed at most.
const MAX_HEADERS: usize = 32;
/// Connections the kernel holds for the server to accept (capped by
/// `net.core.somaxconn`).
const BACKLOG: i32 = 1024;
/// The longest `poll(2)` waits with nothing due: how soon a stop is noticed should
/// the wake-up connection of [`MetricsServer`]'s drop not arrive.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// How long accepting pauses after `accept(2)` failed for want of a descriptor with
/// no idle connection to close for one.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

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
        // A deeper backlog than std's 128: a burst of scrapes waits to be accepted
        // rather than having its connections dropped and retried a second later.
        rustix::net::listen(&listener, BACKLOG)
            .map_err(io::Error::from)
            .and_then(|()| listener.set_nonblocking(true))
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let acceptor = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || Server::new(listener, &state).run(&stopping))
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
        // Wakes the server's poll(2).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// One connection: reading its request, then writing the answer.
struct Conn {
    stream: TcpStream,
    /// When it is closed, done or not.
    deadline: Instant,
    phase: Phase,
}

enum Phase {
    /// The request so far (nothing allocated until a byte comes).
    Reading(Vec<u8>),
    /// The answer, and how much of it went out.
    Writing(Vec<u8>, usize),
}

/// What became of a connection after its turn.
#[derive(PartialEq, Eq)]
enum Turn {
    Open,
    Closed,
}

/// The serving thread's state.
struct Server<'a> {
    listener: TcpListener,
    state: &'a MetricsState,
    conns: Vec<Conn>,
    /// Accepting paused until then (out of descriptors).
    paused_until: Option<Instant>,
}

impl<'a> Server<'a> {
    fn new(listener: TcpListener, state: &'a MetricsState) -> Server<'a> {
        Server {
            listener,
            state,
            conns: Vec::new(),
            paused_until: None,
        }
    }

    /// Serves until `stop` is set.
    fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            self.conns.retain(|c| c.deadline > now);
            if self.paused_until.is_some_and(|t| t <= now) {
                self.paused_until = None;
            }
            let accepting = self.paused_until.is_none();
            let ready = self.wait(now, accepting);
            let mut i = 0;
            self.conns.retain_mut(|c| {
                let flags = ready[i];
                i += 1;
                flags.is_empty() || turn(c, self.state) == Turn::Open
            });
            if accepting && ready.last().is_some_and(|f| !f.is_empty()) {
                self.accept();
            }
        }
    }

    /// Waits in `poll(2)` until a connection (or, when `accepting`, the listener) is
    /// ready or the next deadline; what each is ready for, the listener's last.
    fn wait(&self, now: Instant, accepting: bool) -> Vec<PollFlags> {
        let mut fds: Vec<PollFd> = self
            .conns
            .iter()
            .map(|c| {
                let events = match c.phase {
                    Phase::Reading(_) => PollFlags::IN,
                    Phase::Writing(..) => PollFlags::OUT,
                };
                PollFd::new(&c.stream, events)
            })
            .collect();
        if accepting {
            fds.push(PollFd::new(&self.listener, PollFlags::IN));
        }
        let due = self
            .conns
            .iter()
            .map(|c| c.deadline)
            .chain(self.paused_until)
            .min();
        let wait = due.map_or(MAX_WAIT, |t| t.saturating_duration_since(now).min(MAX_WAIT));
        // Rounded up to the next millisecond, so a deadline is not polled for early
        // and spun on.
        let ms = wait.as_millis() as i64 + 1;
        let timeout = Timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        if poll(&mut fds, Some(&timeout)).is_err() {
            // EINTR: nothing is ready; look again.
            return vec![PollFlags::empty(); fds.len()];
        }
        fds.iter().map(PollFd::revents).collect()
    }

    /// Accepts every connection waiting.
    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if self.conns.len() >= MAX_CONNECTIONS && !self.close_longest_waiting() {
                        // Every slot is answering a request: this one waits its turn
                        // in no queue; it is closed.
                        continue;
                    }
                    self.conns.push(Conn {
                        stream,
                        deadline: Instant::now() + TIMEOUT,
                        phase: Phase::Reading(Vec::new()),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Out of descriptors: one taken from the longest-waiting client, or
                // a pause rather than a spin on a listener that stays ready.
                Err(e) if matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::MFILE.raw_os_error() || code == rustix::io::Errno::NFILE.raw_os_error()) => {
                    if !self.close_longest_waiting() {
                        self.paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                        return;
                    }
                }
                // A client that reset before it was accepted: its loss only.
                Err(_) => {}
            }
        }
    }

    /// Closes the connection that has waited longest for its request, if any is
    /// still reading one.
    fn close_longest_waiting(&mut self) -> bool {
        let oldest = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.phase, Phase::Reading(_)))
            .min_by_key(|(_, c)| c.deadline)
            .map(|(i, _)| i);
        oldest.map(|i| self.conns.swap_remove(i)).is_some()
    }
}

/// One step of a ready connection: reads what came of its request (answering once
/// it is whole, or too large) or writes what it can of the answer.
fn turn(c: &mut Conn, state: &MetricsState) -> Turn {
    if let Phase::Reading(buf) = &mut c.phase {
        let mut chunk = [0u8; 2048];
        let room = (MAX_REQUEST - buf.len()).min(chunk.len());
        match c.stream.read(&mut chunk[..room]) {
            Ok(0) => return Turn::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if retry(&e) => return Turn::Open,
            Err(_) => return Turn::Closed,
        }
        let answer = match respond(buf, state) {
            Some(r) => r,
            None if buf.len() >= MAX_REQUEST => Response::plain(431, "request too large\n"),
            None => return Turn::Open,
        };
        c.phase = Phase::Writing(answer.bytes(), 0);
        c.deadline = Instant::now() + TIMEOUT;
    }
    let Phase::Writing(bytes, at) = &mut c.phase else {
        return Turn::Open;
    };
    while *at < bytes.len() {
        match c.stream.write(&bytes[*at..]) {
            Ok(0) => return Turn::Closed,
            Ok(n) => *at += n,
            Err(e) if retry(&e) => return Turn::Open,
            Err(_) => return Turn::Closed,
        }
    }
    let _ = c.stream.shutdown(std::net::Shutdown::Write);
    Turn::Closed
}

/// A read or write that would block, or was interrupted: try at the next readiness.
fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
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
