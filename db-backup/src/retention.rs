//! Retention: keep the last N backups, plus the newest verified backup of each of the last D days,
//! W ISO weeks and M months that have one (UTC), and always the newest verified backup. Everything
//! else goes. Backups that failed verification count only towards "the last N".

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub last: usize,
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub verified: bool,
}

/// The ids to keep.
/// Which calendar period (year, day / week / month) a backup time falls in.
type PeriodKey = fn(&DateTime<Utc>) -> (i32, u32);

pub fn keep(items: &[Item], policy: Policy) -> BTreeSet<String> {
    let mut newest_first: Vec<&Item> = items.iter().collect();
    newest_first.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
    let mut kept = BTreeSet::new();
    for item in newest_first.iter().take(policy.last) {
        kept.insert(item.id.clone());
    }
    let verified: Vec<&&Item> = newest_first.iter().filter(|i| i.verified).collect();
    if let Some(newest) = verified.first() {
        kept.insert(newest.id.clone());
    }
    let buckets: [(usize, PeriodKey); 3] = [
        (policy.daily, |t| (t.year(), t.ordinal())),
        (policy.weekly, |t| {
            let week = t.iso_week();
            (week.year(), week.week())
        }),
        (policy.monthly, |t| (t.year(), t.month())),
    ];
    for (count, bucket_of) in buckets {
        let mut seen = BTreeSet::new();
        for item in &verified {
            if seen.len() >= count {
                break;
            }
            if seen.insert(bucket_of(&item.started_at)) {
                kept.insert(item.id.clone());
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item(y: i32, m: u32, d: u32, h: u32, verified: bool) -> Item {
        let t = Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().unwrap();
        Item {
            id: t.format("%Y%m%dT%H").to_string(),
            started_at: t,
            verified,
        }
    }

    fn ids(set: &BTreeSet<String>) -> Vec<&str> {
        set.iter().map(String::as_str).collect()
    }

    #[test]
    fn keeps_the_last_n() {
        let items: Vec<Item> = (0..6).map(|h| item(2025, 3, 10, h, true)).collect();
        let policy = Policy {
            last: 3,
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(
            ids(&keep(&items, policy)),
            ["20250310T03", "20250310T04", "20250310T05"]
        );
    }

    #[test]
    fn daily_weekly_monthly_pick_the_newest_of_each_period() {
        let items = vec![
            item(2025, 1, 15, 10, true), // January
            item(2025, 2, 3, 10, true),  // February, ISO week 6
            item(2025, 2, 20, 10, true), // February, week 8
            item(2025, 3, 3, 9, true),   // Monday week 10
            item(2025, 3, 3, 10, true),  // newest of that day
            item(2025, 3, 4, 10, true),  // Tuesday week 10
            item(2025, 3, 5, 8, true),
            item(2025, 3, 5, 10, true),
        ];
        let policy = Policy {
            last: 1,
            daily: 2,
            weekly: 2,
            monthly: 3,
        };
        // last 1: 0305T10. daily 2: 0305T10, 0304T10. weekly 2: week 10 -> 0305T10, week 8 ->
        // 0220T10. monthly 3: March -> 0305T10, February -> 0220T10, January -> 0115T10.
        assert_eq!(
            ids(&keep(&items, policy)),
            ["20250115T10", "20250220T10", "20250304T10", "20250305T10"]
        );
    }

    #[test]
    fn never_deletes_the_newest_verified() {
        let items = vec![
            item(2025, 3, 1, 10, true),
            item(2025, 3, 2, 10, false),
            item(2025, 3, 3, 10, false),
        ];
        let policy = Policy {
            last: 1,
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(ids(&keep(&items, policy)), ["20250301T10", "20250303T10"]);
    }

    #[test]
    fn failed_backups_do_not_fill_periods() {
        let items = vec![item(2025, 3, 1, 10, true), item(2025, 3, 1, 11, false)];
        let policy = Policy {
            last: 0,
            daily: 1,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(ids(&keep(&items, policy)), ["20250301T10"]);
    }
}
