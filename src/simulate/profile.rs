//! Who the simulated workers are: platform, role, city and a behaviour that decides which
//! rules of SPEC section 4 (and, with `--mix packs`, of the rule packs of section 7) their
//! week will trip; with `--persons`, the person behind each worker id (section 8).

use super::rng::{Rng, mix};

/// Which behaviours the workers are drawn from (`--mix`; the docs double as its help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mix {
    /// The behaviours of SPEC section 4, drawn as always: a seed gives the very bytes it gave
    /// before --mix existed (with no --activity or --persons either)
    #[default]
    Standard,
    /// The standard draw, then 10% of riders order-heavy, 10% of drivers night drivers and 8%
    /// long-trip (Didi-style) drivers, and every trucker long-haul (55% compliant, 45% over
    /// the EU 561 or FMCSA limits); implies --activity
    Packs,
}

/// How a worker organises their days. The standard mix ([`Behaviour::ALL`]) is chosen so that
/// over a week every worker rule of SPEC section 4 fires for some workers while most stay
/// compliant; the variants after `PartTime` appear only with `--mix packs` (and
/// `TwoPlatforms` with `--persons`), for the rules of the packs of section 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behaviour {
    /// Two blocks of 2.5-3.6 h with a break of 21-50 min, sometimes a third block (5-9.5 h a
    /// day), one or two days off a week. May reach the daily warning and weekly maximum.
    Steady,
    /// One block of 5-7 h with only short breaks (5-19 min): `continuous_work` violations.
    NoRest,
    /// Three or four blocks, 9.5-13.5 h a day, six days a week: `daily_hours` violations,
    /// `weekly_hours`, and `monthly_overtime` after about two weeks.
    LongDays,
    /// Like `Steady` but never takes a day off: `weekly_rest`.
    SevenDays,
    /// Like `Steady` with fewer, cheaper orders: `minimum_wage`.
    LowPay,
    /// Starts between 19:30 and 22:30 and works across local midnight.
    Night,
    /// One block of 2-3.5 h, three or four days a week.
    PartTime,
    /// Packs, riders: two or three blocks of 1.5-5.5 h of back-to-back orders (a new order
    /// every 2-8 minutes, up to three at once), the first over 4 h, 7.5-14 h a day:
    /// `cn-mohrss-2024`'s continuous order time (4 h without a 20-minute gap) and its daily
    /// working time (order time plus the 1 h allowance beyond 8 h and 11 h).
    OrderHeavy,
    /// Packs, drivers: evening starts (17:30-19:30) and three blocks of 2.9-3.6 h of driving
    /// into the night, three nights a week: `cn-road-traffic`'s night continuous driving (2 h
    /// within 22:00-06:00) and its 8 h of driving in a rolling 24 h, while the driving of each
    /// calendar day stays lower.
    NightDriver,
    /// Packs, drivers (Didi-style long trips): 20-60 minute rides back to back in blocks of
    /// 3.2-3.9 h, 10-15 h online: `didi-2018`'s continuous service (3 h) and its billed time
    /// (`carrying`, 10 h without a 6 h rest).
    DidiLong,
    /// Packs, truckers: compliant long-haul days. Starts at 05:30-06:30, 7-8.5 h of driving in
    /// stretches of at most 3.9 h with a 45-55 minute rest after each, loading and unloading
    /// (`other_work`), duty spans of at most 12.5 h, five days a week: no rule of
    /// `cn-road-traffic`, `eu-561` or `us-fmcsa-property` fires.
    Haul,
    /// Packs, truckers: as `Haul`, but some days have one stretch of 4.6-5.6 h (EU 561's 4.5 h
    /// break rule, the Chinese 4 h), and some drive over 8 h with only a 15-25 minute stop
    /// (FMCSA's 30-minute break).
    HaulNoBreak,
    /// Packs, truckers: 9.5-11.8 h of driving and duty spans up to 15.5 h, some days starting
    /// late so that the next daily rest is 7-8.5 h: EU 561's daily driving (9 h, 10 h twice a
    /// week) and daily rest (9 h within 15 h), FMCSA's 11 h of driving and 14 h window.
    HaulLong,
    /// Packs, truckers: 8.5-9 h of driving and 10-12 h of duty a day, six or seven days a week:
    /// EU 561's weekly (56 h) and fortnightly (90 h) driving and weekly rest (24 h within
    /// 144 h), FMCSA's 60 h in 7 days and 70 h in 8 days; the day off is a 34 h restart.
    HaulWeek,
    /// `--persons`: one of the two worker ids of a person who works for two platforms on the
    /// same days, one session after the other (each platform within 8 h, the person often over
    /// 11 h, and over 4 h of continuous work when the switch takes under 20 minutes) or with
    /// overlapping sessions.
    TwoPlatforms,
}

impl Behaviour {
    /// The standard mix, from which every worker is drawn first (the packs' behaviours and
    /// `TwoPlatforms` are redrawn afterwards, with their options).
    pub const ALL: [Behaviour; 7] = [
        Behaviour::Steady,
        Behaviour::NoRest,
        Behaviour::LongDays,
        Behaviour::SevenDays,
        Behaviour::LowPay,
        Behaviour::Night,
        Behaviour::PartTime,
    ];
    /// Percent of workers with each behaviour, in the order of [`Behaviour::ALL`].
    pub const WEIGHTS: [u32; 7] = [55, 12, 10, 8, 7, 5, 3];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Steady => "steady",
            Behaviour::NoRest => "no_rest",
            Behaviour::LongDays => "long_days",
            Behaviour::SevenDays => "seven_days",
            Behaviour::LowPay => "low_pay",
            Behaviour::Night => "night",
            Behaviour::PartTime => "part_time",
            Behaviour::OrderHeavy => "order_heavy",
            Behaviour::NightDriver => "night_driver",
            Behaviour::DidiLong => "didi_long",
            Behaviour::Haul => "haul",
            Behaviour::HaulNoBreak => "haul_no_break",
            Behaviour::HaulLong => "haul_long",
            Behaviour::HaulWeek => "haul_week",
            Behaviour::TwoPlatforms => "two_platforms",
        }
    }

    /// The long-haul trucker behaviours, whose days are planned segment by segment with their
    /// activity (see `schedule::plan_haul_day`).
    pub fn is_haul(self) -> bool {
        matches!(
            self,
            Behaviour::Haul | Behaviour::HaulNoBreak | Behaviour::HaulLong | Behaviour::HaulWeek
        )
    }
}

/// The kind of work, which shapes orders (concurrency, trip length, fees).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Rider,
    Driver,
    Trucker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Rider => "rider",
            Role::Driver => "driver",
            Role::Trucker => "trucker",
        }
    }
}

/// (platform, worker-id prefix, role, percent of workers).
const PLATFORMS: [(&str, &str, Role, u32); 5] = [
    ("meituan", "mt", Role::Rider, 30),
    ("eleme", "ele", Role::Rider, 25),
    ("didi", "dd", Role::Driver, 20),
    ("caocao", "cc", Role::Driver, 10),
    ("huolala", "hll", Role::Trucker, 15),
];

/// The other platform of a person who works for two (`--persons`), by platform: the same kind
/// of work. `kuaigou` (快狗打车) appears only as the second platform of truckers.
const PARTNERS: [(&str, &str, &str); 5] = [
    ("meituan", "eleme", "ele"),
    ("eleme", "meituan", "mt"),
    ("didi", "caocao", "cc"),
    ("caocao", "didi", "dd"),
    ("huolala", "kuaigou", "kg"),
];

/// (administrative code, percent of workers): Weihai, Jinan, Shanghai, Shenzhen, Beijing.
const CITIES: [(&str, u32); 5] = [
    ("371000", 25),
    ("370100", 25),
    ("310000", 20),
    ("440300", 20),
    ("110000", 10),
];

/// One simulated worker, fixed for the whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerProfile {
    /// 0-based position in the simulation.
    pub index: u32,
    /// e.g. `mt-000123`: the platform's prefix and the index.
    pub id: String,
    pub platform: &'static str,
    pub role: Role,
    pub city: &'static str,
    pub behaviour: Behaviour,
    /// Weekdays off, bit 0 = Monday.
    pub days_off: u8,
    /// The person's pseudonym (`--persons`): 64 lowercase hex digits, as an HMAC-SHA256 would
    /// be.
    pub person_id: Option<Box<str>>,
}

/// Where a worker id stands among persons (`--persons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Person {
    /// No `person_id` on the events (no `--persons`).
    Absent,
    /// A person with this one worker id.
    Single,
    /// The first worker id of a person with two; the next index is the second.
    First,
    /// The second worker id of the person of the previous index.
    Second,
}

/// Domain words of the simulator's hashes and generators (any distinct constants).
const PACKS_STREAM: u64 = 4;
const PERSON_PAIR: u64 = 0x7061_6972; // "pair"
const PERSON_ID: u64 = 0x7065_7273; // "pers"

/// Who is who with `--persons fraction`: walks the worker indices; at each person's first
/// index a hash of the seed and the index decides, with probability `fraction`, that the
/// person also has the next index (on another platform). So about `fraction` of persons
/// have two worker ids, and the answer for an index never depends on the number of workers
/// beyond it.
pub(crate) fn persons(seed: u64, workers: u32, fraction: Option<f64>) -> Vec<Person> {
    let Some(fraction) = fraction else {
        return vec![Person::Absent; workers as usize];
    };
    let mut out = Vec::with_capacity(workers as usize);
    let mut index = 0;
    while index < workers {
        let roll = (mix(&[seed, index.into(), PERSON_PAIR]) >> 11) as f64 / (1u64 << 53) as f64;
        if index + 1 < workers && roll < fraction {
            out.push(Person::First);
            out.push(Person::Second);
            index += 2;
        } else {
            out.push(Person::Single);
            index += 1;
        }
    }
    out
}

/// The pseudonym of the person whose first worker index is `index`.
pub(crate) fn person_id(seed: u64, index: u32) -> Box<str> {
    // Keyed by a hash of the seed first, so that no two seeds share a pseudonym.
    let key = mix(&[seed, PERSON_ID]);
    let mut text = String::with_capacity(64);
    for word in 0..4 {
        let value = mix(&[key, index.into(), word]);
        text.push_str(&format!("{value:016x}"));
    }
    text.into_boxed_str()
}

impl WorkerProfile {
    /// Draws the profile of worker `index` from its own generator.
    pub(crate) fn draw(index: u32, rng: &mut Rng) -> WorkerProfile {
        let platform_weights = PLATFORMS.map(|p| p.3);
        let (platform, prefix, role, _) = PLATFORMS[rng.pick(&platform_weights)];
        let city = CITIES[rng.pick(&CITIES.map(|c| c.1))].0;
        let behaviour = Behaviour::ALL[rng.pick(&Behaviour::WEIGHTS)];
        let off_count = match behaviour {
            Behaviour::SevenDays => 0,
            Behaviour::LongDays => 1,
            Behaviour::Night => 2,
            Behaviour::PartTime => rng.range(3, 4),
            // The standard mix draws only the behaviours above.
            _ => rng.range(1, 2),
        };
        let days_off = draw_days_off(rng, off_count as u32);
        WorkerProfile {
            index,
            id: format!("{prefix}-{index:06}"),
            platform,
            role,
            city,
            behaviour,
            days_off,
            person_id: None,
        }
    }

    /// The profile of worker `index` with the given mix and place among persons. The
    /// standard draw comes first and is the same whatever the options, so that without
    /// `--mix packs` and `--persons` every worker is who they always were.
    pub(crate) fn build(seed: u64, index: u32, mix_of: Mix, person: Person) -> WorkerProfile {
        let draw = |index: u32| {
            let mut profile =
                WorkerProfile::draw(index, &mut Rng::from_words(&[seed, index.into(), 0]));
            if mix_of == Mix::Packs {
                profile.redraw_for_packs(&mut Rng::from_words(&[seed, index.into(), PACKS_STREAM]));
            }
            profile
        };
        match person {
            Person::Absent => draw(index),
            Person::Single => WorkerProfile {
                person_id: Some(person_id(seed, index)),
                ..draw(index)
            },
            Person::First => WorkerProfile {
                behaviour: Behaviour::TwoPlatforms,
                days_off: pair_days_off(seed, index),
                person_id: Some(person_id(seed, index)),
                ..draw(index)
            },
            Person::Second => {
                let first = draw(index - 1);
                let (_, platform, prefix) = PARTNERS
                    .into_iter()
                    .find(|p| p.0 == first.platform)
                    .expect("every platform has a partner");
                WorkerProfile {
                    index,
                    id: format!("{prefix}-{index:06}"),
                    platform,
                    behaviour: Behaviour::TwoPlatforms,
                    days_off: pair_days_off(seed, index - 1),
                    person_id: Some(person_id(seed, index - 1)),
                    ..first
                }
            }
        }
    }

    /// `--mix packs`: some riders and drivers, and every trucker, take a behaviour of the
    /// packs (shares in the module docs of `simulate`).
    fn redraw_for_packs(&mut self, rng: &mut Rng) {
        let roll = rng.range(0, 99);
        let (behaviour, off) = match (self.role, roll) {
            (Role::Rider, 0..10) => (Behaviour::OrderHeavy, 1),
            (Role::Driver, 0..10) => (Behaviour::NightDriver, 4),
            (Role::Driver, 10..18) => (Behaviour::DidiLong, 1),
            (Role::Trucker, 0..55) => (Behaviour::Haul, 2),
            (Role::Trucker, 55..70) => (Behaviour::HaulNoBreak, 2),
            (Role::Trucker, 70..85) => (Behaviour::HaulLong, 1),
            (Role::Trucker, _) => (Behaviour::HaulWeek, u32::from(rng.chance(0.35))),
            _ => return,
        };
        self.behaviour = behaviour;
        self.days_off = draw_days_off(rng, off);
    }
}

fn draw_days_off(rng: &mut Rng, count: u32) -> u8 {
    let mut days_off = 0u8;
    while days_off.count_ones() < count {
        days_off |= 1 << rng.range(0, 6);
    }
    days_off
}

/// The weekdays off of a person with two worker ids (one or two), shared by both.
fn pair_days_off(seed: u64, first: u32) -> u8 {
    let mut rng = Rng::from_words(&[seed, first.into(), PERSON_PAIR]);
    let count = rng.range(1, 2) as u32;
    draw_days_off(&mut rng, count)
}
