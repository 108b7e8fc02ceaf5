//! `sendmmsg(2)`: several datagrams, to several destinations, with one system call.
//!
//! Linux and Android only. Hand-written because quinn-udp has no `sendmmsg`: its `try_send`
//! sends one message (one datagram, or one GSO run to one destination) per call, so a batch
//! of answers to different peers would cost one `sendmsg` each.
//!
//! Each message of the batch is either one datagram or a GSO run (consecutive datagrams of
//! one size to one destination, the last possibly shorter) carried with a `UDP_SEGMENT`
//! control message. No other control message is sent (quinn-udp's `IP_TOS` for ECN, which
//! lori leaves unset, is left out), so a message is what `sendto` would send.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd};

use lori_core::datagram::Transmit;
use socket2::SockAddr;

/// The most messages one `sendmmsg` carries (the datagram engine offers 32 datagrams a
/// call).
pub(crate) const MAX_MESSAGES: usize = 32;

/// One message of a batch: `count` datagrams of `transmits`, from `first`, to one
/// destination; `segment` is the GSO segment size when `count > 1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) first: usize,
    pub(crate) count: usize,
    pub(crate) segment: Option<u16>,
}

/// Room for one `UDP_SEGMENT` control message (`CMSG_SPACE(2)` is 24 bytes on 64-bit
/// Linux, 16 on 32-bit), aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; 32]);

/// Sends `messages` (each over `transmits[first..first + count]`, laid end to end in
/// `gso` for a GSO run: `gso_ranges[i]` is message `i`'s range there) with one
/// `sendmmsg`, retrying on `EINTR`. Returns how many messages the kernel took (at least
/// 1); an error means the first message was not sent, and is its error.
#[allow(unsafe_code)]
pub(crate) fn send_messages(
    socket: &impl AsFd,
    transmits: &[Transmit<'_>],
    messages: &[Message],
    gso: &[u8],
    gso_ranges: &[(usize, usize)],
) -> io::Result<usize> {
    let count = messages.len().min(MAX_MESSAGES);
    let mut names: [Option<SockAddr>; MAX_MESSAGES] = [const { None }; MAX_MESSAGES];
    // SAFETY: all-zero `iovec`s, `mmsghdr`s and control buffers are valid values (null
    // pointers, zero lengths), overwritten below before the kernel sees them.
    let mut iovecs: [libc::iovec; MAX_MESSAGES] = unsafe { mem::zeroed() };
    let mut headers: [libc::mmsghdr; MAX_MESSAGES] = unsafe { mem::zeroed() };
    let mut controls = [Control([0; 32]); MAX_MESSAGES];
    for (index, message) in messages[..count].iter().enumerate() {
        let first = &transmits[message.first];
        let contents: &[u8] = match message.segment {
            Some(_) => {
                let (start, end) = gso_ranges[index];
                &gso[start..end]
            }
            None => first.data,
        };
        iovecs[index] = libc::iovec {
            iov_base: contents.as_ptr() as *mut libc::c_void,
            iov_len: contents.len(),
        };
        let name = names[index].insert(SockAddr::from(first.to));
        let header = &mut headers[index].msg_hdr;
        header.msg_name = name.as_ptr() as *mut libc::c_void;
        header.msg_namelen = name.len();
        header.msg_iov = &mut iovecs[index];
        header.msg_iovlen = 1;
        if let Some(segment) = message.segment {
            // SAFETY: `controls[index]` lives until the call returns and has room for
            // `CMSG_SPACE(size_of::<u16>())` bytes (checked below); the header is written
            // through `CMSG_FIRSTHDR` of a `msghdr` whose control fields describe exactly
            // that buffer, and the `u16` through `CMSG_DATA`, unaligned.
            unsafe {
                let space = libc::CMSG_SPACE(mem::size_of::<u16>() as u32) as usize;
                debug_assert!(space <= mem::size_of::<Control>());
                header.msg_control = controls[index].0.as_mut_ptr() as *mut libc::c_void;
                header.msg_controllen = space as _;
                let cmsg = libc::CMSG_FIRSTHDR(header);
                (*cmsg).cmsg_level = libc::SOL_UDP;
                (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                (*cmsg).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut u16, segment);
            }
        }
    }
    let fd = socket.as_fd().as_raw_fd();
    loop {
        // SAFETY: `headers[..count]` point at `names`, `iovecs`, `controls` and the
        // datagrams' bytes, all alive and unmoved until the call returns; the kernel only
        // reads them (and writes each header's `msg_len`).
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                headers.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
