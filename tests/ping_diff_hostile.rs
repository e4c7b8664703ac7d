//! iputils ping and wirelab-ping against a hostile responder (issues #13 and #20): h2's kernel
//! stays silent (icmp_echo_ignore_all) and a small responder in this test answers instead,
//! each of its addresses with one kind of wrong reply, so both tools meet exactly the same
//! bytes. chain:1, h1 — r1 — h2; the responder's addresses are on h2's loopback:
//!
//! | target    | what comes back for each request                                          |
//! |-----------|---------------------------------------------------------------------------|
//! | 10.6.0.1  | a reply with another identifier, then the right reply                     |
//! | 10.6.0.2  | the reply with a broken checksum, then the right reply                    |
//! | 10.6.0.3  | the reply with data byte 30 changed (checksum fixed), then the right one   |
//! | 10.6.0.4  | the right reply, twice                                                    |
//! | 10.6.0.5  | the right reply, from 10.6.0.99                                           |
//! | 10.6.0.6  | the reply cut to 20 data bytes                                            |
//! | 10.6.0.7  | the reply with 2000 more data bytes than asked (longer than the buffer)   |
//! | 10.6.0.8  | a reply to a sequence number never sent, then the right reply             |

mod common;
mod ping_diff;

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::diff::{Case, Run};
use ping_diff::{lab_for, run, Privilege};
use wirelab::sock::icmp::{IcmpSocket, SocketKind};
use wirelab::wire::icmp::{self, Family, Message};

/// Build an echo reply (type 0) with a correct checksum.
fn reply(identifier: u16, sequence: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = icmp::build_echo_request(Family::V4, identifier, sequence, payload);
    bytes[0] = 0;
    bytes[2..4].copy_from_slice(&[0, 0]);
    let sum = icmp::checksum_v4(&bytes);
    bytes[2..4].copy_from_slice(&sum.to_be_bytes());
    bytes
}

/// The replies for one request to `target`.
fn answers(target: [u8; 4], identifier: u16, sequence: u16, payload: &[u8]) -> Vec<Vec<u8>> {
    let good = reply(identifier, sequence, payload);
    match target {
        [10, 6, 0, 1] => vec![reply(identifier.wrapping_add(1), sequence, payload), good],
        [10, 6, 0, 2] => {
            let mut broken = good.clone();
            broken[30] ^= 0xff;
            vec![broken, good]
        }
        [10, 6, 0, 3] => {
            let mut changed = payload.to_vec();
            if let Some(byte) = changed.get_mut(30) {
                *byte ^= 0xff;
            }
            vec![reply(identifier, sequence, &changed), good]
        }
        [10, 6, 0, 4] => vec![good.clone(), good],
        [10, 6, 0, 6] => {
            let cut = &payload[..payload.len().min(20)];
            vec![reply(identifier, sequence, cut)]
        }
        [10, 6, 0, 7] => {
            let mut long = payload.to_vec();
            long.extend((0..2000).map(|i| i as u8));
            vec![reply(identifier, sequence, &long)]
        }
        [10, 6, 0, 8] => vec![
            reply(identifier, sequence.wrapping_add(1000), payload),
            good,
        ],
        _ => vec![good],
    }
}

/// Answer echo requests in h2's namespace until `stop`. Runs on its own thread: setns moves
/// only the calling thread.
fn responder(namespace: String, stop: Arc<AtomicBool>) {
    let file = std::fs::File::open(format!("/run/netns/{namespace}")).expect("netns");
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    let socket = IcmpSocket::open(Family::V4, Some(SocketKind::Raw), "test").expect("raw");
    // Ping's raw sockets filter out echo requests (ICMP_FILTER); this one must see them.
    wirelab::sock::control::set_int(socket.socket(), libc::SOL_RAW, 1, 0).expect("ICMP_FILTER");
    // One sending socket per address, bound to it, so each reply leaves from the address
    // that was pinged (10.6.0.5's from 10.6.0.99).
    let senders: Vec<([u8; 4], IcmpSocket)> = (1..=8u8)
        .map(|n| {
            let target = [10, 6, 0, n];
            let from = if n == 5 { [10, 6, 0, 99] } else { target };
            let sender = IcmpSocket::open(Family::V4, Some(SocketKind::Raw), "test").expect("raw");
            sender
                .bind(std::net::IpAddr::from(from))
                .expect("bind a responder address");
            (target, sender)
        })
        .collect();
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let _ = socket.wait(Duration::from_millis(50));
        let Ok(received) = socket.receive(&mut buffer) else {
            continue;
        };
        let Ok((ip, message)) = icmp::split_ipv4(&buffer[..received.len]) else {
            continue;
        };
        let Ok(Message::EchoRequest(echo)) = icmp::parse(Family::V4, message) else {
            continue;
        };
        let target = ip.destination.octets();
        let back = std::net::IpAddr::V4(ip.source);
        let Some((_, from)) = senders.iter().find(|(address, _)| *address == target) else {
            continue;
        };
        for packet in answers(target, echo.identifier, echo.sequence, echo.payload) {
            let _ = from.send_to(&packet, back);
        }
    }
}

fn bad_checksum_is_reported(ours: &Run, _classic: &Run) -> Result<(), String> {
    ours.expect_code(0)?;
    if ours.stdout.contains("wrong data byte") {
        // A raw socket: the broken copy arrived, and is shown and counted as corrupted.
        ours.expect_stdout_contains(
            " (BAD CHECKSUM!)\nwrong data byte #22 should be 0x16 but was 0xe9",
        )?;
        ours.expect_stdout_contains(
            "2 packets transmitted, 2 received, +2 corrupted, 0% packet loss",
        )
    } else {
        // A datagram socket: the kernel dropped the broken copy.
        ours.expect_stdout_contains("2 packets transmitted, 2 received, 0% packet loss")
    }
}

fn flood_marks_bad_checksums(ours: &Run, _classic: &Run) -> Result<(), String> {
    ours.expect_code(0)?;
    ours.expect_stdout_contains(".\x08C\x08 \x08")?;
    ours.expect_stdout_contains("20 packets transmitted, 20 received, +20 corrupted")
}

fn unsent_sequence_is_ignored(ours: &Run, classic: &Run) -> Result<(), String> {
    ours.expect_code(0)?;
    ours.expect_stdout_contains("2 packets transmitted, 2 received, 0% packet loss")?;
    if ours.stdout.contains("icmp_seq=1001") {
        return Err(format!("a reply to a request never sent: {}", ours.stdout));
    }
    classic.expect_stdout_contains("icmp_seq=1001")
}

fn cases(privilege: Privilege) -> Vec<Case> {
    let mut cases = vec![
        Case::same(
            "foreign_identifier_is_not_ours",
            &["-c", "2", "-i", "0.2", "10.6.0.1"],
        ),
        Case::ours(
            "bad_checksum_counted_as_corrupted",
            &["-c", "2", "-i", "0.2", "10.6.0.2"],
            "iputils 20221126 computes the checksum of a reply but passes 0 for it to \
             gather_statistics (ping.c, ping4_parse_reply), so it never prints its own \
             (BAD CHECKSUM!) nor counts +corrupted; we check it, on raw sockets (the kernel \
             drops such replies before a datagram socket sees them)",
            bad_checksum_is_reported,
        ),
        Case::same(
            "changed_data_reported_byte_by_byte",
            &["-c", "2", "-i", "0.2", "10.6.0.3"],
        ),
        Case::same(
            "changed_data_with_a_pattern",
            &["-c", "1", "-p", "a5", "10.6.0.3"],
        ),
        Case::same(
            "duplicates_marked_and_counted",
            &["-c", "2", "-i", "0.2", "10.6.0.4"],
        ),
        Case::same(
            "duplicates_quiet",
            &["-q", "-c", "2", "-i", "0.2", "10.6.0.4"],
        ),
        Case::same(
            "reply_from_a_different_address",
            &["-c", "2", "-i", "0.2", "10.6.0.5"],
        ),
        Case::same(
            "reply_from_a_different_address_when_broadcasting_is_expected",
            &["-b", "-c", "1", "10.6.0.5"],
        ),
        Case::same(
            "short_reply_is_truncated",
            &["-c", "2", "-i", "0.2", "10.6.0.6"],
        ),
        Case::same(
            "short_reply_with_small_requests",
            &["-c", "1", "-s", "20", "10.6.0.6"],
        ),
        // #20: recvmsg cuts a reply longer than the buffer (MSG_TRUNC). A checksum over the
        // cut bytes would call it corrupted; we know it was cut, so we do not check it, and
        // count it as iputils does (which never checks, see above). --json marks it `cut`.
        Case::same(
            "reply_longer_than_the_buffer_is_cut_and_counted",
            &["-c", "2", "-i", "0.2", "10.6.0.7"],
        ),
        Case::ours(
            "reply_to_a_sequence_never_sent_is_ignored",
            &["-c", "2", "-i", "0.2", "10.6.0.8"],
            "iputils counts a reply to a request it never sent (2 sent, 3 received, -50% \
             loss); we skip it, as one with a foreign identifier",
            unsent_sequence_is_ignored,
        ),
    ];
    if privilege == Privilege::Root {
        cases.push(Case::ours(
            "flood_marks_bad_checksums_with_c",
            &["-f", "-c", "20", "10.6.0.2"],
            "as bad_checksum_counted_as_corrupted: our flood line marks each bad reply `C`",
            flood_marks_bad_checksums,
        ));
    }
    cases
}

fn hostile(test: &str, privilege: Privilege) {
    let Some(lab) = lab_for(test, "chain:1", privilege) else {
        return;
    };
    let setup = lab.sh(
        "h2",
        "sysctl -qw net.ipv4.icmp_echo_ignore_all=1 && \
         for n in 1 2 3 4 5 6 7 8 99; do ip addr add 10.6.0.$n/32 dev lo; done",
    );
    assert!(setup.status.success(), "{}", common::stderr(&setup));
    let route = lab.sh("r1", "ip route add 10.6.0.0/24 via 10.0.2.2");
    assert!(route.status.success(), "{}", common::stderr(&route));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let namespace = lab.ns("h2");
        let stop = stop.clone();
        std::thread::spawn(move || responder(namespace, stop))
    };
    std::thread::sleep(Duration::from_millis(200));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&lab, "h1", privilege, &cases(privilege), 1);
        if privilege == Privilege::Root {
            // --json says which reply was cut by the buffer (#20).
            let ours = common::bin("wirelab-ping");
            let output = lab.exec(
                "h1",
                &[
                    ours.to_str().expect("utf-8"),
                    "--json",
                    "-c",
                    "1",
                    "10.6.0.7",
                ],
            );
            let text = common::stdout(&output);
            let reply = text
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|event| event["type"] == "reply")
                .unwrap_or_else(|| panic!("no reply event:\n{text}"));
            assert_eq!(reply["cut"], true, "{reply}");
            assert_eq!(reply["corrupted"], serde_json::Value::Null, "{reply}");
        }
    }));
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("responder");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn hostile_replies_as_root() {
    hostile("hostile_replies_as_root", Privilege::Root);
}

#[test]
fn hostile_replies_as_root_on_datagram_sockets() {
    hostile(
        "hostile_replies_as_root_on_datagram_sockets",
        Privilege::RootDgram,
    );
}

#[test]
fn hostile_replies_with_cap_net_raw() {
    hostile("hostile_replies_with_cap_net_raw", Privilege::NetRaw);
}

#[test]
fn hostile_replies_with_ping_group_range() {
    hostile(
        "hostile_replies_with_ping_group_range",
        Privilege::PingGroup,
    );
}
