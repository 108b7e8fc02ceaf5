//! `Handle` posts: messages posted from several threads reach the server's `on_message`,
//! each once; a client's handle (from `connect`) reaches the client; once the handler has
//! heard the close, a post hands the message back, through any handle.

use std::sync::mpsc::{self, Sender};

use bytes::{Buf, Bytes, BytesMut};
use lori_core::{CloseReason, Config, Conn, Connect, Handle, Handler, PostError};
use lori_testkit::{recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

const THREADS: u32 = 4;
const PER_THREAD: u32 = 25;

/// Sends every number posted to it to its peer, as 4 big-endian bytes.
struct Relay {
    handle: Sender<Handle<u32>>,
    /// On close: whether a post through a handle asked for then is refused.
    closed: Sender<Option<bool>>,
}

impl Handler<u32> for Relay {
    fn on_started(&mut self, cx: &mut Conn<'_, u32>) {
        report(&self.handle, cx.handle().expect("a driver gives handles"));
    }

    fn on_message(&mut self, cx: &mut Conn<'_, u32>, number: u32) {
        cx.send(Bytes::copy_from_slice(&number.to_be_bytes()))
            .expect("relay");
    }

    fn on_closed(&mut self, cx: &mut Conn<'_, u32>, _reason: CloseReason) {
        let refused = cx.handle().map(|handle| handle.post(0).is_err());
        report(&self.closed, refused);
    }
}

/// A message to the client.
#[derive(Debug)]
struct Stop;

/// Collects the relayed numbers; closes when told to.
struct Numbers {
    pending: BytesMut,
    numbers: Vec<u32>,
    all: Sender<Vec<u32>>,
}

impl Handler<Stop> for Numbers {
    fn on_received(&mut self, _cx: &mut Conn<'_, Stop>, data: Bytes) {
        self.pending.extend_from_slice(&data);
        while self.pending.len() >= 4 {
            self.numbers.push(self.pending.get_u32());
        }
        if self.numbers.len() == (THREADS * PER_THREAD) as usize {
            report(&self.all, std::mem::take(&mut self.numbers));
        }
    }

    fn on_message(&mut self, cx: &mut Conn<'_, Stop>, Stop: Stop) {
        cx.close();
    }
}

fn posts_from_threads_reach_on_message(driver: &TestDriver) {
    let (handle_tx, handles) = mpsc::channel();
    let (closed_tx, closed) = mpsc::channel();
    let (_listener, address) = driver.serve(Config::default(), move || Relay {
        handle: handle_tx.clone(),
        closed: closed_tx.clone(),
    });
    let (all_tx, all) = mpsc::channel();
    let client = driver.connect(
        Config::default(),
        Connect::addresses([address]),
        Numbers {
            pending: BytesMut::new(),
            numbers: Vec::new(),
            all: all_tx,
        },
    );
    let server = recv(&handles, "the server's handle");
    let posters: Vec<_> = (0..THREADS)
        .map(|thread| {
            let server = server.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    server.post(thread * PER_THREAD + i).expect("open");
                }
            })
        })
        .collect();
    for poster in posters {
        poster.join().expect("a poster");
    }
    let mut numbers = recv(&all, "every number");
    numbers.sort_unstable();
    assert_eq!(numbers, (0..THREADS * PER_THREAD).collect::<Vec<_>>());
    client.post(Stop).expect("the client is open");
    assert_eq!(recv(&closed, "the server's close"), Some(true));
    assert!(matches!(server.post(7), Err(PostError::Closed(7))));
}

on_every_driver!(posts_from_threads_reach_on_message);
