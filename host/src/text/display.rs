//! How values look on a page: Persian digits, Jalali dates with the Gregorian date at hand,
//! amounts in rials with thousands separators. Registered as template filters that read the
//! page's `lang`.

use minijinja::{Environment, State, Value};
use panjereh_formats::jalali::JalaliDate;
use panjereh_formats::{group_thousands, persian_digits};

/// Tehran's offset from UTC, all year since 2023.
const TEHRAN_OFFSET_MINUTES: i64 = 3 * 60 + 30;

fn is_fa(state: &State) -> bool {
    state.lookup("lang").and_then(|v| v.as_str().map(|s| s == "fa")).unwrap_or(true)
}

/// Adds the filters `digits`, `money`, `jalali` and `gregorian`.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("digits", |state: &State, value: Value| digits(is_fa(state), &value.to_string()));
    env.add_filter("money", |state: &State, value: Value| {
        let n = u64::try_from(value).unwrap_or(0);
        money(is_fa(state), n)
    });
    env.add_filter("jalali", |state: &State, value: String| {
        local_time(&value).map(|t| jalali(is_fa(state), t)).unwrap_or(value)
    });
    env.add_filter("gregorian", |value: String| gregorian(&value).unwrap_or(value));
}

/// ASCII digits as Persian digits in Persian pages, with the Arabic thousands separator
/// (`٬`) for a comma between digits.
pub fn digits(fa: bool, s: &str) -> String {
    if !fa {
        return s.to_owned();
    }
    let chars: Vec<char> = s.chars().collect();
    let between_digits =
        |i: usize| i > 0 && chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(char::is_ascii_digit);
    let separated: String =
        chars.iter().enumerate().map(|(i, &c)| if c == ',' && between_digits(i) { '\u{066C}' } else { c }).collect();
    persian_digits(&separated)
}

/// `1770000` as `۱٬۷۷۰٬۰۰۰` (Persian) or `1,770,000` (English).
pub fn money(fa: bool, rial: u64) -> String {
    let grouped = group_thousands(rial);
    if fa { persian_digits(&grouped).replace(',', "\u{066C}") } else { grouped }
}

/// A moment as Tehran's calendar and clock show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub date: JalaliDate,
    pub hour: u8,
    pub minute: u8,
}

/// Splits `2026-11-28T13:54:09.123Z` (UTC, as the API writes it) into its parts.
fn utc_parts(rfc3339: &str) -> Option<time::OffsetDateTime> {
    let num = |range: std::ops::Range<usize>| rfc3339.get(range)?.parse::<i32>().ok();
    if !rfc3339.ends_with('Z') {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(num(0..4)?, month, u8::try_from(num(8..10)?).ok()?).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

/// The Jalali date and Tehran time of an RFC 3339 UTC timestamp.
pub fn local_time(rfc3339: &str) -> Option<LocalTime> {
    let tehran = utc_parts(rfc3339)? + time::Duration::minutes(TEHRAN_OFFSET_MINUTES);
    let date = JalaliDate::from_gregorian(tehran.year(), u8::from(tehran.month()), tehran.day())?;
    Some(LocalTime { date, hour: tehran.hour(), minute: tehran.minute() })
}

/// `۱۴۰۵/۰۹/۰۷، ۱۷:۲۴` or `1405/09/07, 17:24`.
pub fn jalali(fa: bool, t: LocalTime) -> String {
    let text = format!("{}{} {:02}:{:02}", t.date, if fa { "،" } else { "," }, t.hour, t.minute);
    digits(fa, &text)
}

/// `2026-11-28 13:54 UTC`, for the title of a date.
pub fn gregorian(rfc3339: &str) -> Option<String> {
    let t = utc_parts(rfc3339)?;
    Some(format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_jalali_in_tehran_time() {
        // 2025-11-28 21:00 UTC is 00:30 on 1404/09/08 in Tehran.
        let t = local_time("2025-11-28T21:00:00.000Z").unwrap();
        assert_eq!(t.date.to_string(), "1404/09/08");
        assert_eq!((t.hour, t.minute), (0, 30));
        assert_eq!(jalali(true, t), "۱۴۰۴/۰۹/۰۸، ۰۰:۳۰");
        assert_eq!(jalali(false, t), "1404/09/08, 00:30");
        assert_eq!(gregorian("2025-11-28T21:00:00.000Z").unwrap(), "2025-11-28 21:00 UTC");
        assert!(local_time("yesterday").is_none());
    }

    #[test]
    fn amounts_are_grouped() {
        assert_eq!(money(true, 1_770_000), "۱٬۷۷۰٬۰۰۰");
        assert_eq!(money(false, 1_770_000), "1,770,000");
        assert_eq!(money(true, 0), "۰");
        assert_eq!(digits(true, "17,000 rials, paid"), "۱۷٬۰۰۰ rials, paid");
        assert_eq!(digits(false, "17,000"), "17,000");
    }
}
