//! Solar Hijri (Jalali) dates, the official calendar in Iran.
//!
//! Months 1-6 have 31 days, 7-11 have 30, and Esfand (12) has 29 or 30. Leap years follow
//! the vernal equinox; the old 2820-year arithmetic gets recent years wrong (1403 was a leap
//! year, 1404 is not), so conversion and leap years come from ICU4X's Persian calendar.

use crate::Invalid;
use crate::text::{compact_digits, persian_digits};
use icu_calendar::cal::Persian;
use icu_calendar::{Date, Iso};
use std::fmt;

/// A date in the Solar Hijri calendar. Ordering is chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JalaliDate {
    /// The year, e.g. 1404.
    pub year: i32,
    /// The month, 1 (Farvardin) to 12 (Esfand).
    pub month: u8,
    /// The day of the month, from 1.
    pub day: u8,
}

const MONTHS_FA: [&str; 12] =
    ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"];
const MONTHS_EN: [&str; 12] = [
    "Farvardin",
    "Ordibehesht",
    "Khordad",
    "Tir",
    "Mordad",
    "Shahrivar",
    "Mehr",
    "Aban",
    "Azar",
    "Dey",
    "Bahman",
    "Esfand",
];

impl JalaliDate {
    /// The date if it exists in the calendar.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let date = Self { year, month, day };
        date.is_valid().then_some(date)
    }

    /// Whether the date exists: month 1..=12, day within the month, year within ICU4X's
    /// supported range (-9999..=9999).
    pub fn is_valid(self) -> bool {
        Date::try_new_persian(self.year, self.month, self.day).is_ok()
    }

    /// The Gregorian (proleptic, astronomical year numbering) date as `(year, month, day)`.
    ///
    /// A date that does not exist (fields set by hand) is first clamped to the nearest one
    /// that does: `1404/12/30` converts as `1404/12/29`.
    pub fn to_gregorian(self) -> (i32, u8, u8) {
        let year = self.year.clamp(-9999, 9999);
        let month = self.month.clamp(1, 12);
        let day = self.day.clamp(1, Self::days_in_month(year, month));
        match Date::try_new_persian(year, month, day) {
            Ok(date) => {
                let iso = date.to_calendar(Iso);
                (iso.year().extended_year(), iso.month().ordinal, iso.day_of_month().0)
            }
            // Unreachable: the fields were clamped into range above.
            Err(_) => (0, 1, 1),
        }
    }

    /// The Jalali date of a Gregorian date, or `None` if that date does not exist or is
    /// outside years -9999..=9999.
    pub fn from_gregorian(y: i32, m: u8, d: u8) -> Option<Self> {
        let date = Date::try_new_iso(y, m, d).ok()?.to_calendar(Persian);
        Some(Self { year: date.year().extended_year(), month: date.month().ordinal, day: date.day_of_month().0 })
    }

    /// Whether Esfand of `year` has 30 days.
    pub fn is_leap_year(year: i32) -> bool {
        Date::try_new_persian(year, 12, 30).is_ok()
    }

    /// Days in a month of a year: 31, 30, 29 or 30 for Esfand; 0 for a month outside 1..=12.
    pub fn days_in_month(year: i32, month: u8) -> u8 {
        match month {
            1..=6 => 31,
            7..=11 => 30,
            12 if Self::is_leap_year(year) => 30,
            12 => 29,
            _ => 0,
        }
    }

    /// The month's Persian name (`آذر`); empty for a month outside 1..=12.
    pub fn month_name_fa(self) -> &'static str {
        month_index(self.month).map_or("", |i| MONTHS_FA[i])
    }

    /// The month's name in English transliteration (`Azar`); empty for a month outside
    /// 1..=12.
    pub fn month_name_en(self) -> &'static str {
        month_index(self.month).map_or("", |i| MONTHS_EN[i])
    }

    /// The date in Persian digits, `۱۴۰۴/۰۹/۰۷`.
    pub fn to_persian_digits(&self) -> String {
        persian_digits(&self.to_string())
    }
}

/// `1404/09/07`.
impl fmt::Display for JalaliDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

fn month_index(month: u8) -> Option<usize> {
    (1..=12).contains(&month).then(|| usize::from(month - 1))
}

/// Parses a date as typed: `1403/12/30`, `1403-12-30`, `1403.12.30`, `1404/9/7`, Persian
/// or Arabic digits. The year has four digits and comes first.
pub fn parse(input: &str) -> Result<JalaliDate, Invalid> {
    let shape = || {
        Invalid::new(
            "تاریخ باید به شکل سال/ماه/روز باشد، مثل ۱۴۰۳/۱۲/۳۰",
            "date must be year/month/day, like 1403/12/30",
        )
    };
    // compact_digits also removes '-', so dashes become slashes first.
    let text = compact_digits(&input.replace(['-', '.', '\u{2212}'], "/"));
    let mut parts = text.split('/');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(shape());
    };
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !(digits(y, 4..=4) && digits(m, 1..=2) && digits(d, 1..=2)) {
        return Err(shape());
    }
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<i32>(), m.parse::<u8>(), d.parse::<u8>()) else {
        return Err(shape());
    };
    if !(1..=12).contains(&month) {
        return Err(Invalid::new("ماه باید بین ۱ و ۱۲ باشد", "month must be between 1 and 12"));
    }
    let days = JalaliDate::days_in_month(year, month);
    if day == 0 || day > days {
        let name = JalaliDate { year, month, day: 1 };
        return Err(Invalid::new(
            format!(
                "{} {} {} روز دارد",
                name.month_name_fa(),
                persian_digits(&year.to_string()),
                persian_digits(&days.to_string())
            ),
            format!("{} {year} has {days} days", name.month_name_en()),
        ));
    }
    JalaliDate::new(year, month, day).ok_or_else(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u8, day: u8) -> JalaliDate {
        JalaliDate { year, month, day }
    }

    #[test]
    fn parses_the_usual_forms() {
        for input in ["1403/12/30", "1403-12-30", "۱۴۰۳/۱۲/۳۰", "١٤٠٣.١٢.٣٠", " 1403 / 12 / 30 "] {
            assert_eq!(parse(input).unwrap(), date(1403, 12, 30), "{input}");
        }
        assert_eq!(parse("1404/9/7").unwrap(), date(1404, 9, 7));
        assert_eq!(parse("\u{200F}۱۴۰۴/۰۹/۰۷\u{200F}").unwrap(), date(1404, 9, 7));
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let shape = "date must be year/month/day, like 1403/12/30";
        for bad in ["", "1403/12", "1403/12/30/1", "03/12/30", "30/12/1403", "1403/x/1", "1403//1"] {
            assert_eq!(parse(bad).unwrap_err().en, shape, "{bad}");
        }
        assert_eq!(parse("1403/13/01").unwrap_err().en, "month must be between 1 and 12");
        assert_eq!(parse("1403/00/01").unwrap_err().en, "month must be between 1 and 12");
        let esfand = parse("1404/12/30").unwrap_err();
        assert_eq!(esfand.en, "Esfand 1404 has 29 days");
        assert_eq!(esfand.fa, "اسفند ۱۴۰۴ ۲۹ روز دارد");
        assert_eq!(parse("1403/07/31").unwrap_err().en, "Mehr 1403 has 30 days");
        assert_eq!(parse("1403/01/00").unwrap_err().en, "Farvardin 1403 has 31 days");
    }

    #[test]
    fn display_and_names() {
        let d = date(1404, 9, 7);
        assert_eq!(d.to_string(), "1404/09/07");
        assert_eq!(d.to_persian_digits(), "۱۴۰۴/۰۹/۰۷");
        assert_eq!(d.month_name_fa(), "آذر");
        assert_eq!(d.month_name_en(), "Azar");
        assert_eq!(date(1404, 13, 1).month_name_en(), "");
        assert_eq!(date(1404, 0, 1).month_name_fa(), "");
    }

    #[test]
    fn leap_years_and_month_lengths() {
        assert!(JalaliDate::is_leap_year(1403));
        assert!(!JalaliDate::is_leap_year(1404));
        assert_eq!(JalaliDate::days_in_month(1403, 12), 30);
        assert_eq!(JalaliDate::days_in_month(1404, 12), 29);
        assert_eq!(JalaliDate::days_in_month(1404, 1), 31);
        assert_eq!(JalaliDate::days_in_month(1404, 7), 30);
        assert_eq!(JalaliDate::days_in_month(1404, 13), 0);
        assert!(!JalaliDate::is_leap_year(i32::MAX));
    }

    #[test]
    fn impossible_dates_convert_clamped_without_panicking() {
        assert_eq!(date(1404, 12, 30).to_gregorian(), date(1404, 12, 29).to_gregorian());
        assert_eq!(date(1404, 0, 0).to_gregorian(), date(1404, 1, 1).to_gregorian());
        let _ = date(i32::MIN, u8::MAX, u8::MAX).to_gregorian();
        let _ = date(i32::MAX, 12, 31).to_gregorian();
        assert_eq!(JalaliDate::from_gregorian(2025, 2, 29), None);
        assert_eq!(JalaliDate::from_gregorian(i32::MAX, 1, 1), None);
    }

    #[test]
    fn every_day_for_three_centuries_round_trips_in_order() {
        let mut previous: Option<JalaliDate> = None;
        for year in 1900..2200 {
            for month in 1..=12u8 {
                for day in 1..=31u8 {
                    let Some(j) = JalaliDate::from_gregorian(year, month, day) else {
                        continue;
                    };
                    assert!(j.is_valid());
                    assert_eq!(j.to_gregorian(), (year, month, day));
                    assert_eq!(parse(&j.to_string()), Ok(j));
                    if let Some(p) = previous {
                        let next_day = if p.day < JalaliDate::days_in_month(p.year, p.month) {
                            date(p.year, p.month, p.day + 1)
                        } else if p.month < 12 {
                            date(p.year, p.month + 1, 1)
                        } else {
                            date(p.year + 1, 1, 1)
                        };
                        assert_eq!(j, next_day);
                    }
                    previous = Some(j);
                }
            }
        }
    }
}
