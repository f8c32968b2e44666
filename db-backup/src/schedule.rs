//! When backups run: every `BACKUP_INTERVAL`, or at the times of a cron pattern
//! (`BACKUP_SCHEDULE="0 3 */2 * *"`) in `BACKUP_TIMEZONE` (UTC by default), never both.
//!
//! Either way the next run follows from the last one (the newest good backup, or the service's
//! last attempt), not from when the service started: a run that fell due while the service was
//! down (an interval elapsed, or a cron time passed) happens at once at start-up, as anacron and
//! systemd's `Persistent=true` timers do; several missed runs make one run, not a burst.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::error::{failed, Result};

/// The default interval when neither BACKUP_INTERVAL nor BACKUP_SCHEDULE is set.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(48 * 3600);

#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron {
        cron: Box<Cron>,
        pattern: String,
        zone: Tz,
    },
}

impl Schedule {
    /// From the settings: refuses an interval and a pattern together, an empty interval, an
    /// invalid pattern or an unknown time zone, with a message naming the setting.
    pub fn new(
        interval: Option<Duration>,
        pattern: Option<&str>,
        zone: Option<&str>,
    ) -> Result<Schedule> {
        let pattern = pattern.map(str::trim).filter(|p| !p.is_empty());
        let zone_name = zone.map(str::trim).filter(|z| !z.is_empty());
        match (interval, pattern) {
            (Some(_), Some(_)) => Err(failed(
                "BACKUP_INTERVAL and BACKUP_SCHEDULE are both set: choose one",
            )),
            (interval, None) => {
                if zone_name.is_some() {
                    return Err(failed(
                        "BACKUP_TIMEZONE applies to BACKUP_SCHEDULE, which is not set",
                    ));
                }
                let interval = interval.unwrap_or(DEFAULT_INTERVAL);
                if interval.is_zero() {
                    return Err(failed("BACKUP_INTERVAL must be longer than 0s"));
                }
                Ok(Schedule::Every(interval))
            }
            (None, Some(pattern)) => {
                let zone: Tz = match zone_name {
                    None => Tz::UTC,
                    Some(name) => name.parse().map_err(|_| {
                        failed(format!(
                            "BACKUP_TIMEZONE {name:?} is not an IANA time zone (e.g. UTC, Europe/Paris)"
                        ))
                    })?,
                };
                // Six fields are allowed (seconds first), as croner and Quartz allow; five are cron's.
                let cron = Cron::new(pattern)
                    .with_seconds_optional()
                    .parse()
                    .map_err(|e| failed(format!("BACKUP_SCHEDULE {pattern:?}: {e}")))?;
                let schedule = Schedule::Cron {
                    cron: Box::new(cron),
                    pattern: pattern.to_owned(),
                    zone,
                };
                // A pattern that never matches (`0 0 31 2 *`) would never back up.
                if schedule.after(Utc::now()).is_none() {
                    return Err(failed(format!("BACKUP_SCHEDULE {pattern:?} never matches")));
                }
                Ok(schedule)
            }
        }
    }

    /// The first time a run is due after `time` (a run at `time`).
    pub fn after(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(interval) => {
                time.checked_add_signed(chrono::Duration::from_std(*interval).ok()?)
            }
            Schedule::Cron { cron, zone, .. } => cron
                .find_next_occurrence(&time.with_timezone(zone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// When the next run starts, given the last run (`None`: never) and the time now: one
    /// schedule step after the last run, or now when that is already past (the catch-up).
    pub fn next_run(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        match last {
            None => now,
            // No next time (an interval past the end of time): never, as close as chrono goes.
            Some(last) => self
                .after(last)
                .map_or(DateTime::<Utc>::MAX_UTC, |next| next.max(now)),
        }
    }

    /// The longest time between two runs (over the next 32 for a pattern): what "a backup older
    /// than twice its schedule" is measured against (/healthz, db_backup_interval_seconds).
    pub fn period(&self, from: DateTime<Utc>) -> Duration {
        match self {
            Schedule::Every(interval) => *interval,
            Schedule::Cron { .. } => {
                let mut longest = Duration::ZERO;
                let mut at = from;
                for _ in 0..32 {
                    let Some(next) = self.after(at) else { break };
                    longest = longest.max((next - at).to_std().unwrap_or_default());
                    at = next;
                }
                longest
            }
        }
    }

    /// For logs and `/healthz`: `every 48h`, `"0 3 */2 * *" in Europe/Paris`.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(interval) => format!("every {}", humantime::format_duration(*interval)),
            Schedule::Cron { pattern, zone, .. } => format!("{pattern:?} in {zone}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    fn cron(pattern: &str, zone: Option<&str>) -> Schedule {
        Schedule::new(None, Some(pattern), zone).unwrap()
    }

    #[test]
    fn refuses_bad_settings() {
        let both = Schedule::new(Some(Duration::from_secs(60)), Some("0 3 * * *"), None);
        assert!(both.unwrap_err().to_string().contains("both set"));
        assert!(Schedule::new(None, Some("61 3 * * *"), None).is_err());
        assert!(Schedule::new(None, Some("0 3 * * *"), Some("Mars/Olympus")).is_err());
        assert!(Schedule::new(None, Some("0 0 31 2 *"), None).is_err());
        assert!(Schedule::new(Some(Duration::ZERO), None, None).is_err());
        assert!(Schedule::new(None, None, Some("UTC")).is_err());
        assert!(matches!(
            Schedule::new(None, None, None).unwrap(),
            Schedule::Every(d) if d == DEFAULT_INTERVAL
        ));
        // Empty values are unset (docker-compose passes `${BACKUP_SCHEDULE:-}`).
        assert!(Schedule::new(Some(Duration::from_secs(60)), Some(" "), Some("")).is_ok());
    }

    #[test]
    fn next_cron_run_every_other_day_at_three() {
        let s = cron("0 3 */2 * *", None);
        // Day-of-month */2: the 1st, 3rd, 5th... at 03:00 UTC.
        let last = utc(2026, 12, 3, 3, 0);
        assert_eq!(
            s.next_run(Some(last), utc(2026, 12, 3, 9, 0)),
            utc(2026, 12, 5, 3, 0)
        );
        // Across the end of a 31-day month: the 31st, then the 1st.
        assert_eq!(
            s.after(utc(2026, 12, 29, 3, 0)),
            Some(utc(2026, 12, 31, 3, 0))
        );
        assert_eq!(
            s.after(utc(2026, 12, 31, 3, 0)),
            Some(utc(2027, 1, 1, 3, 0))
        );
        assert_eq!(
            s.period(utc(2026, 12, 1, 0, 0)),
            Duration::from_secs(2 * 86400)
        );
    }

    #[test]
    fn cron_times_are_in_the_time_zone() {
        let s = cron("0 3 * * *", Some("Europe/Paris"));
        // 03:00 in Paris is 02:00 UTC in winter (CET) and 01:00 UTC in summer (CEST).
        assert_eq!(
            s.after(utc(2026, 12, 7, 12, 0)),
            Some(utc(2026, 12, 8, 2, 0))
        );
        assert_eq!(s.after(utc(2026, 7, 7, 12, 0)), Some(utc(2026, 7, 8, 1, 0)));
        // The night clocks go forward (29 March 2026, 02:00 -> 03:00): 03:00 exists, 01:00 UTC.
        assert_eq!(
            s.after(utc(2026, 3, 28, 12, 0)),
            Some(utc(2026, 3, 29, 1, 0))
        );
    }

    #[test]
    fn a_missed_run_happens_at_once() {
        let s = cron("0 3 */2 * *", None);
        let last = utc(2026, 12, 1, 3, 0);
        // Down from the 2nd to the 7th: the runs of the 3rd and 5th were missed; one run now.
        let now = utc(2026, 12, 7, 2, 0);
        assert_eq!(s.next_run(Some(last), now), now);
        // Then back on the pattern.
        assert_eq!(s.next_run(Some(now), now), utc(2026, 12, 7, 3, 0));
        // Never backed up: now.
        assert_eq!(s.next_run(None, now), now);
        // The same with an interval.
        let every = Schedule::Every(Duration::from_secs(3600));
        assert_eq!(every.next_run(Some(last), now), now);
        assert_eq!(
            every.next_run(Some(utc(2026, 12, 7, 1, 30)), now),
            utc(2026, 12, 7, 2, 30)
        );
    }

    #[test]
    fn not_due_yet_waits_for_the_pattern() {
        let s = cron("30 14 * * *", None);
        let last = utc(2026, 12, 6, 14, 30);
        assert_eq!(
            s.next_run(Some(last), utc(2026, 12, 7, 14, 0)),
            utc(2026, 12, 7, 14, 30)
        );
        assert_eq!(s.describe(), "\"30 14 * * *\" in UTC");
        let seconds = cron("*/2 * * * * *", None);
        assert_eq!(
            seconds.after(utc(2026, 12, 7, 14, 0)),
            Some(utc(2026, 12, 7, 14, 0) + chrono::Duration::seconds(2))
        );
    }
}
