//! A database the course made, served as it is: the course's schema and a dump shaped like
//! `web_flask/100-dump.sql` (tests/fixtures/course_hbnb_dev_db.sql: latin1, DATETIME without
//! fractions, FLOAT coordinates, foreign keys without cascades) loaded into a fresh MariaDB
//! database; api-service and web-dynamic start on it (through the `mariadb://` alias), answer
//! from its rows, write rows the course's own code reads back, and leave its schema unchanged.

use hbnb_tests::api::{delete, get, id_of, post};
use hbnb_tests::db::{Engine, MariadbServer, TestDb};
use hbnb_tests::{client, Service};
use serde_json::{json, Value};

const CALIFORNIA: &str = "2b9a4627-8a9e-4f32-a752-9a84fa7f4efd";
const NEVADA: &str = "421a55f4-7d82-47d9-b54c-a76916479545";
const SAN_FRANCISCO: &str = "1da255c0-f023-4779-8134-2b1b40f87683";
const LOVELY_PLACE: &str = "279b355e-ff9a-4b85-8114-6db7ad2a4cd2";
const DESERT_HOME: &str = "dacec983-cec4-4f68-bd7f-af9068a305f5";
const WIFI: &str = "0d375b05-5ef9-4d43-aaca-436762bb25bf";
const CABLE: &str = "017ec502-e84a-4a0f-92d6-d97e27bb6bdf";

fn schema(server: &MariadbServer, database: &str) -> String {
    let mut all = String::new();
    for table in [
        "states",
        "cities",
        "users",
        "places",
        "reviews",
        "amenities",
        "place_amenity",
    ] {
        all += &server
            .run(Some(database), &format!("SHOW CREATE TABLE {table}"))
            .unwrap();
    }
    all
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_database_is_served_as_it_is() {
    let db = TestDb::new(Engine::Mysql);
    let server = MariadbServer::from_admin_url();
    let database = db.url.rsplit('/').next().unwrap().to_owned();
    let fixture = hbnb_tests::workspace_root().join("tests/fixtures/course_hbnb_dev_db.sql");
    let status = server
        .client(Some(&database))
        .stdin(std::fs::File::open(&fixture).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "loading {}", fixture.display());
    let before = schema(&server, &database);
    assert!(before.contains("latin1"), "{before}");

    let url = db.url.replacen("mysql://", "mariadb://", 1);
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("ARGON2_MEMORY_KIB", "1024"),
        ("ARGON2_ITERATIONS", "1"),
    ];
    let api = Service::start("api-service", &env).await;
    let web = Service::start("web-dynamic", &[("DATABASE_URL", url.as_str())]).await;
    let c = client();
    let v1 = |path: &str| api.url(&format!("/api/v1{path}"));

    // Adopted, not changed: the schema is the course's, our first migration is recorded.
    assert_eq!(schema(&server, &database), before);
    let migrations = server
        .run(
            Some(&database),
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE success",
        )
        .unwrap();
    assert_eq!(migrations.trim(), "1");

    let (status, stats) = get(&c, &v1("/stats")).await;
    assert_eq!(status, 200);
    assert_eq!(
        stats,
        json!({"amenities": 3, "cities": 3, "places": 2, "reviews": 3, "states": 2, "users": 2})
    );

    let (status, cities) = get(&c, &v1(&format!("/states/{CALIFORNIA}/cities"))).await;
    assert_eq!(status, 200);
    // Same created_at: ordered by id.
    assert_eq!(
        cities,
        json!([
            {"__class__": "City", "id": SAN_FRANCISCO, "created_at": "2017-03-25T02:17:06.000000",
             "updated_at": "2017-03-25T02:17:06.000000", "state_id": CALIFORNIA,
             "name": "San Francisco"},
            {"__class__": "City", "id": "45903748-fa39-4cd0-8a0b-c62bfe471702",
             "created_at": "2017-03-25T02:17:06.000000",
             "updated_at": "2017-03-25T02:17:06.000000", "state_id": CALIFORNIA,
             "name": "Los Angeles"},
        ])
    );

    let (status, reviews) = get(&c, &v1(&format!("/places/{LOVELY_PLACE}/reviews"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        reviews,
        json!([
            {"__class__": "Review", "id": "3f54d114-582d-4dab-8559-f0682dbf1fa6",
             "created_at": "2017-03-25T19:42:50.000000", "updated_at": "2017-03-25T19:42:50.000000",
             "place_id": LOVELY_PLACE, "user_id": "0b40e57c-8ffd-4ac0-aeaf-2ae5ad1ea4c7",
             "text": "Great view, would stay again"},
            {"__class__": "Review", "id": "7a9d0f9c-46a4-4a1c-a1f6-2a3b5e8f9c01",
             "created_at": "2017-03-25T19:42:51.000000", "updated_at": "2017-03-25T19:42:51.000000",
             "place_id": LOVELY_PLACE, "user_id": "00a11245-12fa-436e-9ccc-967417f8c30a",
             "text": "Bring a jacket"},
        ])
    );

    let (status, place) = get(&c, &v1(&format!("/places/{LOVELY_PLACE}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        place,
        json!({"__class__": "Place", "id": LOVELY_PLACE,
               "created_at": "2017-03-25T19:42:40.000000", "updated_at": "2017-03-25T19:42:40.000000",
               "city_id": SAN_FRANCISCO, "user_id": "00a11245-12fa-436e-9ccc-967417f8c30a",
               "name": "Lovely place", "description": "Cozy <b>loft</b> by the bay",
               "number_rooms": 3, "number_bathrooms": 1, "max_guest": 6, "price_by_night": 120,
               "latitude": 37.75, "longitude": -122.5})
    );
    // latin1 text comes out as UTF-8.
    let (_, user) = get(&c, &v1("/users/00a11245-12fa-436e-9ccc-967417f8c30a")).await;
    assert_eq!(
        (user["first_name"].as_str(), user["last_name"].as_str()),
        (Some("José"), Some("Nuñez"))
    );

    for (filters, expected) in [
        (json!({}), vec![LOVELY_PLACE, DESERT_HOME]),
        (json!({"states": [CALIFORNIA]}), vec![LOVELY_PLACE]),
        (
            json!({"states": [NEVADA], "cities": [SAN_FRANCISCO]}),
            vec![LOVELY_PLACE, DESERT_HOME],
        ),
        (json!({"amenities": [WIFI, CABLE]}), vec![LOVELY_PLACE]),
        (json!({"states": [NEVADA], "amenities": [WIFI]}), vec![]),
    ] {
        let (status, found) = post(&c, &v1("/places_search"), &filters).await;
        assert_eq!(status, 200, "{filters}");
        assert_eq!(ids(&found), expected, "{filters}");
    }

    let page = web.url("/2-hbnb/");
    let response = c.get(&page).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    for text in [
        "California",
        "Nevada",
        "San Francisco",
        "Reno",
        "Wireless Internet",
        "Cable TV",
        "Lovely place",
        "Desert home",
        "<b>Owner:</b> José Nuñez",
        "<b>Owner:</b> Jeff Bezos",
        "$120",
    ] {
        assert!(body.contains(text), "{text} not on /2-hbnb/: {body}");
    }
    assert!(
        !body.contains("Cozy <b>loft"),
        "unescaped description: {body}"
    );

    // A write the course's own code reads back: DATETIME keeps whole seconds, and the answer is
    // what was stored.
    let (status, state) = post(&c, &v1("/states"), &json!({"name": "Oregon"})).await;
    assert_eq!(status, 201, "{state}");
    let id = id_of(&state);
    let stored = server
        .run(
            Some(&database),
            &format!("SELECT id, created_at, updated_at, name FROM states WHERE id = '{id}'"),
        )
        .unwrap();
    let created = state["created_at"].as_str().unwrap();
    assert!(created.ends_with(".000000"), "{state}");
    let course_format = created.replace('T', " ").replace(".000000", "");
    assert_eq!(
        stored.trim_end(),
        format!("{id}\t{course_format}\t{course_format}\tOregon")
    );
    assert_eq!(get(&c, &v1(&format!("/states/{id}"))).await.1, state);

    // Deletes cascade although the course's keys do not.
    let (status, _) = delete(&c, &v1(&format!("/states/{CALIFORNIA}"))).await;
    assert_eq!(status, 200);
    let (_, stats) = get(&c, &v1("/stats")).await;
    assert_eq!(
        stats,
        json!({"amenities": 3, "cities": 1, "places": 1, "reviews": 1, "states": 2, "users": 2})
    );
    let links = server
        .run(Some(&database), "SELECT COUNT(*) FROM place_amenity")
        .unwrap();
    assert_eq!(links.trim(), "1");
    assert_eq!(schema(&server, &database), before);
    drop(web);
    drop(api);
}

/// Some of the course's tables but not all: the services refuse to start rather than guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_course_schema_is_refused() {
    let db = TestDb::new(Engine::Mysql);
    let server = MariadbServer::from_admin_url();
    let database = db.url.rsplit('/').next().unwrap().to_owned();
    server
        .run(
            Some(&database),
            "CREATE TABLE states (id VARCHAR(60) NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, \
             updated_at DATETIME NOT NULL, name VARCHAR(128) NOT NULL) DEFAULT CHARSET=latin1",
        )
        .unwrap();
    let error = hbnb_storage::Database::connect(&db.url).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("some of the HBNB tables but not all"),
        "{error}"
    );
}
