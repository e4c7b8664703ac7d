//! The charts open in a real browser (labs 08, 09): a chart drawn by `lib/chart` is rendered
//! by headless Chromium to a PNG, and the picture must show the curves in their colours, not
//! a blank page or an error. Chromium looks up outside hosts when it starts, whatever its
//! flags, so it runs only inside a lab node that has nothing but loopback and a resolv.conf
//! naming 127.0.0.1 (`tests/topo/browser.toml`): nothing can leave.
mod common;

use std::path::{Path, PathBuf};

use common::{root_or_skip, stderr, stdout, Lab};
use wirelab::chart::{
    self, AckSample, CaState, DataSegment, Loss, LossKind, TcpChart, WindowSample,
};

/// A Reno-like sawtooth: slow start to 32, then +1 a round trip, halved at 40, a timeout.
fn sawtooth() -> TcpChart {
    let mut chart = TcpChart {
        title: "synthetic reno".into(),
        mss: Some(1448),
        ..TcpChart::default()
    };
    let (mut t, mut cwnd, mut ssthresh, mut seq) = (0.0f64, 2.0f64, None, 0u64);
    chart.ca_states.push((0.0, CaState::Open));
    for round in 0..120 {
        chart.windows.push(WindowSample {
            t,
            cwnd,
            ssthresh,
            in_flight: cwnd,
        });
        for i in 0..cwnd as u64 {
            let at = t + 0.04 * i as f64 / cwnd;
            chart.data.push(DataSegment {
                t: at,
                seq,
                len: 1448,
                retransmission: false,
            });
            seq += 1448;
            chart.acks.push(AckSample {
                t: at + 0.04,
                ack: seq,
                window: Some(300_000),
            });
        }
        t += 0.04;
        if round == 90 {
            chart.losses.push(Loss {
                t,
                kind: LossKind::Timeout,
            });
            chart.ca_states.push((t, CaState::Loss));
            chart.ca_states.push((t + 0.04, CaState::Open));
            ssthresh = Some(cwnd / 2.0);
            cwnd = 1.0;
        } else if cwnd >= 40.0 {
            chart.losses.push(Loss {
                t,
                kind: LossKind::FastRetransmit,
            });
            chart.ca_states.push((t, CaState::Recovery));
            chart.ca_states.push((t + 0.04, CaState::Open));
            chart.data.push(DataSegment {
                t,
                seq: seq - 2896,
                len: 1448,
                retransmission: true,
            });
            ssthresh = Some(cwnd / 2.0);
            cwnd /= 2.0;
        } else if ssthresh.is_none_or(|s| cwnd < s) {
            cwnd *= 2.0;
        } else {
            cwnd += 1.0;
        }
    }
    chart
}

/// A directory a root-run browser inside a namespace can read and write; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("wirelab-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Render `svg` with headless Chromium inside the lab's `browser` node; returns the PNG.
fn screenshot(lab: &Lab, svg: &Path, scratch: &Path) -> PathBuf {
    let png = scratch.join("shot.png");
    let profile = scratch.join("profile");
    let output = lab.exec(
        "browser",
        &[
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--window-size=1200,900",
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", svg.display()),
        ],
    );
    assert!(
        output.status.success() && png.is_file(),
        "chromium failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    png
}

/// The PNG's pixels as RGB triples.
fn pixels(png: &Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("open png"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    let channels = info.color_type.samples();
    buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

fn near(pixel: [u8; 3], color: [u8; 3]) -> bool {
    pixel
        .iter()
        .zip(color)
        .all(|(a, b)| (i16::from(*a) - i16::from(b)).abs() <= 12)
}

#[test]
fn chromium_renders_the_chart_with_its_curves() {
    if !root_or_skip("chromium_renders_the_chart_with_its_curves") {
        return;
    }
    let scratch = Scratch::new();
    let svg = scratch.0.join("chart.svg");
    chart::write_svg(&sawtooth(), &svg).expect("write svg");
    let lab = Lab::up("tests/topo/browser.toml");
    // The node really has no way out: no route at all.
    assert_eq!(stdout(&lab.exec("browser", &["ip", "route"])).trim(), "");
    let png = screenshot(&lab, &svg, &scratch.0);
    let pixels = pixels(&png);
    assert_eq!(pixels.len(), 1200 * 900, "the window size asked for");
    let count = |color: [u8; 3]| pixels.iter().filter(|p| near(**p, color)).count();
    let white = count([255, 255, 255]);
    assert!(
        white < pixels.len() * 97 / 100,
        "not blank: {white} of {} pixels white",
        pixels.len()
    );
    // The curves in their colours: cwnd blue, ssthresh and loss marks red, ACKs green.
    for (name, color) in [
        ("cwnd", [31, 119, 180]),
        ("ssthresh", [214, 39, 40]),
        ("ACK", [44, 160, 44]),
    ] {
        assert!(count(color) > 300, "{name}: {} pixels", count(color));
    }
}
