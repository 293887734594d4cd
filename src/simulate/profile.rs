//! Who the simulated workers are: platform, role, city and a behaviour that decides which
//! rules of SPEC section 4 their week will trip.

use super::rng::Rng;

/// How a worker organises their days. The mix is chosen so that over a week every worker rule
/// of SPEC section 4 fires for some workers while most stay compliant.
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
}

impl Behaviour {
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
        }
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
            Behaviour::Steady | Behaviour::NoRest | Behaviour::LowPay => rng.range(1, 2),
        };
        let mut days_off = 0u8;
        while days_off.count_ones() < off_count as u32 {
            days_off |= 1 << rng.range(0, 6);
        }
        WorkerProfile {
            index,
            id: format!("{prefix}-{index:06}"),
            platform,
            role,
            city,
            behaviour,
            days_off,
        }
    }
}
