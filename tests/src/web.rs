//! web-dynamic tests' helpers: an api-service on a fresh database with a web-dynamic reading the
//! same database (optionally behind a gateway), and a small world seeded through the API.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::api::{id_of, post};
use crate::db::{Api, Engine};
use crate::{client, Service};

/// The name of the seeded place that tries to inject a script.
pub const EVIL_NAME: &str = "<script>alert(1)</script>";
pub const EVIL_DESCRIPTION: &str = "<img src=x onerror=alert(2)> & \"quotes\"";

/// api-service and web-dynamic on one fresh database. Fields drop in order: services stop first.
pub struct Site {
    pub web: Service,
    pub api: Api,
}

impl Site {
    pub async fn start(engine: Engine) -> Site {
        Self::start_with(engine, &[]).await
    }

    /// `web_env` goes to web-dynamic only.
    pub async fn start_with(engine: Engine, web_env: &[(&str, &str)]) -> Site {
        let api = Api::start(engine).await;
        let mut env = vec![("DATABASE_URL", api.db.url.as_str())];
        env.extend_from_slice(web_env);
        let web = Service::start("web-dynamic", &env).await;
        Site { web, api }
    }
}

/// What [`seed`] created, by name.
#[derive(Debug, Default, Clone)]
pub struct World {
    pub states: HashMap<String, String>,
    pub cities: HashMap<String, String>,
    pub amenities: HashMap<String, String>,
    pub users: HashMap<String, String>,
    pub places: HashMap<String, String>,
}

/// States: California {San Francisco, Los Angeles}, Oregon {Portland}, Arizona {}.
/// Amenities: Wifi, Pool, Hot tub. Users: Ada Lovelace, Bob Dylan.
/// Places (owner Ada unless said): "Cozy loft" San Francisco (Wifi, Pool), "Beach house"
/// Los Angeles (Pool, owner Bob), "Forest cabin" Portland (Wifi), [`EVIL_NAME`] Portland (none).
/// Reviews: two on "Cozy loft" (Bob: "Great stay", Ada: "Lovely view"), one on "Forest cabin".
pub async fn seed(api: &Api) -> World {
    let c = client();
    let mut world = World::default();
    let created = |response: (reqwest::StatusCode, Value)| {
        assert_eq!(response.0, 201, "seed: {}", response.1);
        id_of(&response.1)
    };
    for state in ["California", "Oregon", "Arizona"] {
        let id = created(post(&c, &api.api("/states"), &json!({ "name": state })).await);
        world.states.insert(state.to_owned(), id);
    }
    for (state, city) in [
        ("California", "San Francisco"),
        ("California", "Los Angeles"),
        ("Oregon", "Portland"),
    ] {
        let url = api.api(&format!("/states/{}/cities", world.states[state]));
        let id = created(post(&c, &url, &json!({ "name": city })).await);
        world.cities.insert(city.to_owned(), id);
    }
    for amenity in ["Wifi", "Pool", "Hot tub"] {
        let id = created(post(&c, &api.api("/amenities"), &json!({ "name": amenity })).await);
        world.amenities.insert(amenity.to_owned(), id);
    }
    for (first, last) in [("Ada", "Lovelace"), ("Bob", "Dylan")] {
        let body = json!({
            "email": format!("{}@example.com", first.to_lowercase()),
            "password": "secret",
            "first_name": first,
            "last_name": last,
        });
        let id = created(post(&c, &api.api("/users"), &body).await);
        world.users.insert(first.to_owned(), id);
    }
    let places = [
        (
            "Cozy loft",
            "San Francisco",
            "Ada",
            1,
            1,
            2,
            120,
            "A loft.",
            &["Wifi", "Pool"][..],
        ),
        (
            "Beach house",
            "Los Angeles",
            "Bob",
            3,
            2,
            6,
            300,
            "Sea view.",
            &["Pool"][..],
        ),
        (
            "Forest cabin",
            "Portland",
            "Ada",
            2,
            1,
            1,
            80,
            "Quiet.",
            &["Wifi"][..],
        ),
        (
            EVIL_NAME,
            "Portland",
            "Ada",
            1,
            1,
            1,
            1,
            EVIL_DESCRIPTION,
            &[][..],
        ),
    ];
    for (name, city, owner, rooms, baths, guests, price, description, amenities) in places {
        let body = json!({
            "user_id": world.users[owner],
            "name": name,
            "number_rooms": rooms,
            "number_bathrooms": baths,
            "max_guest": guests,
            "price_by_night": price,
            "description": description,
        });
        let url = api.api(&format!("/cities/{}/places", world.cities[city]));
        let id = created(post(&c, &url, &body).await);
        for amenity in amenities {
            let url = api.api(&format!(
                "/places/{id}/amenities/{}",
                world.amenities[*amenity]
            ));
            let response = post(&c, &url, &json!({})).await;
            assert_eq!(response.0, 201, "link {amenity}: {}", response.1);
        }
        world.places.insert(name.to_owned(), id);
    }
    for (place, user, text) in [
        ("Cozy loft", "Bob", "Great stay"),
        ("Cozy loft", "Ada", "Lovely view"),
        ("Forest cabin", "Bob", "Too many trees"),
    ] {
        let url = api.api(&format!("/places/{}/reviews", world.places[place]));
        created(
            post(
                &c,
                &url,
                &json!({ "user_id": world.users[user], "text": text }),
            )
            .await,
        );
    }
    world
}

/// Every page of web-dynamic (without the trailing slash; each is served with one too).
pub const PAGES: &[&str] = &[
    "/0-hbnb",
    "/1-hbnb",
    "/2-hbnb",
    "/3-hbnb",
    "/4-hbnb",
    "/100-hbnb",
    "/101-hbnb",
    "/hbnb_filters",
    "/hbnb",
];

/// The web_flask storage pages.
pub const STORAGE_PAGES: &[&str] = &["/states_list", "/cities_by_states", "/states"];

/// Decodes the entities tera writes into attributes (`&#x2F;`, `&amp;`, ...).
pub fn unescape_attr(value: &str) -> String {
    value
        .replace("&#x2F;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `href`/`src` values of a page, decoded.
pub fn asset_links(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attr) {
            rest = &rest[start + attr.len()..];
            if let Some(end) = rest.find('"') {
                links.push(unescape_attr(&rest[..end]));
                rest = &rest[end..];
            }
        }
    }
    links
}
