//! A realistic synthetic month for the report renderer, before `workhours report` replays
//! real events: writes `report.html` and `report.csv` into a directory
//! (`tests/browser/check_report.py` opens them).
//!
//! ```text
//! cargo run --example report_sample -- OUTDIR [--workers N] [--subject worker|person] [--seed S]
//! ```
//!
//! May 2026 in Asia/Shanghai (1 and 2 May are statutory holidays): riders of two food-delivery
//! platforms, ride-hailing drivers of two platforms and freight truckers (whose role has a
//! 10 h daily maximum), in four cities, one with a comma and one with quotes in its name.
//! Most workers carry a person id; some persons work for two platforms, often on the same
//! day. Alerts follow the hours: continuous work, daily and weekly hours, monthly overtime,
//! weekly rest, minimum wage, holiday pay and the `quota_p90` aggregate. Prints how long the
//! summary and the rendering took.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use workhours::report::{
    AlertRow, MonthData, Subject, WorkerDay, render_csv, render_html, summarize,
};

const H: i64 = 3_600_000;
const ZONE_OFFSET_MS: i64 = 8 * H;

/// SplitMix64: small, seeded, good enough for a sample.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Roughly normal (sum of four uniforms).
    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let sum: f64 = (0..4).map(|_| self.unit()).sum();
        mean + (sum - 2.0) * sd * 1.73
    }

    fn pick<'a, T>(&mut self, weighted: &'a [(T, f64)]) -> &'a T {
        let total: f64 = weighted.iter().map(|w| w.1).sum();
        let mut x = self.unit() * total;
        for (item, weight) in weighted {
            if x < *weight {
                return item;
            }
            x -= weight;
        }
        &weighted[weighted.len() - 1].0
    }
}

#[derive(Clone, Copy)]
struct Platform {
    name: &'static str,
    role: &'static str,
    prefix: &'static str,
    /// Mean daily hours of an ordinary worker.
    mean_hours: f64,
    minimum_wage_risk: f64,
    holiday_pay_risk: f64,
    daily_max_ms: i64,
}

const PLATFORMS: [(Platform, f64); 5] = [
    (
        Platform {
            name: "meituan",
            role: "rider",
            prefix: "mt",
            mean_hours: 8.6,
            minimum_wage_risk: 0.012,
            holiday_pay_risk: 0.08,
            daily_max_ms: 11 * H,
        },
        0.34,
    ),
    (
        Platform {
            name: "eleme",
            role: "rider",
            prefix: "ele",
            mean_hours: 8.2,
            minimum_wage_risk: 0.02,
            holiday_pay_risk: 0.3,
            daily_max_ms: 11 * H,
        },
        0.24,
    ),
    (
        Platform {
            name: "didi",
            role: "driver",
            prefix: "dd",
            mean_hours: 9.0,
            minimum_wage_risk: 0.004,
            holiday_pay_risk: 0.05,
            daily_max_ms: 11 * H,
        },
        0.2,
    ),
    (
        Platform {
            name: "caocao",
            role: "driver",
            prefix: "cc",
            mean_hours: 8.8,
            minimum_wage_risk: 0.006,
            holiday_pay_risk: 0.12,
            daily_max_ms: 11 * H,
        },
        0.1,
    ),
    (
        Platform {
            name: "huolala",
            role: "trucker",
            prefix: "hll",
            mean_hours: 9.6,
            minimum_wage_risk: 0.03,
            holiday_pay_risk: 0.15,
            daily_max_ms: 10 * H,
        },
        0.12,
    ),
];

const CITIES: [(&str, f64); 4] = [
    ("371000", 0.4),
    ("370200", 0.3),
    ("威海市, 环翠区", 0.2),
    ("Rongcheng \"Shidao\"", 0.1),
];

/// One account of a person on one platform.
struct Account {
    platform: Platform,
    city: &'static str,
    worker_id: String,
    person_id: Option<String>,
}

/// A person (or a worker without a person id): one or two accounts and their habits.
struct Person {
    accounts: Vec<Account>,
    work_chance: f64,
    mean_hours: f64,
    /// Whether the second account works on the same days as the first.
    same_day: bool,
    /// Chance of a continuous-work violation on a long day: most workers take their breaks.
    skips_breaks: f64,
}

struct Options {
    out: PathBuf,
    workers: usize,
    subject: Subject,
    seed: u64,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut opts = Options {
        out: PathBuf::new(),
        workers: 3000,
        subject: Subject::Worker,
        seed: 1,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--workers" => {
                opts.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?
            }
            "--seed" => {
                opts.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--subject" => {
                opts.subject = match value("--subject")?.as_str() {
                    "worker" => Subject::Worker,
                    "person" => Subject::Person,
                    other => return Err(format!("--subject: worker or person, not {other}")),
                }
            }
            _ if out.is_none() && !arg.starts_with("--") => out = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    opts.out = out
        .ok_or("usage: report_sample OUTDIR [--workers N] [--subject worker|person] [--seed S]")?;
    Ok(opts)
}

fn people(rng: &mut Rng, workers: usize) -> Vec<Person> {
    let mut people = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut made = 0;
    let mut account = |platform: Platform, city: &'static str, person: Option<&String>| {
        let n = counts.entry(platform.prefix).or_default();
        *n += 1;
        Account {
            platform,
            city,
            worker_id: format!("{}-{:06}", platform.prefix, *n),
            person_id: person.cloned(),
        }
    };
    while made < workers {
        let platform = *rng.pick(&PLATFORMS);
        let city = *rng.pick(&CITIES);
        let person_id = rng.chance(0.75).then(|| format!("p{:016x}", rng.next()));
        let heavy = rng.chance(0.12);
        let mut accounts = vec![account(platform, city, person_id.as_ref())];
        // Some persons also work for a second platform of the same trade.
        if person_id.is_some() && rng.chance(0.09) {
            let other = match platform.name {
                "meituan" => PLATFORMS[1].0,
                "eleme" => PLATFORMS[0].0,
                "didi" => PLATFORMS[3].0,
                "caocao" => PLATFORMS[2].0,
                _ => PLATFORMS[0].0,
            };
            accounts.push(account(other, city, person_id.as_ref()));
        }
        made += accounts.len();
        people.push(Person {
            accounts,
            work_chance: 0.6 + 0.33 * rng.unit() + if heavy { 0.06 } else { 0.0 },
            mean_hours: platform.mean_hours + if heavy { 2.2 } else { rng.normal(0.0, 0.6) },
            same_day: rng.chance(0.7),
            skips_breaks: if rng.chance(0.25) {
                0.12 + 0.2 * rng.unit()
            } else {
                0.004
            },
        });
    }
    people
}

/// Epoch ms of a local instant `hours` after the local midnight starting `day`.
fn at(day: NaiveDate, hours: f64) -> i64 {
    let midnight = day
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
        - ZONE_OFFSET_MS;
    midnight + (hours * H as f64) as i64
}

fn main() {
    let opts = match options() {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("report_sample: {message}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng(opts.seed);
    let first = NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| d.month() == 5).collect();
    let holidays = [first, first.succ_opt().unwrap()];
    let person_mode = opts.subject == Subject::Person;

    let mut worker_days = Vec::new();
    let mut alerts = Vec::new();
    let mut quota: BTreeMap<(NaiveDate, &str, &str, &str), Vec<i64>> = BTreeMap::new();
    for person in people(&mut rng, opts.workers) {
        let mut streak = 0;
        let mut week_ms: BTreeMap<u32, i64> = BTreeMap::new();
        let mut overtime_ms = 0;
        let mut overtime_fired = false;
        for &day in &days {
            if !rng.chance(person.work_chance) {
                streak = 0;
                continue;
            }
            streak += 1;
            let hours = rng.normal(person.mean_hours, 1.6).clamp(0.3, 15.5);
            let total_ms = (hours * H as f64) as i64;
            // Which accounts work today, and how the day is split between them.
            let both = person.accounts.len() == 2 && (person.same_day || rng.chance(0.2));
            let shares: Vec<(usize, i64)> = if both {
                let first_ms = (total_ms as f64 * (0.35 + 0.3 * rng.unit())) as i64;
                vec![(0, first_ms), (1, total_ms - first_ms)]
            } else {
                vec![(
                    if person.accounts.len() == 2 && rng.chance(0.5) {
                        1
                    } else {
                        0
                    },
                    total_ms,
                )]
            };
            let holiday = holidays.contains(&day);
            for &(k, work_ms) in &shares {
                let a = &person.accounts[k];
                worker_days.push(WorkerDay {
                    platform: a.platform.name.to_string(),
                    role: a.platform.role.to_string(),
                    city: a.city.to_string(),
                    worker_id: a.worker_id.clone(),
                    person_id: a.person_id.clone(),
                    day,
                    work_ms,
                    person_work_ms: person_mode.then_some(total_ms),
                    daily_standard_ms: 8 * H,
                    daily_max_ms: a.platform.daily_max_ms,
                    holiday,
                });
                quota
                    .entry((day, a.platform.name, a.platform.role, a.city))
                    .or_default()
                    .push(work_ms);
            }

            // The rules see the worker's day (or the person's, under subject = person); the
            // alert names the account worked last that day.
            let subject_days: Vec<(usize, i64)> = if person_mode {
                vec![(shares[shares.len() - 1].0, total_ms)]
            } else {
                shares.clone()
            };
            for (k, ms) in subject_days {
                let a = &person.accounts[k];
                let h = ms as f64 / H as f64;
                let mut emit = |rule: &str, kind: &str, phase: &str, hours_in: f64| {
                    let (worker_id, person_id) = if person_mode {
                        (
                            a.person_id.is_none().then(|| a.worker_id.clone()),
                            a.person_id.clone(),
                        )
                    } else {
                        (Some(a.worker_id.clone()), a.person_id.clone())
                    };
                    alerts.push(AlertRow {
                        rule: rule.to_string(),
                        kind: kind.to_string(),
                        phase: phase.to_string(),
                        platform: a.platform.name.to_string(),
                        role: a.platform.role.to_string(),
                        city: a.city.to_string(),
                        worker_id,
                        person_id,
                        at: at(day, 7.0 + hours_in),
                    });
                };
                if h > 3.75 && rng.chance(person.skips_breaks * (h / 8.0)) {
                    emit("continuous_work", "continuous", "warning", 3.75);
                    if h > 4.0 {
                        emit("continuous_work", "continuous", "violation", 4.0);
                        emit("continuous_work", "continuous", "resolved", 4.5);
                    }
                }
                if h > 8.0 {
                    emit("daily_hours", "period", "warning", 8.0);
                }
                if ms > a.platform.daily_max_ms {
                    emit(
                        "daily_hours",
                        "period",
                        "violation",
                        a.platform.daily_max_ms as f64 / H as f64,
                    );
                }
                let week = day.iso_week().week();
                let before = week_ms.get(&week).copied().unwrap_or(0);
                let after = before + ms;
                week_ms.insert(week, after);
                if before <= 44 * H && after > 44 * H {
                    emit(
                        "weekly_hours",
                        "period",
                        "violation",
                        (44 * H - before) as f64 / H as f64,
                    );
                }
                overtime_ms += (ms - 8 * H).max(0);
                if !overtime_fired && overtime_ms > 36 * H {
                    overtime_fired = true;
                    emit("monthly_overtime", "overtime", "violation", h);
                }
                if streak % 7 == 0 {
                    emit("weekly_rest", "streak", "violation", 0.0);
                }
                if h >= 1.0 && rng.chance(a.platform.minimum_wage_risk) {
                    emit("minimum_wage", "minimum_wage", "violation", 17.0);
                }
                if holiday && h >= 1.0 && rng.chance(a.platform.holiday_pay_risk) {
                    emit("holiday_pay", "holiday_pay", "violation", 17.0);
                }
            }
        }
    }
    // The quota aggregate: groups of at least 10 workers whose 90th percentile passes 8 h.
    for ((day, platform, role, city), mut values) in quota {
        if values.len() < 10 {
            continue;
        }
        values.sort_unstable();
        if values[(values.len() * 9).div_ceil(10) - 1] > 8 * H {
            alerts.push(AlertRow {
                rule: "quota_p90".to_string(),
                kind: "quota_p90".to_string(),
                phase: "violation".to_string(),
                platform: platform.to_string(),
                role: role.to_string(),
                city: city.to_string(),
                worker_id: None,
                person_id: None,
                at: at(day, 24.0),
            });
        }
    }
    alerts.sort_by_key(|a| a.at);

    let data = MonthData {
        month: "2026-05".to_string(),
        zone: "Asia/Shanghai".to_string(),
        subject: opts.subject,
        worker_days,
        alerts,
        packs: PLATFORMS
            .iter()
            .map(|(p, _)| (p.name.to_string(), "cn-weihai-2022".to_string()))
            .collect(),
        source: format!(
            "synthetic sample (examples/report_sample.rs, {} workers, seed {})",
            opts.workers, opts.seed
        ),
        holidays_unknown: false,
        // The default pack's continuous-work limit and break, and holiday pay ratio.
        continuous: vec![(4 * 3_600_000, 20 * 60_000)],
        holiday_ratios: vec![1_000_000],
        input: workhours::report::InputCounts::default(),
    };
    eprintln!(
        "report_sample: {} worker-days, {} alerts",
        data.worker_days.len(),
        data.alerts.len()
    );
    let started = Instant::now();
    let summary = summarize(&data);
    let summarized = started.elapsed();
    let html = render_html(&data);
    let csv = render_csv(&data);
    eprintln!(
        "report_sample: summarize {:.3} s; html + csv (each summarizing again) {:.3} s; {} groups; html {} bytes, csv {} bytes",
        summarized.as_secs_f64(),
        (started.elapsed() - summarized).as_secs_f64(),
        summary.groups.len(),
        html.len(),
        csv.len()
    );
    let write = |name: &str, text: &str| {
        let path = opts.out.join(name);
        if let Err(error) =
            std::fs::create_dir_all(&opts.out).and_then(|()| std::fs::write(&path, text))
        {
            eprintln!("report_sample: cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
        println!("{}", path.display());
    };
    write("report.html", &html);
    write("report.csv", &csv);
}
