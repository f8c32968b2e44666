//! Shared by the backup_* tests (included with `#[path]`): every row of every table, every column
//! (password hashes included), read through the storage crate.
#![allow(dead_code)]

use std::collections::BTreeMap;

use hbnb_storage::{Amenity, City, Database, Place, Review, State, User};

/// Every row of every table, every column, in a stable order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub states: Vec<State>,
    pub cities: Vec<City>,
    pub users: Vec<User>,
    pub amenities: Vec<Amenity>,
    pub places: Vec<Place>,
    pub reviews: Vec<Review>,
    pub place_amenity: Vec<(String, String)>,
}

impl Rows {
    pub async fn read(url: &str) -> Rows {
        let db = Database::connect(url)
            .await
            .expect("connect to the database");
        let rows = Self::read_from(&db).await;
        db.close().await;
        rows
    }

    pub async fn read_from(db: &Database) -> Rows {
        let mut states: Vec<State> = db.list().await.expect("states");
        let mut cities: Vec<City> = db.list().await.expect("cities");
        let mut users: Vec<User> = db.list().await.expect("users");
        let mut amenities: Vec<Amenity> = db.list().await.expect("amenities");
        let mut places: Vec<Place> = db.list().await.expect("places");
        let mut reviews: Vec<Review> = db.list().await.expect("reviews");
        states.sort_by(|a, b| a.id.cmp(&b.id));
        cities.sort_by(|a, b| a.id.cmp(&b.id));
        users.sort_by(|a, b| a.id.cmp(&b.id));
        amenities.sort_by(|a, b| a.id.cmp(&b.id));
        places.sort_by(|a, b| a.id.cmp(&b.id));
        reviews.sort_by(|a, b| a.id.cmp(&b.id));
        let mut place_amenity = Vec::new();
        for place in &places {
            for amenity in db
                .amenities_of_place(&place.id)
                .await
                .expect("amenities of place")
            {
                place_amenity.push((place.id.clone(), amenity.id));
            }
        }
        place_amenity.sort();
        Rows {
            states,
            cities,
            users,
            amenities,
            places,
            reviews,
            place_amenity,
        }
    }

    pub fn counts(&self) -> BTreeMap<String, i64> {
        [
            ("states", self.states.len()),
            ("cities", self.cities.len()),
            ("users", self.users.len()),
            ("amenities", self.amenities.len()),
            ("places", self.places.len()),
            ("reviews", self.reviews.len()),
            ("place_amenity", self.place_amenity.len()),
        ]
        .into_iter()
        .map(|(t, n)| (t.to_owned(), n as i64))
        .collect()
    }

    pub fn total(&self) -> usize {
        self.counts().values().sum::<i64>() as usize
    }

    /// Panics unless every foreign key points at an existing row.
    pub fn assert_foreign_keys(&self) {
        use std::collections::HashSet;
        let states: HashSet<_> = self.states.iter().map(|r| &r.id).collect();
        let cities: HashSet<_> = self.cities.iter().map(|r| &r.id).collect();
        let users: HashSet<_> = self.users.iter().map(|r| &r.id).collect();
        let amenities: HashSet<_> = self.amenities.iter().map(|r| &r.id).collect();
        let places: HashSet<_> = self.places.iter().map(|r| &r.id).collect();
        for c in &self.cities {
            assert!(states.contains(&c.state_id), "city {} without state", c.id);
        }
        for p in &self.places {
            assert!(cities.contains(&p.city_id), "place {} without city", p.id);
            assert!(users.contains(&p.user_id), "place {} without user", p.id);
        }
        for r in &self.reviews {
            assert!(
                places.contains(&r.place_id),
                "review {} without place",
                r.id
            );
            assert!(users.contains(&r.user_id), "review {} without user", r.id);
        }
        for (p, a) in &self.place_amenity {
            assert!(
                places.contains(p) && amenities.contains(a),
                "dangling link {p}/{a}"
            );
        }
    }
}

/// Unix seconds of an RFC 3339 UTC timestamp as the manifests write it
/// (`2025-01-02T03:04:05.678901Z`).
pub fn unix_seconds(text: &str) -> f64 {
    let text = text.trim_end_matches('Z').trim_end_matches("+00:00");
    let (date, time) = text.split_once('T').expect("date and time");
    let mut d = date
        .split('-')
        .map(|p| p.parse::<i64>().expect("date part"));
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    let mut t = time.split(':');
    let (h, min) = (
        t.next().unwrap().parse::<i64>().unwrap(),
        t.next().unwrap().parse::<i64>().unwrap(),
    );
    let s: f64 = t.next().unwrap().parse().unwrap();
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    (days * 86400 + h * 3600 + min * 60) as f64 + s
}

pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn parses_timestamps() {
    assert_eq!(unix_seconds("1970-01-02T00:00:01Z"), 86401.0);
    assert_eq!(unix_seconds("2024-03-01T00:00:00.5Z"), 1709251200.5);
}
