//! The datagram endpoint and its engine on virtual time: queue bounds and policies,
//! refusals handing the bytes back, token order, truncation, soft (ICMP) and hard errors,
//! the idle timeout, closing with queued datagrams, and the engine against a scripted
//! transport.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lori_core::datagram::{
    DatagramCloseReason, DatagramConfig, DatagramContext, DatagramEngine, DatagramEvent,
    DatagramHandler, DatagramInput, DatagramSendError, DatagramTransport, Endpoint, EndpointState,
    MaxDatagram, QueueLimits, RecvBatch, RecvMeta, Transmit,
};
use lori_core::{
    CloseTimeout, Direction, IdleTimeout, IoFailure, NoHandles, Readiness, SendPolicy, SendToken,
    Watermarks,
};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn events(endpoint: &mut Endpoint) -> Vec<DatagramEvent> {
    std::iter::from_fn(|| endpoint.poll_event()).collect()
}

/// An open endpoint with its `Started` drained.
fn open(config: DatagramConfig, now: Instant) -> Endpoint {
    let mut endpoint = Endpoint::new(config, now);
    assert_eq!(events(&mut endpoint), [DatagramEvent::Started]);
    endpoint
}

fn token(id: u64) -> SendToken {
    // Tokens are only made by the endpoint; find the one with this id by sending.
    let mut endpoint = Endpoint::new(DatagramConfig::default(), Instant::now());
    let mut last = None;
    for _ in 0..id {
        last = endpoint.send_to(addr(1), Bytes::new()).ok();
    }
    last.expect("a token")
}

fn limits(datagrams: usize, bytes: usize) -> QueueLimits {
    QueueLimits::new(datagrams, bytes).unwrap()
}

fn transmits(endpoint: &Endpoint) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = [Transmit::default(); 64];
    let count = endpoint.transmits(&mut out);
    out[..count]
        .iter()
        .map(|transmit| (transmit.to, transmit.data.to_vec()))
        .collect()
}

// ---- Constrained values ---------------------------------------------------------------------

#[test]
fn constrained_values_refuse_what_is_out_of_range() {
    assert!(MaxDatagram::new(0).is_err());
    assert!(MaxDatagram::new(65_536).is_err());
    assert_eq!(MaxDatagram::new(65_535).unwrap().get(), 65_535);
    assert!(RecvBatch::new(0).is_err());
    assert!(RecvBatch::new(RecvBatch::MAX + 1).is_err());
    assert!(QueueLimits::new(0, 1).is_err());
    assert!(QueueLimits::new(1, 0).is_err());
}

// ---- Sends: tokens, refusals, bounds, policies ---------------------------------------------

#[test]
fn tokens_count_up_and_complete_in_order_over_partial_sends() {
    let now = Instant::now();
    let mut endpoint = open(DatagramConfig::default(), now);
    let tokens: Vec<SendToken> = (0..5u8)
        .map(|n| {
            endpoint
                .send_to(addr(9000 + u16::from(n)), vec![n; 3])
                .unwrap()
        })
        .collect();
    assert_eq!(
        tokens.iter().map(|t| t.id()).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let queued = transmits(&endpoint);
    assert_eq!(queued.len(), 5);
    assert_eq!(queued[2], (addr(9002), vec![2; 3]));
    endpoint.handle_sent(2, now);
    assert_eq!(
        events(&mut endpoint),
        [
            DatagramEvent::Sent(tokens[0]),
            DatagramEvent::Sent(tokens[1])
        ]
    );
    assert_eq!(transmits(&endpoint)[0].0, addr(9002));
    endpoint.handle_sent(3, now);
    assert_eq!(
        events(&mut endpoint),
        tokens[2..]
            .iter()
            .map(|t| DatagramEvent::Sent(*t))
            .collect::<Vec<_>>()
    );
    assert!(!endpoint.wants_write());
}

#[test]
fn a_datagram_over_the_maximum_is_refused_with_its_bytes_and_uses_no_token() {
    let now = Instant::now();
    let config = DatagramConfig::default().max_datagram(MaxDatagram::new(100).unwrap());
    let mut endpoint = open(config, now);
    let big = Bytes::from(vec![7u8; 101]);
    match endpoint.send_to(addr(1), big.clone()) {
        Err(DatagramSendError::TooLarge { data, max }) => {
            assert_eq!(data, big);
            assert_eq!(max, 100);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(endpoint.send_to(addr(1), vec![0u8; 100]).unwrap().id(), 1);
    assert!(events(&mut endpoint).is_empty());
}

#[test]
fn the_datagram_bound_refuses_throttles_once_and_unthrottles_when_drained() {
    let now = Instant::now();
    let config = DatagramConfig::default().queue_limits(limits(2, 1 << 20));
    let mut endpoint = open(config, now);
    endpoint.send_to(addr(1), &b"a"[..]).unwrap();
    endpoint.send_to(addr(1), &b"b"[..]).unwrap();
    let refused = endpoint.send_to(addr(1), &b"c"[..]).unwrap_err();
    assert_eq!(
        refused,
        DatagramSendError::NotWritable(Bytes::from_static(b"c"))
    );
    assert!(endpoint.send_to(addr(1), &b"d"[..]).is_err());
    assert_eq!(events(&mut endpoint), [DatagramEvent::Throttled]);
    assert!(!endpoint.is_writable());
    endpoint.handle_sent(1, now);
    assert_eq!(events(&mut endpoint), [DatagramEvent::Sent(token(1))]);
    endpoint.handle_sent(1, now);
    assert_eq!(
        events(&mut endpoint),
        [DatagramEvent::Sent(token(2)), DatagramEvent::Unthrottled]
    );
    assert_eq!(endpoint.send_to(addr(1), &b"e"[..]).unwrap().id(), 3);
}

#[test]
fn the_byte_bound_refuses_a_datagram_that_would_exceed_it() {
    let now = Instant::now();
    let config = DatagramConfig::default().queue_limits(limits(100, 10));
    let mut endpoint = open(config, now);
    endpoint.send_to(addr(1), vec![0u8; 6]).unwrap();
    let refused = endpoint.send_to(addr(1), vec![1u8; 5]).unwrap_err();
    assert_eq!(refused.into_inner(), Bytes::from(vec![1u8; 5]));
    assert_eq!(endpoint.queued_bytes(), 6);
    assert_eq!(endpoint.queued_datagrams(), 1);
}

#[test]
fn refuse_while_throttled_throttles_on_would_block_until_the_queue_is_empty() {
    let now = Instant::now();
    let mut endpoint = open(DatagramConfig::default(), now);
    endpoint.send_to(addr(1), &b"a"[..]).unwrap();
    endpoint.send_to(addr(1), &b"b"[..]).unwrap();
    endpoint.handle_would_block(Direction::Write, now);
    assert_eq!(events(&mut endpoint), [DatagramEvent::Throttled]);
    assert!(matches!(
        endpoint.send_to(addr(1), &b"c"[..]),
        Err(DatagramSendError::NotWritable(_))
    ));
    endpoint.handle_sent(1, now);
    assert_eq!(events(&mut endpoint), [DatagramEvent::Sent(token(1))]);
    endpoint.handle_sent(1, now);
    assert_eq!(
        events(&mut endpoint),
        [DatagramEvent::Sent(token(2)), DatagramEvent::Unthrottled]
    );
}

#[test]
fn the_queue_policy_ignores_would_block_and_throttles_between_watermarks() {
    let now = Instant::now();
    let watermarks = Watermarks::new(4, 10).unwrap();
    let config = DatagramConfig::default().send_policy(SendPolicy::Queue(watermarks));
    let mut endpoint = open(config, now);
    for _ in 0..3 {
        endpoint.send_to(addr(1), vec![0u8; 3]).unwrap();
    }
    endpoint.handle_would_block(Direction::Write, now);
    assert!(events(&mut endpoint).is_empty());
    // 12 bytes reach the high watermark: accepted, then throttled.
    endpoint.send_to(addr(1), vec![0u8; 3]).unwrap();
    assert_eq!(events(&mut endpoint), [DatagramEvent::Throttled]);
    assert!(endpoint.send_to(addr(1), vec![0u8; 1]).is_err());
    endpoint.handle_sent(2, now); // 6 bytes left: above low
    assert!(!events(&mut endpoint).contains(&DatagramEvent::Unthrottled));
    endpoint.handle_sent(1, now); // 3 bytes left: at or below low
    assert_eq!(
        events(&mut endpoint).last(),
        Some(&DatagramEvent::Unthrottled)
    );
}

#[test]
fn a_connected_endpoint_sends_to_its_peer_only_and_an_unconnected_one_needs_an_address() {
    let now = Instant::now();
    let mut connected = Endpoint::connected(DatagramConfig::default(), addr(5), now);
    connected.send(&b"x"[..]).unwrap();
    connected.send_to(addr(5), &b"y"[..]).unwrap();
    let refused = connected.send_to(addr(6), &b"z"[..]).unwrap_err();
    assert_eq!(
        refused,
        DatagramSendError::WrongPeer {
            data: Bytes::from_static(b"z"),
            peer: addr(5)
        }
    );
    assert_eq!(
        transmits(&connected),
        [(addr(5), b"x".to_vec()), (addr(5), b"y".to_vec())]
    );
    let mut unconnected = open(DatagramConfig::default(), now);
    assert_eq!(
        unconnected.send(&b"x"[..]).unwrap_err(),
        DatagramSendError::NoPeer(Bytes::from_static(b"x"))
    );
}

// ---- Receiving ------------------------------------------------------------------------------

#[test]
fn a_truncated_datagram_is_reported_and_counted_never_delivered() {
    let now = Instant::now();
    let config = DatagramConfig::default().max_datagram(MaxDatagram::new(4).unwrap());
    let mut endpoint = open(config, now);
    endpoint.handle_datagram(addr(1), Bytes::from_static(b"abcde"), false, now);
    endpoint.handle_datagram(addr(2), Bytes::new(), true, now);
    endpoint.handle_datagram(addr(3), Bytes::from_static(b"abcd"), false, now);
    assert_eq!(
        events(&mut endpoint),
        [
            DatagramEvent::Truncated { from: addr(1) },
            DatagramEvent::Truncated { from: addr(2) },
            DatagramEvent::Datagram {
                from: addr(3),
                data: Bytes::from_static(b"abcd")
            },
        ]
    );
    assert_eq!(endpoint.truncated_count(), 2);
}

#[test]
fn mute_holds_received_datagrams_and_stops_receiving_until_unmute() {
    let now = Instant::now();
    let mut endpoint = open(DatagramConfig::default(), now);
    endpoint.handle_datagram(addr(1), Bytes::from_static(b"1"), false, now);
    endpoint.handle_datagram(addr(1), Bytes::from_static(b"2"), false, now);
    let first = endpoint.poll_event();
    assert!(matches!(first, Some(DatagramEvent::Datagram { .. })));
    endpoint.mute();
    assert!(!endpoint.wants_read());
    assert_eq!(endpoint.poll_event(), None);
    assert_eq!(endpoint.pending_datagrams(), 1);
    endpoint.unmute();
    assert!(endpoint.wants_read());
    assert_eq!(
        events(&mut endpoint),
        [DatagramEvent::Datagram {
            from: addr(1),
            data: Bytes::from_static(b"2")
        }]
    );
}

#[test]
fn an_icmp_refusal_is_a_soft_error_and_another_receive_error_closes() {
    let now = Instant::now();
    let mut endpoint = Endpoint::connected(DatagramConfig::default(), addr(5), now);
    events(&mut endpoint);
    let refused = IoFailure::new(io::ErrorKind::ConnectionRefused, Some(111));
    endpoint.handle_recv_error(refused, now);
    assert_eq!(events(&mut endpoint), [DatagramEvent::Error(refused)]);
    assert_eq!(endpoint.state(), EndpointState::Open);
    let broken = IoFailure::new(io::ErrorKind::InvalidInput, Some(22));
    endpoint.handle_recv_error(broken, now);
    assert_eq!(
        events(&mut endpoint),
        [DatagramEvent::Closed(DatagramCloseReason::Io(broken))]
    );
    assert_eq!(endpoint.state(), EndpointState::Closed);
}

#[test]
fn a_failed_send_fails_its_datagram_only_after_the_error() {
    let now = Instant::now();
    let mut endpoint = open(DatagramConfig::default(), now);
    let first = endpoint.send(&b"1"[..]);
    assert!(first.is_err(), "unconnected");
    let a = endpoint.send_to(addr(1), &b"a"[..]).unwrap();
    let b = endpoint.send_to(addr(1), &b"b"[..]).unwrap();
    let refused = IoFailure::new(io::ErrorKind::ConnectionRefused, Some(111));
    endpoint.handle_send_error(refused, now);
    endpoint.handle_sent(1, now);
    assert_eq!(
        events(&mut endpoint),
        [
            DatagramEvent::Error(refused),
            DatagramEvent::SendFailed(a),
            DatagramEvent::Sent(b),
        ]
    );
    assert_eq!(endpoint.state(), EndpointState::Open);
}

// ---- Timers ---------------------------------------------------------------------------------

#[test]
fn the_idle_timeout_fires_rearms_restarts_on_traffic_and_stops_at_close() {
    let start = Instant::now();
    let second = Duration::from_secs(1);
    let config = DatagramConfig::default().idle_timeout(Some(IdleTimeout::from_secs(2).unwrap()));
    let mut endpoint = open(config, start);
    assert_eq!(endpoint.poll_timeout(), Some(start + 2 * second));
    endpoint.handle_datagram(addr(1), Bytes::from_static(b"x"), false, start + second);
    events(&mut endpoint);
    assert_eq!(endpoint.poll_timeout(), Some(start + 3 * second));
    endpoint.handle_timeout(start + 2 * second);
    assert!(events(&mut endpoint).is_empty());
    endpoint.handle_timeout(start + 3 * second);
    assert_eq!(events(&mut endpoint), [DatagramEvent::IdleTimeout]);
    assert_eq!(endpoint.poll_timeout(), Some(start + 5 * second));
    endpoint.close();
    assert_eq!(endpoint.poll_timeout(), None);
    assert_eq!(
        events(&mut endpoint),
        [DatagramEvent::Closed(DatagramCloseReason::Local)]
    );
}

#[test]
fn a_user_timer_fires_once_and_is_limited() {
    let start = Instant::now();
    let mut endpoint = open(DatagramConfig::default(), start);
    let timer = endpoint.set_timer(Duration::from_millis(50)).unwrap();
    assert!(endpoint.set_timer(Duration::from_millis(5)).is_err());
    endpoint.handle_timeout(start + Duration::from_millis(49));
    assert!(events(&mut endpoint).is_empty());
    endpoint.handle_timeout(start + Duration::from_millis(50));
    assert_eq!(events(&mut endpoint), [DatagramEvent::Timer(timer)]);
    assert_eq!(endpoint.poll_timeout(), None);
}

// ---- Closing --------------------------------------------------------------------------------

/// Every accepted token appears exactly once among `Sent` and `SendFailed`, in order.
fn assert_each_token_once(events: &[DatagramEvent], accepted: &[SendToken]) {
    let outcomes: Vec<SendToken> = events
        .iter()
        .filter_map(|event| match event {
            DatagramEvent::Sent(token) | DatagramEvent::SendFailed(token) => Some(*token),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, accepted);
}

#[test]
fn close_drains_queued_datagrams_then_closes_and_refuses_new_ones() {
    let now = Instant::now();
    let mut endpoint = open(DatagramConfig::default(), now);
    let accepted: Vec<SendToken> = (0..3)
        .map(|_| endpoint.send_to(addr(1), &b"q"[..]).unwrap())
        .collect();
    endpoint.close();
    assert_eq!(endpoint.state(), EndpointState::Closing);
    assert!(!endpoint.wants_read());
    assert!(matches!(
        endpoint.send_to(addr(1), &b"late"[..]),
        Err(DatagramSendError::NotOpen(_))
    ));
    endpoint.handle_sent(1, now);
    endpoint.handle_sent(2, now);
    let all = events(&mut endpoint);
    assert_each_token_once(&all, &accepted);
    assert_eq!(
        all.last(),
        Some(&DatagramEvent::Closed(DatagramCloseReason::Local))
    );
    assert!(
        all.iter()
            .all(|e| !matches!(e, DatagramEvent::SendFailed(_)))
    );
}

#[test]
fn the_close_timeout_fails_what_is_still_queued_after_closed() {
    let start = Instant::now();
    let config =
        DatagramConfig::default().close_timeout(Some(CloseTimeout::from_millis(100).unwrap()));
    let mut endpoint = open(config, start);
    let accepted: Vec<SendToken> = (0..3)
        .map(|_| endpoint.send_to(addr(1), &b"q"[..]).unwrap())
        .collect();
    endpoint.close();
    endpoint.handle_sent(1, start);
    endpoint.handle_timeout(start + Duration::from_millis(100));
    let all = events(&mut endpoint);
    assert_eq!(
        all,
        [
            DatagramEvent::Sent(accepted[0]),
            DatagramEvent::Closed(DatagramCloseReason::CloseTimeout),
            DatagramEvent::SendFailed(accepted[1]),
            DatagramEvent::SendFailed(accepted[2]),
        ]
    );
    // Late inputs change nothing: each token already had its one outcome.
    endpoint.handle_sent(2, start);
    assert!(events(&mut endpoint).is_empty());
}

#[test]
fn hard_close_fails_every_queued_datagram_after_closed_and_drops_advisories() {
    let now = Instant::now();
    let mut endpoint = open(DatagramConfig::default().queue_limits(limits(2, 100)), now);
    let accepted: Vec<SendToken> = (0..2)
        .map(|_| endpoint.send_to(addr(1), &b"q"[..]).unwrap())
        .collect();
    assert!(endpoint.send_to(addr(1), &b"q"[..]).is_err()); // queues Throttled
    endpoint.set_timer(Duration::from_millis(1)).unwrap();
    endpoint.handle_datagram(addr(1), Bytes::from_static(b"undelivered"), false, now);
    endpoint.hard_close();
    assert_eq!(
        events(&mut endpoint),
        [
            DatagramEvent::Closed(DatagramCloseReason::LocalHard),
            DatagramEvent::SendFailed(accepted[0]),
            DatagramEvent::SendFailed(accepted[1]),
        ]
    );
    assert_eq!(endpoint.poll_timeout(), None);
    assert_eq!(
        endpoint.poll_io(),
        Some(lori_core::datagram::DatagramOp::Close)
    );
}

// ---- The engine against a scripted transport ------------------------------------------------

/// Datagrams as a receive returns them: sender and bytes.
type Batch = Vec<(SocketAddr, Vec<u8>)>;

/// A transport replaying scripted receive and send outcomes, recording what was sent.
#[derive(Default)]
struct Script {
    /// Receive outcomes in order: a batch of datagrams (sender, bytes), or an error.
    recvs: VecDeque<Result<Batch, io::ErrorKind>>,
    /// Send outcomes in order: how many of those offered to take, or an error; when empty,
    /// everything offered is taken.
    sends: VecDeque<Result<usize, io::ErrorKind>>,
    /// How many datagrams each send call was offered.
    offered: Vec<usize>,
    sent: Batch,
    /// The slot sizes seen by receives.
    slot_sizes: Vec<usize>,
    closed: bool,
}

impl DatagramTransport for Script {
    fn recv(&mut self, slots: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        self.slot_sizes.push(slots[0].len());
        match self.recvs.pop_front() {
            None => Err(io::ErrorKind::WouldBlock.into()),
            Some(Err(kind)) => Err(io::Error::from_raw_os_error(match kind {
                io::ErrorKind::ConnectionRefused => 111,
                _ => 22,
            })),
            Some(Ok(batch)) => {
                for (index, (from, data)) in batch.iter().enumerate() {
                    let room = slots[index].len();
                    let len = data.len().min(room);
                    slots[index][..len].copy_from_slice(&data[..len]);
                    meta[index] = RecvMeta::new(*from, len);
                }
                Ok(batch.len())
            }
        }
    }

    fn send(&mut self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        self.offered.push(transmits.len());
        let take = match self.sends.pop_front() {
            None => transmits.len(),
            Some(Ok(count)) => count.min(transmits.len()),
            Some(Err(kind)) => return Err(kind.into()),
        };
        self.sent.extend(
            transmits[..take]
                .iter()
                .map(|transmit| (transmit.to, transmit.data.to_vec())),
        );
        Ok(take)
    }

    fn close(&mut self) {
        self.closed = true;
    }
}

/// Echoes every datagram and records what it heard.
#[derive(Default)]
struct Echo {
    heard: Vec<String>,
    panic_on: Option<Vec<u8>>,
}

impl DatagramHandler for Echo {
    fn on_datagram(&mut self, cx: &mut DatagramContext<'_>, from: SocketAddr, data: Bytes) {
        if self.panic_on.as_deref() == Some(&data[..]) {
            panic!("the handler panics on purpose");
        }
        self.heard
            .push(format!("datagram {} {}", from.port(), data.len()));
        let _ = cx.send_to(from, data);
    }
    fn on_truncated(&mut self, _cx: &mut DatagramContext<'_>, from: SocketAddr) {
        self.heard.push(format!("truncated {}", from.port()));
    }
    fn on_sent(&mut self, _cx: &mut DatagramContext<'_>, token: SendToken) {
        self.heard.push(format!("sent {}", token.id()));
    }
    fn on_send_failed(&mut self, _cx: &mut DatagramContext<'_>, token: SendToken) {
        self.heard.push(format!("failed {}", token.id()));
    }
    fn on_error(&mut self, _cx: &mut DatagramContext<'_>, failure: IoFailure) {
        self.heard.push(format!("error {:?}", failure.kind()));
    }
    fn on_throttled(&mut self, _cx: &mut DatagramContext<'_>) {
        self.heard.push("throttled".into());
    }
    fn on_unthrottled(&mut self, _cx: &mut DatagramContext<'_>) {
        self.heard.push("unthrottled".into());
    }
    fn on_closed(&mut self, _cx: &mut DatagramContext<'_>, reason: DatagramCloseReason) {
        self.heard.push(format!("closed {reason:?}"));
    }
}

fn drive(
    engine: &mut DatagramEngine,
    endpoint: &mut Endpoint,
    script: &mut Script,
    echo: &mut Echo,
    input: DatagramInput,
    now: Instant,
) -> lori_core::Wait {
    engine.drive(endpoint, script, echo, &mut NoHandles, input, now)
}

#[test]
fn the_engine_echoes_a_batch_and_sends_the_answers_in_one_call() {
    let now = Instant::now();
    let mut endpoint = Endpoint::new(DatagramConfig::default(), now);
    let mut script = Script::default();
    script.recvs.push_back(Ok(vec![
        (addr(1), b"one".to_vec()),
        (addr(2), b"two".to_vec()),
        (addr(1), Vec::new()),
    ]));
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::BOTH),
        now,
    );
    assert_eq!(
        script.sent,
        [
            (addr(1), b"one".to_vec()),
            (addr(2), b"two".to_vec()),
            (addr(1), Vec::new()),
        ]
    );
    assert_eq!(script.offered, [3], "one send call for the three answers");
    assert_eq!(
        echo.heard,
        [
            "datagram 1 3",
            "datagram 2 3",
            "datagram 1 0",
            "sent 1",
            "sent 2",
            "sent 3"
        ]
    );
    // The short batch drained the socket: wait for readability.
    assert!(wait.readable && !wait.writable && !wait.closed);
}

#[test]
fn the_engine_offers_max_plus_one_byte_slots_and_reports_a_longer_datagram_truncated() {
    let now = Instant::now();
    let config = DatagramConfig::default().max_datagram(MaxDatagram::new(8).unwrap());
    let mut endpoint = Endpoint::new(config, now);
    let mut script = Script::default();
    script.recvs.push_back(Ok(vec![
        (addr(1), vec![1; 8]),
        (addr(2), vec![2; 9]),
        (addr(3), vec![3; 500]),
    ]));
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::BOTH),
        now,
    );
    assert_eq!(script.slot_sizes[0], 9);
    assert_eq!(script.sent, [(addr(1), vec![1; 8])]);
    assert_eq!(
        &echo.heard[..3],
        ["datagram 1 8", "truncated 2", "truncated 3"]
    );
    assert_eq!(endpoint.truncated_count(), 2);
}

#[test]
fn the_engine_maps_a_refused_receive_to_an_error_and_keeps_going() {
    let now = Instant::now();
    let mut endpoint = Endpoint::connected(DatagramConfig::default(), addr(7), now);
    let mut script = Script::default();
    script
        .recvs
        .push_back(Err(io::ErrorKind::ConnectionRefused));
    script
        .recvs
        .push_back(Ok(vec![(addr(7), b"late".to_vec())]));
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::READABLE),
        now,
    );
    assert_eq!(echo.heard[0], "error ConnectionRefused");
    assert_eq!(echo.heard[1], "datagram 7 4");
    assert!(!wait.closed);
}

#[test]
fn the_engine_fails_only_the_datagram_whose_send_failed() {
    let now = Instant::now();
    let mut endpoint = Endpoint::new(DatagramConfig::default(), now);
    let mut script = Script::default();
    script
        .recvs
        .push_back(Ok(vec![(addr(1), b"a".to_vec()), (addr(2), b"b".to_vec())]));
    script.sends.push_back(Err(io::ErrorKind::HostUnreachable));
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::BOTH),
        now,
    );
    assert_eq!(script.sent, [(addr(2), b"b".to_vec())]);
    assert_eq!(
        &echo.heard[2..],
        ["error HostUnreachable", "failed 1", "sent 2"]
    );
}

#[test]
fn the_engine_throttles_on_would_block_and_resumes_on_writability() {
    let now = Instant::now();
    let mut endpoint = Endpoint::new(DatagramConfig::default(), now);
    let mut script = Script::default();
    script
        .recvs
        .push_back(Ok(vec![(addr(1), b"a".to_vec()), (addr(1), b"b".to_vec())]));
    script.sends.push_back(Ok(1));
    script.sends.push_back(Err(io::ErrorKind::WouldBlock));
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::BOTH),
        now,
    );
    assert!(wait.writable, "waits for writability");
    assert!(echo.heard.contains(&"throttled".to_string()));
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::WRITABLE),
        now,
    );
    assert!(!wait.writable);
    assert_eq!(script.sent.len(), 2);
    assert_eq!(echo.heard.last().map(String::as_str), Some("unthrottled"));
}

#[test]
fn the_engine_splits_coalesced_datagrams_at_their_stride() {
    /// One slot holding three 4-byte datagrams and a 2-byte one, as GRO hands them over.
    struct Gro(bool);
    impl DatagramTransport for Gro {
        fn recv(
            &mut self,
            slots: &mut [IoSliceMut<'_>],
            meta: &mut [RecvMeta],
        ) -> io::Result<usize> {
            if std::mem::replace(&mut self.0, true) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            assert_eq!(slots[0].len(), 64 * 1024);
            slots[0][..14].copy_from_slice(b"aaaabbbbccccdd");
            meta[0] = RecvMeta::coalesced(addr(4), 14, 4);
            Ok(1)
        }
        fn send(&mut self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
            Ok(transmits.len())
        }
        fn close(&mut self) {}
        fn coalesces(&self) -> bool {
            true
        }
    }
    let now = Instant::now();
    let mut endpoint = Endpoint::new(DatagramConfig::default(), now);
    let mut echo = Echo::default();
    DatagramEngine::new().drive(
        &mut endpoint,
        &mut Gro(false),
        &mut echo,
        &mut NoHandles,
        DatagramInput::Ready(Readiness::READABLE),
        now,
    );
    assert_eq!(
        &echo.heard[..4],
        [
            "datagram 4 4",
            "datagram 4 4",
            "datagram 4 4",
            "datagram 4 2"
        ]
    );
}

#[test]
fn the_receive_budget_yields_the_turn_and_a_new_turn_resumes() {
    let now = Instant::now();
    let config = DatagramConfig::default()
        .recv_budget(NonZeroUsize::new(2).unwrap())
        .recv_batch(RecvBatch::new(1).unwrap());
    let mut endpoint = Endpoint::new(config, now);
    let mut script = Script::default();
    for n in 0..3u8 {
        script.recvs.push_back(Ok(vec![(addr(1), vec![n])]));
    }
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::BOTH),
        now,
    );
    assert!(wait.yielded);
    assert_eq!(script.recvs.len(), 1, "two received, one left");
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::NewTurn,
        now,
    );
    assert!(!wait.yielded);
    assert!(script.recvs.is_empty());
    assert_eq!(script.sent.len(), 3);
}

#[test]
fn a_panicking_handler_hard_closes_the_endpoint_and_fails_its_queue() {
    let now = Instant::now();
    let mut endpoint = Endpoint::new(DatagramConfig::default(), now);
    let mut script = Script::default();
    script.recvs.push_back(Ok(vec![
        (addr(1), b"ok".to_vec()),
        (addr(1), b"boom".to_vec()),
    ]));
    script.sends.push_back(Err(io::ErrorKind::WouldBlock));
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    echo.panic_on = Some(b"boom".to_vec());
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::READABLE),
        now,
    );
    assert!(wait.closed && script.closed && engine.handler_panicked());
    assert_eq!(endpoint.state(), EndpointState::Closed);
}

#[test]
fn a_shutdown_close_drains_the_queue_before_the_transport_closes() {
    let now = Instant::now();
    let mut endpoint = Endpoint::new(DatagramConfig::default(), now);
    endpoint.send_to(addr(1), &b"bye"[..]).unwrap();
    // Not reported writable yet: the close waits for writability to drain the queue.
    let mut script = Script::default();
    let (mut engine, mut echo) = (DatagramEngine::new(), Echo::default());
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Close,
        now,
    );
    assert!(!wait.closed && wait.writable && !script.closed);
    let wait = drive(
        &mut engine,
        &mut endpoint,
        &mut script,
        &mut echo,
        DatagramInput::Ready(Readiness::WRITABLE),
        now,
    );
    assert!(wait.closed && script.closed, "{:?} {wait:?}", echo.heard);
    assert_eq!(script.sent, [(addr(1), b"bye".to_vec())]);
    assert_eq!(echo.heard, ["sent 1", "closed Local"]);
}
