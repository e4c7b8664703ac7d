//! Drawing the two panels of a [`TcpChart`] with plotters' SVG backend (labs 08, 09).
//!
//! A 10-second transfer at 20 Mbit/s is some 17 000 data segments and as many ACKs. One SVG
//! element each would make a file of megabytes that draws no better than the screen's pixels
//! allow, so runs of in-order segments that fall in the same pixel column merge into one bar,
//! and the ACK and window lines keep one step per column. Retransmissions and loss events are
//! never merged: they are what the student is looking for.

use std::path::Path;

use plotters::prelude::*;

use super::{CaState, ChartError, LossKind, TcpChart};

/// The picture's size in pixels: two panels of 1200 × 450.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 900;
/// Pixel columns the time axis spans, roughly (the plot area inside the axis labels).
const COLUMNS: f64 = 1100.0;
/// Up to this many bars in the sequence panel, each gets end caps.
const CAPPED_BARS: usize = 4000;

const CWND: RGBColor = RGBColor(31, 119, 180);
const SSTHRESH: RGBColor = RGBColor(214, 39, 40);
const IN_FLIGHT: RGBColor = RGBColor(44, 160, 44);
const DATA: RGBColor = RGBColor(20, 20, 20);
const RETRANSMIT: RGBColor = RGBColor(214, 39, 40);
const ACK: RGBColor = RGBColor(44, 160, 44);
const WINDOW: RGBColor = RGBColor(255, 127, 14);

/// The shade behind the curves for each congestion-avoidance state (Open has none).
fn shade(state: CaState) -> Option<RGBColor> {
    match state {
        CaState::Open => None,
        CaState::Disorder => Some(RGBColor(255, 221, 87)),
        CaState::Cwr => Some(RGBColor(120, 170, 255)),
        CaState::Recovery => Some(RGBColor(255, 160, 60)),
        CaState::Loss => Some(RGBColor(240, 60, 60)),
    }
}

fn draw_error(err: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(err.to_string())
}

/// A value that changes in steps, as points of a path: flat until the next sample, then up
/// or down at once (cwnd does not glide between two looks at it).
fn steps(points: impl IntoIterator<Item = (f64, f64)>, end: f64) -> Vec<(f64, f64)> {
    let mut path: Vec<(f64, f64)> = Vec::new();
    for (t, value) in points {
        if let Some(&(_, previous)) = path.last() {
            path.push((t, previous));
        }
        path.push((t, value));
    }
    if let Some(&(t, value)) = path.last() {
        if end > t {
            path.push((end, value));
        }
    }
    path
}

/// Thin a path to at most four points per pixel column: the first, the lowest, the highest
/// and the last, in time order. A line over 17 000 samples stays a few thousand points and
/// looks the same: every step and every peak is still there.
fn per_column(points: &[(f64, f64)], span: f64) -> Vec<(f64, f64)> {
    let width = if span > 0.0 { span / COLUMNS } else { 1.0 };
    let mut kept: Vec<(f64, f64)> = Vec::new();
    let mut column: Vec<(usize, (f64, f64))> = Vec::new();
    let flush = |column: &mut Vec<(usize, (f64, f64))>, kept: &mut Vec<(f64, f64)>| {
        let (Some(first), Some(last)) = (column.first().copied(), column.last().copied()) else {
            return;
        };
        let lowest = column
            .iter()
            .copied()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let highest = column
            .iter()
            .copied()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let mut chosen: Vec<(usize, (f64, f64))> = [Some(first), lowest, highest, Some(last)]
            .into_iter()
            .flatten()
            .collect();
        chosen.sort_by_key(|(index, _)| *index);
        chosen.dedup_by_key(|(index, _)| *index);
        kept.extend(chosen.into_iter().map(|(_, point)| point));
        column.clear();
    };
    for (index, &(t, value)) in points.iter().enumerate() {
        if let Some(&(_, (previous, _))) = column.last() {
            if (previous / width).floor() != (t / width).floor() {
                flush(&mut column, &mut kept);
            }
        }
        column.push((index, (t, value)));
    }
    flush(&mut column, &mut kept);
    kept
}

/// One vertical bar of the sequence panel: bytes `low .. high` sent at `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bar {
    pub t: f64,
    pub low: u64,
    pub high: u64,
    pub retransmission: bool,
}

/// Merge in-order segments sent in the same pixel column into one bar.
pub(crate) fn bars(chart: &TcpChart, span: f64) -> Vec<Bar> {
    let width = if span > 0.0 { span / COLUMNS } else { 1.0 };
    let mut bars: Vec<Bar> = Vec::new();
    for segment in &chart.data {
        let bar = Bar {
            t: segment.t,
            low: segment.seq,
            high: segment.seq + segment.len,
            retransmission: segment.retransmission,
        };
        if let Some(last) = bars.last_mut() {
            let same_column = (last.t / width).floor() == (bar.t / width).floor();
            let contiguous = bar.low >= last.low && bar.low <= last.high;
            if same_column && contiguous && !last.retransmission && !bar.retransmission {
                last.high = last.high.max(bar.high);
                continue;
            }
        }
        bars.push(bar);
    }
    bars
}

/// The chart as an SVG document.
pub fn svg(chart: &TcpChart) -> Result<String, ChartError> {
    if chart.is_empty() {
        return Err(ChartError::Empty);
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let (top, bottom) = root.split_vertically(HEIGHT / 2);
        let range = chart.time_range();
        window_panel(chart, &top, range)?;
        sequence_panel(chart, &bottom, range)?;
        root.present().map_err(draw_error)?;
    }
    Ok(text)
}

/// Write the chart to `path`.
pub fn write_svg(chart: &TcpChart, path: &Path) -> Result<(), ChartError> {
    let text = svg(chart)?;
    std::fs::write(path, text).map_err(|source| ChartError::Write {
        path: path.to_path_buf(),
        source,
    })
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn window_panel(
    chart: &TcpChart,
    area: &Area<'_>,
    (start, end): (f64, f64),
) -> Result<(), ChartError> {
    let highest = chart
        .windows
        .iter()
        .map(|w| w.cwnd.max(w.in_flight).max(w.ssthresh.unwrap_or(0.0)))
        .fold(1.0, f64::max);
    // Headroom above the highest curve for the legend, so it never hides a loss.
    let top = highest * 1.5;
    let caption = if chart.title.is_empty() {
        "congestion window".to_string()
    } else {
        format!("congestion window: {}", chart.title)
    };
    let mut plot = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(start..end, 0f64..top)
        .map_err(draw_error)?;
    let unit = match chart.mss {
        Some(mss) => format!("segments ({mss}-byte MSS)"),
        None => "segments (MSS)".to_string(),
    };
    plot.configure_mesh()
        .x_desc("time (s)")
        .y_desc(unit)
        .y_label_formatter(&|segments| format!("{segments:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(draw_error)?;

    // The congestion-avoidance states behind everything: a band from each change to the next.
    for (index, &(start, state)) in chart.ca_states.iter().enumerate() {
        let stop = chart
            .ca_states
            .get(index + 1)
            .map(|next| next.0)
            .unwrap_or(end);
        if let Some(color) = shade(state) {
            plot.draw_series(std::iter::once(Rectangle::new(
                [(start, 0.0), (stop.max(start), top)],
                color.mix(0.25).filled(),
            )))
            .map_err(draw_error)?;
        }
    }
    for state in [
        CaState::Disorder,
        CaState::Cwr,
        CaState::Recovery,
        CaState::Loss,
    ] {
        let shown = chart.ca_states.iter().any(|&(_, s)| s == state);
        if let (true, Some(color)) = (shown, shade(state)) {
            plot.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(draw_error)?
                .label(format!("state {}", state.name()))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.25).filled())
                });
        }
    }

    let in_flight = steps(chart.windows.iter().map(|w| (w.t, w.in_flight)), end);
    plot.draw_series(LineSeries::new(
        per_column(&in_flight, end - start),
        IN_FLIGHT,
    ))
    .map_err(draw_error)?
    .label("in flight")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], IN_FLIGHT));
    let cwnd = steps(chart.windows.iter().map(|w| (w.t, w.cwnd)), end);
    plot.draw_series(LineSeries::new(
        per_column(&cwnd, end - start),
        CWND.stroke_width(2),
    ))
    .map_err(draw_error)?
    .label("cwnd")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], CWND.stroke_width(2)));
    // ssthresh starts "infinite": draw it from its first real value on.
    let ssthresh = steps(
        chart
            .windows
            .iter()
            .filter_map(|w| w.ssthresh.map(|s| (w.t, s))),
        end,
    );
    if !ssthresh.is_empty() {
        plot.draw_series(DashedLineSeries::new(
            per_column(&ssthresh, end - start),
            6,
            4,
            SSTHRESH.stroke_width(2),
        ))
        .map_err(draw_error)?
        .label("ssthresh")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], SSTHRESH.stroke_width(2)));
    }

    // Loss events, on the cwnd curve just before they cut it.
    let cwnd_at = |t: f64| {
        chart
            .windows
            .iter()
            .take_while(|w| w.t < t)
            .last()
            .or(chart.windows.first())
            .map(|w| w.cwnd)
            .unwrap_or(0.0)
    };
    let fast: Vec<(f64, f64)> = chart
        .losses
        .iter()
        .filter(|l| l.kind == LossKind::FastRetransmit)
        .map(|l| (l.t, cwnd_at(l.t)))
        .collect();
    let timeouts: Vec<(f64, f64)> = chart
        .losses
        .iter()
        .filter(|l| l.kind == LossKind::Timeout)
        .map(|l| (l.t, cwnd_at(l.t)))
        .collect();
    if !fast.is_empty() {
        plot.draw_series(
            fast.iter()
                .map(|&point| Cross::new(point, 6, SSTHRESH.stroke_width(2))),
        )
        .map_err(draw_error)?
        .label("fast retransmit")
        .legend(|(x, y)| Cross::new((x + 9, y), 5, SSTHRESH.stroke_width(2)));
    }
    if !timeouts.is_empty() {
        plot.draw_series(
            timeouts
                .iter()
                .map(|&point| TriangleMarker::new(point, 7, SSTHRESH.filled())),
        )
        .map_err(draw_error)?
        .label("timeout (RTO)")
        .legend(|(x, y)| TriangleMarker::new((x + 9, y), 6, SSTHRESH.filled()));
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

fn sequence_panel(
    chart: &TcpChart,
    area: &Area<'_>,
    (start, end): (f64, f64),
) -> Result<(), ChartError> {
    let highest = chart
        .data
        .iter()
        .map(|d| d.seq + d.len)
        .chain(chart.acks.iter().map(|a| a.ack + a.window.unwrap_or(0)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    // Zoomed in, the axis starts near the lowest number shown, not at 0.
    let lowest = match chart.span {
        Some(_) => chart
            .data
            .iter()
            .map(|d| d.seq)
            .chain(chart.acks.iter().map(|a| a.ack))
            .min()
            .unwrap_or(0) as f64,
        None => 0.0,
    };
    let margin = (highest - lowest) * 0.05;
    let mut plot = ChartBuilder::on(area)
        .caption(
            "sequence numbers (Stevens graph): data sent, ACKs and window received",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(start..end, (lowest - margin).max(0.0)..highest + margin)
        .map_err(draw_error)?;
    plot.configure_mesh()
        .x_desc("time (s)")
        .y_desc("sequence number (bytes from the first)")
        .y_label_formatter(&|bytes| {
            if *bytes >= 1e6 {
                format!("{:.1} MB", bytes / 1e6)
            } else if *bytes >= 1e3 {
                format!("{:.0} kB", bytes / 1e3)
            } else {
                format!("{bytes:.0}")
            }
        })
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(draw_error)?;

    let windows: Vec<(f64, f64)> = chart
        .acks
        .iter()
        .filter_map(|a| a.window.map(|w| (a.t, (a.ack + w) as f64)))
        .collect();
    if !windows.is_empty() {
        plot.draw_series(LineSeries::new(
            per_column(&steps(windows, end), end - start),
            WINDOW.stroke_width(1),
        ))
        .map_err(draw_error)?
        .label("receive window (ACK + window)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], WINDOW));
    }
    let acks = steps(chart.acks.iter().map(|a| (a.t, a.ack as f64)), end);
    if !acks.is_empty() {
        plot.draw_series(LineSeries::new(
            per_column(&acks, end - start),
            ACK.stroke_width(2),
        ))
        .map_err(draw_error)?
        .label("ACK")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ACK.stroke_width(2)));
    }
    let bars = bars(chart, end - start);
    plot.draw_series(
        bars.iter()
            .filter(|b| !b.retransmission)
            .map(|b| PathElement::new(vec![(b.t, b.low as f64), (b.t, b.high as f64)], DATA)),
    )
    .map_err(draw_error)?
    .label("data sent")
    .legend(|(x, y)| PathElement::new(vec![(x + 9, y - 6), (x + 9, y + 6)], DATA));
    // Zoomed in, each segment is a short bar; small caps at its ends (as tcptrace draws them)
    // keep it visible. At full length the bars merge into a line and caps would only add bytes.
    if bars.len() <= CAPPED_BARS {
        plot.draw_series(bars.iter().filter(|b| !b.retransmission).flat_map(|b| {
            [b.low, b.high].map(|edge| {
                EmptyElement::at((b.t, edge as f64)) + PathElement::new(vec![(-2, 0), (2, 0)], DATA)
            })
        }))
        .map_err(draw_error)?;
    }
    if bars.iter().any(|b| b.retransmission) {
        plot.draw_series(bars.iter().filter(|b| b.retransmission).map(|b| {
            EmptyElement::at((b.t, b.low as f64))
                + PathElement::new(vec![(0, 0), (0, -8)], RETRANSMIT.stroke_width(3))
                + Text::new(
                    "R",
                    (4, -8),
                    ("sans-serif", 11).into_font().color(&RETRANSMIT),
                )
        }))
        .map_err(draw_error)?
        .label("retransmission (R)")
        .legend(|(x, y)| {
            PathElement::new(
                vec![(x + 9, y - 6), (x + 9, y + 6)],
                RETRANSMIT.stroke_width(3),
            )
        });
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{AckSample, DataSegment, Loss, WindowSample};
    use super::*;

    /// A made-up Reno transfer: slow start doubling each 40 ms round trip from 10 segments,
    /// a fast retransmit at 64 that halves the window, congestion avoidance (+1 per round
    /// trip) to 40, another halving, then a timeout back to 1. Data and ACKs to match.
    pub(crate) fn synthetic_reno() -> TcpChart {
        let rtt = 0.040;
        let mss = 1448u64;
        let mut chart = TcpChart {
            title: "10.0.1.2:40000 -> 10.0.2.2:5001 (reno, synthetic)".into(),
            mss: Some(mss as u32),
            ..TcpChart::default()
        };
        let mut t = 0.0;
        let mut cwnd = 10.0f64;
        let mut ssthresh: Option<f64> = None;
        let mut seq = 0u64;
        let mut round = 0;
        chart.ca_states.push((0.0, CaState::Open));
        while t < 6.0 {
            round += 1;
            chart.windows.push(WindowSample {
                t,
                cwnd,
                ssthresh,
                in_flight: cwnd,
            });
            // One round trip: cwnd segments out, their ACKs back one RTT later.
            for i in 0..cwnd as u64 {
                let at = t + rtt * i as f64 / cwnd;
                chart.data.push(DataSegment {
                    t: at,
                    seq,
                    len: mss,
                    retransmission: false,
                });
                seq += mss;
                chart.acks.push(AckSample {
                    t: at + rtt,
                    ack: seq,
                    window: Some(256 * 1024),
                });
            }
            t += rtt;
            match (round, ssthresh) {
                (60, _) => {
                    // A timeout: cwnd 1, ssthresh half, everything resent from the ACK.
                    chart.losses.push(Loss {
                        t,
                        kind: LossKind::Timeout,
                    });
                    chart.ca_states.push((t, CaState::Loss));
                    ssthresh = Some((cwnd / 2.0).max(2.0));
                    cwnd = 1.0;
                    chart.data.push(DataSegment {
                        t,
                        seq: seq - mss,
                        len: mss,
                        retransmission: true,
                    });
                    chart.ca_states.push((t + rtt, CaState::Open));
                }
                (_, None) if cwnd >= 64.0 => {
                    chart.losses.push(Loss {
                        t,
                        kind: LossKind::FastRetransmit,
                    });
                    chart.ca_states.push((t, CaState::Recovery));
                    chart.ca_states.push((t + rtt, CaState::Open));
                    chart.data.push(DataSegment {
                        t,
                        seq: seq - 4 * mss,
                        len: mss,
                        retransmission: true,
                    });
                    ssthresh = Some(cwnd / 2.0);
                    cwnd /= 2.0;
                }
                (_, None) => cwnd *= 2.0,
                (_, Some(_)) if cwnd > 44.0 => {
                    chart.losses.push(Loss {
                        t,
                        kind: LossKind::FastRetransmit,
                    });
                    chart.ca_states.push((t, CaState::Recovery));
                    chart.ca_states.push((t + rtt, CaState::Open));
                    ssthresh = Some(cwnd / 2.0);
                    cwnd /= 2.0;
                }
                (_, Some(limit)) if cwnd < limit => cwnd = (cwnd * 2.0).min(limit),
                (_, Some(_)) => cwnd += 1.0,
            }
        }
        chart
    }

    #[test]
    fn steps_hold_each_value_until_the_next() {
        assert_eq!(
            steps([(0.0, 1.0), (1.0, 2.0)], 3.0),
            vec![(0.0, 1.0), (1.0, 1.0), (1.0, 2.0), (3.0, 2.0)]
        );
        assert!(steps(std::iter::empty(), 1.0).is_empty());
    }

    #[test]
    fn thinning_keeps_steps_and_peaks() {
        // A step inside one column survives as a step.
        let path = steps([(0.0, 1.0), (5.0, 2.0)], 10.0);
        assert_eq!(per_column(&path, 10.0), path);
        // 1000 points in one column: first, lowest, highest, last.
        let dense: Vec<(f64, f64)> = (0..1000)
            .map(|i| (i as f64 * 1e-6, if i == 500 { 9.0 } else { (i % 7) as f64 }))
            .collect();
        let thin = per_column(&dense, 10.0);
        assert!(thin.len() <= 4, "{thin:?}");
        assert!(thin.contains(&(500e-6, 9.0)));
        assert_eq!(thin.first(), dense.first());
        assert_eq!(thin.last(), dense.last());
    }

    #[test]
    fn bars_merge_in_order_segments_of_one_column_but_never_retransmissions() {
        let mut chart = TcpChart::default();
        for i in 0..10u64 {
            chart.data.push(DataSegment {
                t: 0.0001 * i as f64,
                seq: i * 100,
                len: 100,
                retransmission: i == 5,
            });
        }
        let merged = bars(&chart, 10.0);
        // 0-4 merge, 5 is a retransmission, 6-9 merge: three bars.
        assert_eq!(merged.len(), 3, "{merged:?}");
        assert_eq!((merged[0].low, merged[0].high), (0, 500));
        assert!(merged[1].retransmission);
        assert_eq!((merged[2].low, merged[2].high), (600, 1000));
    }

    #[test]
    fn synthetic_reno_draws_both_panels_with_labelled_axes_and_every_mark() {
        let chart = synthetic_reno();
        assert!(chart.data.len() > 2000, "a real-sized transfer");
        let text = svg(&chart).expect("svg");
        assert!(text.starts_with("<svg"), "{}", &text[..100]);
        for label in [
            "time (s)",
            "segments (1448-byte MSS)",
            "sequence number (bytes from the first)",
            "cwnd",
            "ssthresh",
            "in flight",
            "fast retransmit",
            "timeout (RTO)",
            "state Recovery",
            "state Loss",
            "data sent",
            "ACK",
            "receive window (ACK + window)",
            "retransmission (R)",
            "reno, synthetic",
        ] {
            assert!(text.contains(label), "{label:?} missing");
        }
        // Merged into pixel columns: far fewer elements than segments, and a bounded file.
        assert!(text.len() < 1_500_000, "{} bytes", text.len());
    }

    #[test]
    fn zooming_in_keeps_what_was_in_force_at_the_start() {
        let chart = synthetic_reno();
        let first_loss = chart.losses[0].t;
        let zoom = chart.between(first_loss - 0.05, first_loss + 0.1);
        assert_eq!(zoom.span, Some((first_loss - 0.05, first_loss + 0.1)));
        // The window and state before the zoom start carry over, re-timed to its start.
        assert_eq!(zoom.windows[0].t, first_loss - 0.05);
        assert_eq!(zoom.ca_states[0], (first_loss - 0.05, CaState::Open));
        assert_eq!(zoom.losses.len(), 1);
        assert!(zoom.data.len() < 200 && !zoom.data.is_empty());
        let text = svg(&zoom).expect("svg");
        assert!(text.contains("retransmission (R)"));
    }

    #[test]
    fn an_empty_recording_is_an_error_not_a_blank_picture() {
        assert!(matches!(svg(&TcpChart::default()), Err(ChartError::Empty)));
    }
}
