//! The impairment flags (link impairment), shared by `wirelab link set` and wirelab-impaird so
//! both read `--delay 10ms --loss 1%` the same way, with the same checks as a topology file.
//!
//! Values stay text until [`ImpairArgs::impairment`] checks them, so that a bad one is one
//! line naming the flag (`--loss: '101%' is outside 0% to 100%`), exit code 2, as the other
//! usage errors of `wirelab`.

use super::{parse_delay, parse_nth, parse_queue, Chosen, Filter, Impairment, Percent, Rate};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImpairArgs {
    /// One-way delay: 10ms, 1.5s, 250us
    #[arg(long, value_name = "D")]
    pub delay: Option<String>,
    /// Standard deviation of a normal spread around the delay (never reorders)
    #[arg(long, value_name = "D")]
    pub jitter: Option<String>,
    /// Random loss: 1%, 0.5%; 100% cuts the link
    #[arg(long, value_name = "P")]
    pub loss: Option<String>,
    /// Random duplication: 0.5%
    #[arg(long, value_name = "P")]
    pub duplicate: Option<String>,
    /// Share of packets that overtake the one before them: 5% (at most 50%)
    #[arg(long, value_name = "P")]
    pub reorder: Option<String>,
    /// Bottleneck rate: 10mbit, 500kbit
    #[arg(long, value_name = "R")]
    pub rate: Option<String>,
    /// The bottleneck's queue in packets (tail drop); with --rate
    #[arg(long, value_name = "N")]
    pub queue: Option<String>,
    /// Drop one chosen packet: the --nth packet matching FILTER ("tcp dport 80 data")
    #[arg(long, value_name = "FILTER")]
    pub drop: Option<String>,
    /// With --drop: which matching packet (default 1, the first)
    #[arg(long, value_name = "N")]
    pub nth: Option<String>,
    /// Hold one chosen packet back: the --hold-nth packet matching FILTER ("tcp syn")
    #[arg(long, value_name = "FILTER")]
    pub hold: Option<String>,
    /// With --hold: how long (e.g. 3s)
    #[arg(long = "hold-for", value_name = "D")]
    pub hold_for: Option<String>,
    /// With --hold: which matching packet (default 1)
    #[arg(long = "hold-nth", value_name = "N")]
    pub hold_nth: Option<String>,
}

impl ImpairArgs {
    /// The impairment these flags ask for; Err is "FLAG: what is wrong".
    pub fn impairment(&self) -> Result<Impairment, String> {
        let flag = |name: &'static str| move |message: String| format!("--{name}: {message}");
        let count = |name: &'static str, text: &Option<String>| -> Result<u32, String> {
            match text {
                None => Ok(1),
                Some(text) => text
                    .parse::<i64>()
                    .map_err(|_| format!("'{text}' is not a number"))
                    .and_then(parse_nth)
                    .map_err(flag(name)),
            }
        };
        if self.nth.is_some() && self.drop.is_none() {
            return Err("--nth: goes with --drop FILTER".into());
        }
        if (self.hold_for.is_some() || self.hold_nth.is_some()) && self.hold.is_none() {
            return Err("--hold-for/--hold-nth: go with --hold FILTER".into());
        }
        let impairment = Impairment {
            delay: self
                .delay
                .as_deref()
                .map(parse_delay)
                .transpose()
                .map_err(flag("delay"))?,
            jitter: self
                .jitter
                .as_deref()
                .map(parse_delay)
                .transpose()
                .map_err(flag("jitter"))?,
            loss: self
                .loss
                .as_deref()
                .map(Percent::parse)
                .transpose()
                .map_err(flag("loss"))?,
            duplicate: self
                .duplicate
                .as_deref()
                .map(Percent::parse)
                .transpose()
                .map_err(flag("duplicate"))?,
            reorder: self
                .reorder
                .as_deref()
                .map(Percent::parse)
                .transpose()
                .map_err(flag("reorder"))?,
            rate: self
                .rate
                .as_deref()
                .map(Rate::parse)
                .transpose()
                .map_err(flag("rate"))?,
            queue: self
                .queue
                .as_deref()
                .map(|q| {
                    q.parse::<i64>()
                        .map_err(|_| format!("'{q}' is not a number of packets"))
                        .and_then(parse_queue)
                })
                .transpose()
                .map_err(flag("queue"))?,
            drop: match &self.drop {
                None => None,
                Some(filter) => Some(Chosen {
                    filter: Filter::parse(filter).map_err(flag("drop"))?,
                    nth: count("nth", &self.nth)?,
                    hold_for: None,
                }),
            },
            hold: match &self.hold {
                None => None,
                Some(filter) => Some(Chosen {
                    filter: Filter::parse(filter).map_err(flag("hold"))?,
                    nth: count("hold-nth", &self.hold_nth)?,
                    hold_for: Some(
                        parse_delay(
                            self.hold_for
                                .as_deref()
                                .ok_or("--hold: needs --hold-for D (e.g. 3s)")?,
                        )
                        .map_err(flag("hold-for"))?,
                    ),
                }),
            },
        };
        Ok(impairment)
    }

    /// The flags that give `impairment` back: the daemon's command line, as `--dry-run`
    /// prints it.
    pub fn of(impairment: &Impairment) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: String| {
            args.push(format!("--{flag}"));
            args.push(value);
        };
        if let Some(d) = impairment.delay {
            push("delay", super::format_delay(d));
        }
        if let Some(d) = impairment.jitter {
            push("jitter", super::format_delay(d));
        }
        if let Some(p) = impairment.loss {
            push("loss", p.to_string());
        }
        if let Some(p) = impairment.duplicate {
            push("duplicate", p.to_string());
        }
        if let Some(p) = impairment.reorder {
            push("reorder", p.to_string());
        }
        if let Some(r) = impairment.rate {
            push("rate", r.to_string());
        }
        if let Some(q) = impairment.queue {
            push("queue", q.to_string());
        }
        if let Some(drop) = &impairment.drop {
            push("drop", drop.filter.to_string());
            push("nth", drop.nth.to_string());
        }
        if let Some(hold) = &impairment.hold {
            push("hold", hold.filter.to_string());
            push(
                "hold-for",
                super::format_delay(hold.hold_for.unwrap_or_default()),
            );
            push("hold-nth", hold.nth.to_string());
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        impair: ImpairArgs,
    }

    fn parse(args: &[&str]) -> Result<Impairment, String> {
        let cli = Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.impair.impairment()
    }

    #[test]
    fn daemon_command_line_reads_back_as_the_same_impairment() {
        let impairment = parse(&[
            "--delay",
            "10ms",
            "--jitter",
            "2ms",
            "--reorder",
            "5%",
            "--drop",
            "tcp data",
            "--nth",
            "3",
            "--hold",
            "tcp syn",
            "--hold-for",
            "3s",
        ])
        .expect("valid");
        let argv = ImpairArgs::of(&impairment);
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        assert_eq!(parse(&args).expect("round trip"), impairment);
    }

    #[test]
    fn each_bad_flag_is_named_in_one_line() {
        assert_eq!(
            parse(&["--loss", "101%"]).unwrap_err(),
            "--loss: '101%' is outside 0% to 100%"
        );
        assert!(parse(&["--rate", "fast"])
            .unwrap_err()
            .starts_with("--rate: "));
        assert!(parse(&["--nth", "2"])
            .unwrap_err()
            .contains("goes with --drop"));
        assert!(parse(&["--hold", "tcp syn"])
            .unwrap_err()
            .contains("needs --hold-for"));
        assert!(parse(&["--drop", "tcp", "--nth", "0"])
            .unwrap_err()
            .starts_with("--nth: "));
    }
}
