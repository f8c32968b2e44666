//! The demo data set (`DEMO_DATA=1`, `scripts/run-stack.sh --demo`): the shape of the course's
//! `web_flask/100-dump.sql` — 11 states, 32 cities, 47 amenities, 30 users, 154 places, 718
//! reviews, and amenities linked to places — written by us, through the storage layer, the same
//! every time (a fixed pseudo-random sequence). Loaded only into a database with no row in any
//! table: it never touches one that holds anything.

use futures_util::future::try_join_all;
use hbnb_storage::{Database, PlaceFields, StorageError};

pub const STATES: usize = 11;
pub const CITIES: usize = 32;
pub const AMENITIES: usize = 47;
pub const USERS: usize = 30;
pub const PLACES: usize = 154;
pub const REVIEWS: usize = 718;

/// The demo users' password (each user's email is `<first>.<last>@hbnb.example`).
pub const PASSWORD: &str = "hbnb-demo";

const STATE_CITIES: [(&str, &[&str]); STATES] = [
    ("Alabama", &["Akron", "Babbie", "Calera", "Fairfield"]),
    ("Arizona", &["Douglas", "Kearny", "Tempe"]),
    (
        "California",
        &["Fremont", "Napa", "San Francisco", "San Jose"],
    ),
    ("Florida", &["Miami", "Orlando", "Tampa"]),
    ("Georgia", &["Atlanta", "Savannah"]),
    ("Hawaii", &["Honolulu", "Kailua", "Pearl City"]),
    ("Illinois", &["Chicago", "Joliet", "Naperville", "Peoria"]),
    ("Indiana", &["Gary", "Indianapolis"]),
    ("Louisiana", &["Baton Rouge", "Lafayette", "New Orleans"]),
    ("Minnesota", &["Duluth", "Saint Paul"]),
    ("Nevada", &["Henderson", "Las Vegas"]),
];

const AMENITY_NAMES: [&str; AMENITIES] = [
    "Wireless Internet",
    "Pool",
    "Hot tub",
    "Kitchen",
    "Free parking",
    "Air conditioning",
    "Heating",
    "Washer",
    "Dryer",
    "TV",
    "Cable TV",
    "Breakfast",
    "Pets allowed",
    "Family/kid friendly",
    "Suitable for events",
    "Smoking allowed",
    "Wheelchair accessible",
    "Elevator in building",
    "Indoor fireplace",
    "Buzzer/wireless intercom",
    "Doorman",
    "Gym",
    "Essentials",
    "Shampoo",
    "24-hour check-in",
    "Hangers",
    "Hair dryer",
    "Iron",
    "Laptop friendly workspace",
    "Self check-in",
    "Lockbox",
    "Private entrance",
    "Smoke detector",
    "Carbon monoxide detector",
    "First aid kit",
    "Fire extinguisher",
    "Safety card",
    "Lock on bedroom door",
    "Private living room",
    "Bathtub",
    "Crib",
    "High chair",
    "Room-darkening shades",
    "Game console",
    "Dishwasher",
    "Patio or balcony",
    "Garden or backyard",
];

const FIRST_NAMES: [&str; 10] = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia", "Guido",
];
const LAST_NAMES: [&str; 3] = ["Stone", "Rivers", "Fields"];

const PLACE_WORDS: [&str; 12] = [
    "Cozy", "Sunny", "Quiet", "Modern", "Rustic", "Spacious", "Charming", "Bright", "Hidden",
    "Historic", "Breezy", "Little",
];
const PLACE_KINDS: [&str; 8] = [
    "loft",
    "cabin",
    "studio",
    "bungalow",
    "apartment",
    "house",
    "cottage",
    "suite",
];
const REVIEW_TEXTS: [&str; 8] = [
    "Great stay, would come back.",
    "Lovely place, exactly as described.",
    "The host was very welcoming.",
    "Clean, quiet and close to everything.",
    "A bit noisy at night, but well located.",
    "Perfect for a weekend away.",
    "The view alone was worth it.",
    "Comfortable beds and a great kitchen.",
];

/// A fixed pseudo-random sequence (a 64-bit LCG): the same data set on every load.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % below as u64) as usize
    }
}

/// Writes at most this many rows at once (SQLite's group commit takes them together).
const BATCH: usize = 64;

/// Loads the demo data set if the database holds no row at all; true if it did load it.
/// `password_hash` is what the users' password is stored as (hashed by the caller).
pub async fn load_if_empty(db: &Database, password_hash: &str) -> Result<bool, StorageError> {
    let stats = db.stats().await?;
    let rows =
        stats.states + stats.cities + stats.amenities + stats.users + stats.places + stats.reviews;
    if rows > 0 {
        tracing::info!(
            rows,
            "DEMO_DATA: the database is not empty; not loading the demo data"
        );
        return Ok(false);
    }
    let mut random = Sequence(12);
    let mut cities = Vec::with_capacity(CITIES);
    for (state, names) in STATE_CITIES {
        let state = db.create_state(state).await?;
        let created =
            try_join_all(names.iter().map(|name| db.create_city(&state.id, name))).await?;
        cities.extend(created.into_iter().map(|c| c.id));
    }
    let mut amenities = Vec::with_capacity(AMENITIES);
    for chunk in AMENITY_NAMES.chunks(BATCH) {
        let created = try_join_all(chunk.iter().map(|name| db.create_amenity(name))).await?;
        amenities.extend(created.into_iter().map(|a| a.id));
    }
    let people: Vec<(String, &str, &str)> = (0..USERS)
        .map(|i| {
            let (first, last) = (FIRST_NAMES[i % 10], LAST_NAMES[i / 10]);
            let email = format!(
                "{}.{}@hbnb.example",
                first.to_lowercase(),
                last.to_lowercase()
            );
            (email, first, last)
        })
        .collect();
    let users: Vec<String> =
        try_join_all(people.iter().map(|(email, first, last)| {
            db.create_user(email, password_hash, Some(first), Some(last))
        }))
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let fields: Vec<(usize, usize, PlaceFields)> = (0..PLACES)
        .map(|i| {
            let name = format!(
                "{} {}",
                PLACE_WORDS[random.next(PLACE_WORDS.len())],
                PLACE_KINDS[random.next(PLACE_KINDS.len())]
            );
            let rooms = 1 + random.next(5) as i32;
            let place = PlaceFields {
                description: Some(format!(
                    "{name} with {rooms} room(s): a demo place, number {}.",
                    i + 1
                )),
                name,
                number_rooms: rooms,
                number_bathrooms: 1 + random.next(3) as i32,
                max_guest: rooms * 2,
                price_by_night: 40 + 10 * random.next(30) as i32,
                latitude: Some(25.0 + random.next(2_000) as f64 / 100.0),
                longitude: Some(-124.0 + random.next(4_000) as f64 / 100.0),
            };
            // Every city has at least one place.
            let city = if i < CITIES { i } else { random.next(CITIES) };
            (city, random.next(USERS), place)
        })
        .collect();
    let mut places = Vec::with_capacity(PLACES);
    for chunk in fields.chunks(BATCH) {
        let created = try_join_all(
            chunk
                .iter()
                .map(|(city, user, place)| db.create_place(&cities[*city], &users[*user], place)),
        )
        .await?;
        places.extend(created.into_iter().map(|p| p.id));
    }
    let links: Vec<(usize, usize)> = places
        .iter()
        .enumerate()
        .flat_map(|(p, _)| {
            let first = (p * 7) % AMENITIES;
            (0..(p % 5)).map(move |k| (p, (first + k * 11) % AMENITIES))
        })
        .collect();
    for chunk in links.chunks(BATCH) {
        try_join_all(
            chunk
                .iter()
                .map(|(p, a)| db.link_amenity(&places[*p], &amenities[*a])),
        )
        .await?;
    }
    let reviews: Vec<(usize, usize, &str)> = (0..REVIEWS)
        .map(|i| {
            let place = if i < PLACES { i } else { random.next(PLACES) };
            (
                place,
                random.next(USERS),
                REVIEW_TEXTS[random.next(REVIEW_TEXTS.len())],
            )
        })
        .collect();
    for chunk in reviews.chunks(BATCH) {
        try_join_all(
            chunk
                .iter()
                .map(|(p, u, text)| db.create_review(&places[*p], &users[*u], text)),
        )
        .await?;
    }
    tracing::info!(
        states = STATES,
        cities = CITIES,
        amenities = AMENITIES,
        users = USERS,
        places = PLACES,
        reviews = REVIEWS,
        "DEMO_DATA: loaded the demo data set into the empty database"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_set_has_the_course_dumps_shape() {
        assert_eq!(
            STATE_CITIES.iter().map(|(_, c)| c.len()).sum::<usize>(),
            CITIES
        );
        let mut emails: Vec<String> = (0..USERS)
            .map(|i| format!("{}.{}", FIRST_NAMES[i % 10], LAST_NAMES[i / 10]))
            .collect();
        emails.sort();
        emails.dedup();
        assert_eq!(emails.len(), USERS, "unique emails");
        let mut names = AMENITY_NAMES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), AMENITIES, "unique amenities");
    }
}
