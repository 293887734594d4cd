//! The fast scanner path of `event::parse` against the serde_json reference
//! `event::parse_reference`: the same event (and the same strings borrowed) or the same bad
//! event, on any bytes.

#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use workhours::event::{Event, parse, parse_reference};

fn borrowed(event: &Event<'_>) -> [Option<bool>; 7] {
    let is = |cow: &Cow<'_, str>| matches!(cow, Cow::Borrowed(_));
    [
        Some(is(&event.worker_id)),
        event.event_id.as_ref().map(is),
        Some(is(&event.platform)),
        Some(is(&event.role)),
        Some(is(&event.city)),
        event.order_id.as_ref().map(is),
        event.person_id.as_ref().map(is),
    ]
}

fuzz_target!(|line: &[u8]| {
    let fast = parse(line);
    let reference = parse_reference(line);
    assert_eq!(fast, reference);
    if let (Ok(fast), Ok(reference)) = (&fast, &reference) {
        assert_eq!(borrowed(fast), borrowed(reference));
    }
});
