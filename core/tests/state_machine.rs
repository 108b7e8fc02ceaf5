//! Property tests: random commands and link faults on a `sim::Pair`, checked against a
//! reference model after every step (proptest-state-machine).
//!
//! The reference model is what the commands alone predict: whether each side was closed
//! by its application, muted, and its `buffer_until`. The system under test keeps a ledger
//! of every byte and token its sends were accepted with. After every transition:
//! - bytes arrive in order and exactly once: what a side received is a prefix of what the
//!   other side's sends were accepted with;
//! - every token ends in at most one `Sent` or `SendFailed`, in token order, and a send is
//!   accepted exactly when `is_writable()` said so (a refusal hands the data back intact);
//! - nothing follows `Closed` but `SendFailed`, and `Closed` comes once;
//! - a muted side receives nothing; an `Exact(n)` setting delivers `n`-byte chunks;
//! - `buffer_until <= read_buffer_minimum <= read_buffer_size` and the buffered bytes fit.
//!
//! At the end both sides close and the pair runs until nothing is scheduled: every token has
//! its outcome and, without faults or hard closes, every send is `Sent`, both sides close
//! gracefully (`LocalGraceful` or `PeerEof`) and every byte arrived, except a trailing
//! partial `Exact` frame at EOF and what a side that muted while closing chose to drop
//! (both by design).
//!
//! ## TLS
//!
//! Half the cases (chosen with the initial state) run over TLS: A is a TLS client
//! (`client_connected_tls`), B a TLS server (`server_tls`), with a certificate made once by
//! rcgen; a quarter start mid-handshake (so commands and faults meet it), a quarter once
//! it is done. The link, its split reads and partial writes, carries ciphertext; the ledger
//! still counts plaintext, and every invariant above is checked as it is. What TLS
//! legitimately changes, and how the test allows for it:
//! - **The open event.** Each side's handler sees exactly one `Started` (B; both sides in
//!   plaintext, at once) or `Connected` (A), and no `Received`, `Sent`, `PeerClosed`,
//!   `Timer` or `Closed` before it. Until it, a send is refused with `NotConnected` and
//!   `set_timer` with `NotOpen` (checked; `is_writable()` is false then, so the
//!   accepted-iff-writeable rule is unchanged).
//! - **Failed starts.** A fault, or a close by the application, during the handshake ends a
//!   side with `StartFailed` (B) or `ConnectionFailed` (A) instead of `Closed`: the ledger
//!   counts either as the end (nothing but `SendFailed` may follow, and a side that never
//!   opened accepted no send). `TlsReady` / `TlsFailed` never come (no `start_tls`).
//! - **Closing in the handshake aborts.** A close before the side's open event is not
//!   graceful (the peer may see a reset or an unexpected EOF), so such a case does not count
//!   as clean for the final checks, as a hard close does not. The final close first lets
//!   the handshake finish (driving the quiet pair) for the same reason.
//! - **Close reasons.** A peer's `close_notify` is its EOF (`PeerEof`), a TCP EOF without
//!   one is `PeerEofUnclean` (allowed only in cases with faults or hard closes). Since only
//!   EOFs and resets are injected, the only TLS error allowed is `UnexpectedEof` (an EOF in
//!   the handshake).
//! - **Watermarks.** Under the `Queue` policy they count ciphertext, not plaintext; the test
//!   predicts no throttling (it checks sends against `is_writable()`), so nothing changes.
//! - **Timeouts.** The handshake timeout is off, as the close timeout is: over a one-byte
//!   link a certificate takes longer than 10 s of virtual time.
//!
//! Half the sides have a linger (1 ms to 3 s, `Config::linger`): a side that closed and
//! heard nothing from its peer for that long ends with `LingerTimeout`, and such a run is
//! not clean for the final checks (its peer may be reset), but every other invariant holds.
//!
//! Cases default to 64; run more with `PROPTEST_CASES=5000 cargo test -p lori-core
//! --features sim --test state_machine --release` (CI runs 10,000 that way: `.ci/run`).

use std::num::NonZeroUsize;
#[cfg(feature = "tls")]
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
#[cfg(feature = "tls")]
use lori_core::TlsClient;
#[cfg(feature = "tls")]
use lori_core::rustls::crypto::ring::default_provider;
#[cfg(feature = "tls")]
use lori_core::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
#[cfg(feature = "tls")]
use lori_core::rustls::{ClientConfig, RootCertStore, ServerConfig};
use lori_core::sim::{Fault, LinkConfig, Pair, Side, strategy};
use lori_core::{
    BufferUntil, CloseReason, Config, Conn, Connection, ConnectionFailure, Handler, LingerTimeout,
    ReadBufferSize, SendError, SendPolicy, SendToken, SetTimerError, StartFailure, TimerToken,
    TlsError, TlsFailure, Watermarks,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

// ---- The reference model ---------------------------------------------------------------

#[derive(Debug, Clone)]
struct SideModel {
    config: Config,
    /// The application called `close()` or `hard_close()`: sends must be refused.
    closed_by_app: bool,
    /// The application muted while closing: inbound data may be dropped from then on.
    discarding: bool,
    /// The largest `buffer_until(Exact(n))` the side ever set: a trailing partial frame
    /// of fewer bytes is discarded at the peer's EOF, by design.
    largest_frame: usize,
    hard_closed: bool,
    muted: bool,
}

/// How the pair's connection starts (plaintext only without the `tls` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
enum Start {
    /// Two plaintext connections, open from the start.
    Plain,
    /// A is a TLS client, B a TLS server; the handshake runs over the link like any other
    /// bytes, so the commands (and faults) of the case meet it wherever it is.
    Tls,
    /// As `Tls`, but the pair is driven until the handshake is done before the first
    /// command, so that most of the case runs on an open TLS connection.
    TlsHandshaken,
}

#[derive(Debug, Clone)]
struct Model {
    start: Start,
    a_to_b: LinkConfig,
    b_to_a: LinkConfig,
    sides: [SideModel; 2],
    faulted: bool,
}

#[derive(Debug, Clone)]
enum Step {
    Send {
        side: Side,
        len: usize,
        parts: usize,
    },
    Close(Side),
    HardClose(Side),
    Mute(Side),
    Unmute(Side),
    YieldRead(Side),
    BufferUntil(Side, Option<usize>),
    ResizeReadBuffer(Side, usize),
    SetReadBufferMinimum(Side, usize),
    SetTimer(Side, u64),
    CancelTimer(Side),
    Advance(u64),
    Inject(Fault),
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn config() -> impl Strategy<Value = Config> {
    let read_size = prop_oneof![1usize..=16, 17usize..=70_000];
    let policy = prop_oneof![
        Just(SendPolicy::RefuseWhileThrottled),
        (0usize..4096, 1usize..65_536).prop_map(|(low, extra)| SendPolicy::Queue(
            Watermarks::new(low, low + extra).expect("low < high")
        )),
    ];
    (
        read_size,
        1usize..=100_000,
        policy,
        any::<bool>(),
        1usize..=3,
        prop_oneof![Just(None), (1u64..=3000).prop_map(Some)],
    )
        .prop_map(|(read_size, budget, policy, half_close, timers, linger)| {
            Config::default()
                .read_buffer_size(ReadBufferSize::new(read_size).expect("not zero"))
                .read_budget(NonZeroUsize::new(budget).expect("not zero"))
                .send_policy(policy)
                .half_close(half_close)
                .max_user_timers(timers)
                // The final drain must not be cut short: with one-byte links it can take
                // longer than the default 30 s. Close timeouts have their own tests.
                .close_timeout(None)
                // Likewise the TLS handshake (a certificate over a one-byte link).
                .handshake_timeout(None)
                // Half the sides linger (1 ms to 3 s): a silent peer, such as one in
                // half-close mode that keeps its side open, is then left at the linger.
                .linger(linger.map(|ms| LingerTimeout::from_millis(ms).expect("in range")))
        })
}

impl ReferenceStateMachine for Model {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        #[cfg(feature = "tls")]
        let start = prop_oneof![
            2 => Just(Start::Plain),
            1 => Just(Start::Tls),
            1 => Just(Start::TlsHandshaken),
        ];
        #[cfg(not(feature = "tls"))]
        let start = Just(Start::Plain);
        (
            start,
            strategy::link(),
            strategy::link(),
            config(),
            config(),
        )
            .prop_map(|(start, a_to_b, b_to_a, a, b)| {
                let side = |config| SideModel {
                    config,
                    closed_by_app: false,
                    discarding: false,
                    largest_frame: 0,
                    hard_closed: false,
                    muted: false,
                };
                Model {
                    start,
                    a_to_b,
                    b_to_a,
                    sides: [side(a), side(b)],
                    faulted: false,
                }
            })
            .boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Step> {
        let side = strategy::side;
        prop_oneof![
            8 => (side(), 0usize..3000, 1usize..4)
                .prop_map(|(side, len, parts)| Step::Send { side, len, parts }),
            1 => side().prop_map(Step::Close),
            1 => side().prop_map(Step::HardClose),
            2 => side().prop_map(Step::Mute),
            2 => side().prop_map(Step::Unmute),
            1 => side().prop_map(Step::YieldRead),
            2 => (side(), proptest::option::of(1usize..64)).prop_map(|(s, n)| Step::BufferUntil(s, n)),
            1 => (side(), 1usize..70_000).prop_map(|(s, n)| Step::ResizeReadBuffer(s, n)),
            1 => (side(), 1usize..70_000).prop_map(|(s, n)| Step::SetReadBufferMinimum(s, n)),
            1 => (side(), 1u64..500).prop_map(|(s, ms)| Step::SetTimer(s, ms)),
            1 => side().prop_map(Step::CancelTimer),
            6 => (0u64..300).prop_map(Step::Advance),
            1 => strategy::fault().prop_map(Step::Inject),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        match *step {
            Step::Close(side) => {
                let model = &mut state.sides[index(side)];
                model.closed_by_app = true;
                model.discarding |= model.muted;
            }
            Step::HardClose(side) => {
                let model = &mut state.sides[index(side)];
                model.closed_by_app = true;
                model.hard_closed = true;
            }
            Step::Mute(side) => {
                let model = &mut state.sides[index(side)];
                model.muted = true;
                model.discarding |= model.closed_by_app;
            }
            Step::Unmute(side) => state.sides[index(side)].muted = false,
            Step::BufferUntil(side, Some(n)) => {
                let model = &mut state.sides[index(side)];
                model.largest_frame = model.largest_frame.max(n);
            }
            Step::Inject(_) => state.faulted = true,
            _ => {}
        }
        state
    }
}

// ---- The system under test ---------------------------------------------------------------

/// How a connection ended: `Closed` once it was open, or (under TLS) a failed start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Closed(CloseReason),
    StartFailed(StartFailure),
    ConnectionFailed(ConnectionFailure),
}

/// A handler that records everything and notes every ordering violation it sees.
#[derive(Debug)]
struct Recorder {
    /// The open event this side must see once: `Started` (server side, and both plaintext
    /// sides) or `Connected` (the TLS client).
    opens_with_connected: bool,
    /// `Started` or `Connected` came.
    opened: bool,
    received: Vec<u8>,
    outcomes: Vec<(SendToken, bool)>,
    closed: Option<End>,
    timers: Vec<TimerToken>,
    violations: Vec<String>,
}

impl Recorder {
    fn new(opens_with_connected: bool) -> Self {
        Self {
            opens_with_connected,
            opened: false,
            received: vec![],
            outcomes: vec![],
            closed: None,
            timers: vec![],
            violations: vec![],
        }
    }

    fn after_closed(&mut self, what: &str) {
        if let Some(end) = self.closed {
            self.violations.push(format!("{what} after {end:?}"));
        }
    }

    /// Events that only an open connection emits.
    fn while_open(&mut self, what: &str) {
        self.after_closed(what);
        if !self.opened {
            self.violations
                .push(format!("{what} before the open event"));
        }
    }

    fn open(&mut self, connected: bool) {
        let what = if connected { "Connected" } else { "Started" };
        self.after_closed(what);
        if self.opened {
            self.violations
                .push(format!("a second open event ({what})"));
        }
        if connected != self.opens_with_connected {
            self.violations.push(format!("{what} on the wrong side"));
        }
        self.opened = true;
    }

    /// `StartFailed` / `ConnectionFailed`: only instead of the open event, and the end.
    fn start_failed(&mut self, end: End) {
        self.after_closed(&format!("{end:?}"));
        if self.opened {
            self.violations
                .push(format!("{end:?} after the open event"));
        }
        match end {
            End::StartFailed(_) if self.opens_with_connected => {
                self.violations.push("StartFailed on the client".into());
            }
            End::ConnectionFailed(_) if !self.opens_with_connected => {
                self.violations
                    .push("ConnectionFailed on the server".into());
            }
            _ => {}
        }
        self.closed = Some(end);
    }
}

impl Handler for Recorder {
    fn on_started(&mut self, _cx: &mut Conn<'_>) {
        self.open(false);
    }
    fn on_connected(&mut self, _cx: &mut Conn<'_>) {
        self.open(true);
    }
    fn on_start_failure(&mut self, _cx: &mut Conn<'_>, failure: StartFailure) {
        self.start_failed(End::StartFailed(failure));
    }
    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.start_failed(End::ConnectionFailed(failure));
    }
    fn on_tls_ready(&mut self, _cx: &mut Conn<'_>) {
        self.violations.push("TlsReady without start_tls".into());
    }
    fn on_tls_failure(&mut self, _cx: &mut Conn<'_>, failure: TlsFailure) {
        self.violations
            .push(format!("TlsFailed({failure:?}) without start_tls"));
    }
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.while_open("Received");
        if cx.is_muted() {
            self.violations.push("Received while muted".into());
        }
        match cx.buffer_until() {
            BufferUntil::Exact(n) if data.len() != n.get() => self.violations.push(format!(
                "chunk of {} bytes under buffer_until({})",
                data.len(),
                n.get()
            )),
            _ if data.is_empty() => self.violations.push("empty Received".into()),
            _ => {}
        }
        self.received.extend_from_slice(&data);
    }
    fn on_sent(&mut self, _cx: &mut Conn<'_>, token: SendToken) {
        self.while_open("Sent");
        self.outcomes.push((token, true));
    }
    fn on_send_failed(&mut self, _cx: &mut Conn<'_>, token: SendToken) {
        if self.closed.is_none() {
            self.violations.push("SendFailed before Closed".into());
        }
        self.outcomes.push((token, false));
    }
    fn on_throttled(&mut self, _cx: &mut Conn<'_>) {
        self.after_closed("Throttled");
    }
    fn on_unthrottled(&mut self, _cx: &mut Conn<'_>) {
        self.after_closed("Unthrottled");
    }
    fn on_peer_closed(&mut self, _cx: &mut Conn<'_>) {
        self.while_open("PeerClosed");
    }
    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        self.while_open("Closed");
        self.closed = Some(End::Closed(reason));
    }
    fn on_idle_timeout(&mut self, _cx: &mut Conn<'_>) {
        self.after_closed("IdleTimeout");
    }
    fn on_timer(&mut self, _cx: &mut Conn<'_>, token: TimerToken) {
        self.while_open("Timer");
        self.timers.push(token);
    }
}

struct Sut {
    pair: Pair<Recorder, Recorder>,
    /// Every byte each side's sends were accepted with, in order.
    accepted: [Vec<u8>; 2],
    /// Every token each side's sends were accepted with, in order.
    tokens: [Vec<SendToken>; 2],
    /// The last timer each side started.
    last_timer: [Option<TimerToken>; 2],
    /// The application closed the side before its open event (in the TLS handshake): that
    /// aborts the connection rather than closing it gracefully.
    closed_unopened: [bool; 2],
    /// The payload generator's state (splitmix64), so payloads differ byte by byte.
    seed: u64,
}

impl Sut {
    fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::A => &mut self.pair.a.conn,
            Side::B => &mut self.pair.b.conn,
        }
    }

    fn recorder(&self, side: Side) -> &Recorder {
        match side {
            Side::A => &self.pair.a.handler,
            Side::B => &self.pair.b.handler,
        }
    }

    fn payload(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) as u8
            })
            .collect()
    }

    fn send(&mut self, model: &Model, side: Side, len: usize, parts: usize) {
        let payload = self.payload(len);
        let cut = len / parts;
        let pieces: Vec<Bytes> = (0..parts)
            .map(|i| {
                let end = if i + 1 == parts { len } else { (i + 1) * cut };
                Bytes::copy_from_slice(&payload[i * cut..end])
            })
            .collect();
        let opened = self.recorder(side).opened;
        let conn = self.conn(side);
        let writeable = conn.is_writable();
        let result = if parts == 1 {
            conn.send(pieces[0].clone())
                .map_err(|e| e.map_data(|d| vec![d]))
        } else {
            conn.send_vectored(pieces.clone())
        };
        match result {
            Ok(token) => {
                assert!(writeable, "send accepted although is_writable() was false");
                assert!(opened, "send accepted before the open event");
                assert!(
                    !model.sides[index(side)].closed_by_app,
                    "send accepted after close"
                );
                self.accepted[index(side)].extend_from_slice(&payload);
                self.tokens[index(side)].push(token);
            }
            Err(refused) => {
                assert!(!writeable, "send refused although is_writable() was true");
                if model.sides[index(side)].closed_by_app || !opened {
                    assert!(matches!(refused, SendError::NotOpen(_)), "{refused:?}");
                }
                assert_eq!(
                    refused.into_inner(),
                    pieces,
                    "refused data comes back intact"
                );
            }
        }
    }
}

impl Sut {
    /// Notes a close the application is about to make: before the open event it aborts.
    fn note_close(&mut self, side: Side) {
        let recorder = self.recorder(side);
        if !recorder.opened && recorder.closed.is_none() {
            self.closed_unopened[index(side)] = true;
        }
    }

    /// Under TLS, runs the pair until both sides opened or one ended (nothing else is
    /// scheduled: no timer can be set before the open event, and the links are quiet once
    /// the handshake and its session tickets went through).
    fn complete_handshake(&mut self) {
        let (a, b) = (&self.pair.a.handler, &self.pair.b.handler);
        if (a.opened && b.opened) || a.closed.is_some() || b.closed.is_some() {
            return;
        }
        assert!(self.pair.drive(), "the handshake ends");
    }
}

/// The TLS configurations, made once: a self-signed certificate for "localhost" (rcgen),
/// the server's configuration with it, and a client trusting it.
#[cfg(feature = "tls")]
fn tls_configs() -> &'static (TlsClient, Arc<ServerConfig>) {
    static CONFIGS: OnceLock<(TlsClient, Arc<ServerConfig>)> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a self-signed certificate");
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        let provider = Arc::new(default_provider());
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(key))
            .expect("a valid certificate and key");
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("a valid root");
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (
            TlsClient::new(Arc::new(client)).server_name("localhost"),
            Arc::new(server),
        )
    })
}

/// Maps the data a send error carries, keeping its kind.
trait MapData<T> {
    fn map_data<U>(self, f: impl FnOnce(T) -> U) -> SendError<U>;
}

impl<T> MapData<T> for SendError<T> {
    fn map_data<U>(self, f: impl FnOnce(T) -> U) -> SendError<U> {
        match self {
            SendError::NotOpen(data) => SendError::NotOpen(f(data)),
            SendError::NotWritable(data) => SendError::NotWritable(f(data)),
            _ => unreachable!("no other kinds exist"),
        }
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Self;
    type Reference = Model;

    fn init_test(model: &Model) -> Self {
        let [a, b] = &model.sides;
        let plain = || {
            Pair::new(
                (a.config.clone(), Recorder::new(false)),
                (b.config.clone(), Recorder::new(false)),
                model.a_to_b,
                model.b_to_a,
            )
        };
        #[cfg(not(feature = "tls"))]
        let pair = plain();
        #[cfg(feature = "tls")]
        let pair = if model.start == Start::Plain {
            plain()
        } else {
            let (client, server) = tls_configs();
            let now = std::time::Instant::now();
            let client = Connection::client_connected_tls(a.config.clone(), client.clone(), now);
            let server = Connection::server_tls(b.config.clone(), Arc::clone(server), now);
            Pair::from_connections(
                (client, Recorder::new(true)),
                (server, Recorder::new(false)),
                model.a_to_b,
                model.b_to_a,
            )
        };
        let mut sut = Sut {
            pair,
            accepted: [vec![], vec![]],
            tokens: [vec![], vec![]],
            last_timer: [None; 2],
            closed_unopened: [false; 2],
            seed: 7,
        };
        if model.start == Start::TlsHandshaken {
            sut.complete_handshake();
            assert!(
                sut.pair.a.handler.opened && sut.pair.b.handler.opened,
                "the handshake completes on a quiet link"
            );
        }
        sut
    }

    fn apply(mut sut: Self, model: &Model, step: Step) -> Self {
        match step {
            Step::Send { side, len, parts } => sut.send(model, side, len, parts),
            Step::Close(side) => {
                sut.note_close(side);
                sut.conn(side).close();
            }
            Step::HardClose(side) => {
                sut.note_close(side);
                sut.conn(side).hard_close();
            }
            Step::Mute(side) => sut.conn(side).mute(),
            Step::Unmute(side) => sut.conn(side).unmute(),
            Step::YieldRead(side) => sut.conn(side).yield_read(),
            Step::BufferUntil(side, n) => {
                let until = n.map_or(BufferUntil::Streaming, |n| BufferUntil::exact(n).unwrap());
                let _ = sut.conn(side).set_buffer_until(until);
            }
            Step::ResizeReadBuffer(side, n) => {
                let _ = sut
                    .conn(side)
                    .resize_read_buffer(ReadBufferSize::new(n).unwrap());
            }
            Step::SetReadBufferMinimum(side, n) => {
                let _ = sut
                    .conn(side)
                    .set_read_buffer_minimum(ReadBufferSize::new(n).unwrap());
            }
            Step::SetTimer(side, ms) => {
                let result = sut.conn(side).set_timer(Duration::from_millis(ms));
                if model.sides[index(side)].closed_by_app || !sut.recorder(side).opened {
                    assert_eq!(result, Err(SetTimerError::NotOpen));
                }
                if let Ok(token) = result {
                    sut.last_timer[index(side)] = Some(token);
                }
            }
            Step::CancelTimer(side) => {
                if let Some(token) = sut.last_timer[index(side)] {
                    sut.conn(side).cancel_timer(token);
                }
            }
            Step::Advance(ms) => sut.pair.run_for(std::time::Duration::from_millis(ms)),
            Step::Inject(fault) => sut.pair.inject(fault),
        }
        sut.pair.settle();
        sut
    }

    fn check_invariants(sut: &Self, model: &Model) {
        for side in [Side::A, Side::B] {
            let me = index(side);
            let recorder = sut.recorder(side);
            assert_eq!(recorder.violations, Vec::<String>::new(), "side {side:?}");

            let resolved: Vec<SendToken> = recorder.outcomes.iter().map(|(t, _)| *t).collect();
            assert_eq!(
                resolved[..],
                sut.tokens[me][..resolved.len()],
                "side {side:?}: outcomes in token order, each once"
            );
            let first_failed = recorder.outcomes.iter().position(|(_, sent)| !sent);
            if let Some(first) = first_failed {
                assert!(
                    recorder.outcomes[first..].iter().all(|(_, sent)| !sent),
                    "side {side:?}: a Sent after a SendFailed"
                );
            }

            let other = 1 - me;
            let received = &recorder.received;
            assert!(
                received.len() <= sut.accepted[other].len(),
                "side {side:?} got extra bytes"
            );
            assert!(
                received[..] == sut.accepted[other][..received.len()],
                "side {side:?}: received bytes are not the prefix of what was sent"
            );

            let conn = match side {
                Side::A => &sut.pair.a.conn,
                Side::B => &sut.pair.b.conn,
            };
            let until = conn.buffer_until().required_bytes();
            assert!(
                until <= conn.read_buffer_minimum(),
                "buffer_until above the minimum"
            );
            assert!(
                conn.read_buffer_minimum() <= conn.read_buffer_size(),
                "minimum above size"
            );
            assert!(
                conn.buffered_read_bytes() <= conn.read_buffer_size(),
                "buffer overfull"
            );
            if model.sides[me].hard_closed {
                assert!(recorder.closed.is_some(), "hard_close did not close");
            }
            if model.start == Start::Plain {
                assert!(
                    recorder.opened,
                    "side {side:?}: no Started on a plaintext pair"
                );
            }
            if let Some(
                End::Closed(CloseReason::Tls(error))
                | End::StartFailed(StartFailure::Tls(error))
                | End::ConnectionFailed(ConnectionFailure::Tls(error)),
            ) = recorder.closed
            {
                // Only EOFs and resets are injected: the TLS stream itself is never bad.
                assert_eq!(error, TlsError::UnexpectedEof, "side {side:?}");
            }
            if let Some(End::StartFailed(_) | End::ConnectionFailed(_)) = recorder.closed {
                assert!(
                    sut.tokens[me].is_empty(),
                    "side {side:?}: a send was accepted on a connection that never opened"
                );
            }
        }
    }

    fn teardown(mut sut: Self, model: Model) {
        for side in [Side::A, Side::B] {
            let conn = sut.conn(side);
            conn.unmute();
            // A partial `Exact` frame at EOF is discarded by design; stream the tail instead.
            conn.set_buffer_until(BufferUntil::Streaming)
                .expect("streaming is always accepted");
        }
        // Under TLS a close during the handshake aborts it: let it finish first.
        sut.complete_handshake();
        for side in [Side::A, Side::B] {
            sut.note_close(side);
            sut.conn(side).close();
        }
        assert!(sut.pair.drive(), "the pair settles once both sides closed");
        // A side that lingered out gave up on its peer's answer: the peer may then see a
        // reset, as after a hard close.
        let lingered_out = [Side::A, Side::B].iter().any(|&side| {
            sut.recorder(side).closed == Some(End::Closed(CloseReason::LingerTimeout))
        });
        let clean = !model.faulted
            && !lingered_out
            && model.sides.iter().all(|side| !side.hard_closed)
            && !sut.closed_unopened.iter().any(|closed| *closed);
        for side in [Side::A, Side::B] {
            let me = index(side);
            let recorder = sut.recorder(side);
            assert!(recorder.closed.is_some(), "side {side:?} never closed");
            assert_eq!(
                recorder.outcomes.len(),
                sut.tokens[me].len(),
                "side {side:?}: unresolved"
            );
            if clean {
                assert!(
                    recorder.outcomes.iter().all(|(_, sent)| *sent),
                    "side {side:?}: failed"
                );
                // Both sides closed gracefully (under TLS: with a close_notify each way).
                assert!(
                    matches!(
                        recorder.closed,
                        Some(End::Closed(
                            CloseReason::LocalGraceful | CloseReason::PeerEof
                        ))
                    ),
                    "side {side:?}: a clean run ended in {:?}",
                    recorder.closed
                );
            }
            if clean && !model.sides[me].discarding {
                let (got, sent) = (recorder.received.len(), sut.accepted[1 - me].len());
                let tolerated = model.sides[me].largest_frame.saturating_sub(1);
                assert!(
                    sent - got <= tolerated,
                    "side {side:?}: received {got} of the {sent} bytes sent \
                     (at most a partial frame of {tolerated} bytes may be dropped)"
                );
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proptest-regressions/core-state_machine.txt"
        )))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn random_commands_and_faults_keep_every_invariant(sequential 1..40 => Sut);
}
