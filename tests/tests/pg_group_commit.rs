//! PostgreSQL's group commit (`hbnb_storage`'s `postgres::writer`): writes that wait together share one
//! transaction, their values written into the SQL as constants. Each test queues all its writes
//! before the writers run (one `join_all` on a current-thread runtime), so they form groups.

use futures_util::future::join_all;
use hbnb_storage::{Database, State, StorageError};
use hbnb_tests::db::{Engine, TestDb};

async fn database() -> (TestDb, Database) {
    let test_db = TestDb::new(Engine::Postgres);
    let db = Database::connect(&test_db.url).await.expect("connect");
    (test_db, db)
}

/// Names a careless quoting would break or turn into SQL.
fn hostile_name(i: usize) -> String {
    let tricks = [
        "O'Hare",
        "back\\slash\\",
        "'); DROP TABLE states; --",
        "E'\\x41'",
        "$1 $2 $$ dollar $$",
        "new\nline\ttab",
        "é 中文 🏠",
        "\\'",
        "",
    ];
    format!("{} #{i}", tricks[i % tricks.len()])
}

#[tokio::test]
async fn every_write_of_a_group_is_answered_and_stored_as_it_was_sent() {
    let (test_db, db) = database().await;
    let names: Vec<String> = (0..200).map(hostile_name).collect();
    let created = join_all(names.iter().map(|name| db.create_state(name))).await;
    for (state, name) in created.iter().zip(&names) {
        let state = state.as_ref().expect("created");
        assert_eq!(&state.name, name);
        let stored = db.get::<State>(&state.id).await.unwrap().expect("stored");
        assert_eq!(&stored, state, "the answer is what was stored");
    }
    assert_eq!(db.list::<State>().await.unwrap().len(), 200);
    // Rows written by one transaction share its id (xmin): the 200 writes took far fewer.
    let transactions: usize = test_db
        .psql("SELECT count(DISTINCT xmin::text) FROM states")
        .parse()
        .unwrap();
    assert!(
        transactions <= 50,
        "{transactions} transactions for 200 writes: no group commit"
    );
    db.close().await;
}

#[tokio::test]
async fn a_write_that_fails_fails_alone_and_its_group_goes_on() {
    let (_test_db, db) = database().await;
    let state = db.create_state("California").await.unwrap();
    // Valid writes interleaved with a missing state (a foreign key), a name longer than its
    // column (a value error) and a NUL byte (no constant: it runs alone, refused by the server).
    let requests: Vec<(String, String)> = (0..60)
        .map(|i| match i % 4 {
            1 => (
                format!("00000000-0000-4000-8000-{i:012}"),
                "orphan".to_owned(),
            ),
            2 => (state.id.clone(), "x".repeat(200)),
            3 if i % 8 == 3 => (state.id.clone(), "nul\0byte".to_owned()),
            _ => (state.id.clone(), format!("city {i}")),
        })
        .collect();
    let answers = join_all(
        requests
            .iter()
            .map(|(parent, name)| db.create_city(parent, name)),
    )
    .await;
    let mut valid = 0;
    for (answer, (parent, name)) in answers.iter().zip(&requests) {
        if *parent != state.id {
            assert!(
                matches!(answer, Err(StorageError::MissingReference)),
                "{answer:?}"
            );
        } else if name.len() > 128 || name.contains('\0') {
            assert!(
                matches!(answer, Err(StorageError::Sqlx(_))),
                "{name:?}: {answer:?}"
            );
        } else {
            let city = answer.as_ref().expect("a valid city");
            assert_eq!((&city.state_id, &city.name), (parent, name));
            valid += 1;
        }
    }
    let stored = db.cities_of_state(&state.id).await.unwrap();
    assert_eq!(stored.len(), valid);
    assert_eq!(valid, 22);
    db.close().await;
}

#[tokio::test]
async fn a_group_whose_writes_all_fail_leaves_the_writer_working() {
    let (test_db, db) = database().await;
    // Every city of the group names a missing state: each write fails in turn, none is left.
    let orphans: Vec<String> = (0..12)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    let answers = join_all(
        orphans
            .iter()
            .map(|parent| db.create_city(parent, "orphan")),
    )
    .await;
    for answer in &answers {
        assert!(
            matches!(answer, Err(StorageError::MissingReference)),
            "{answer:?}"
        );
    }
    // The aborted transaction was rolled back: the next writes commit, alone and in a group.
    let state = db
        .create_state("Oregon")
        .await
        .expect("a write after the failed group");
    let names: Vec<String> = (0..8).map(|i| format!("city {i}")).collect();
    let cities = join_all(names.iter().map(|name| db.create_city(&state.id, name))).await;
    assert!(cities.iter().all(Result::is_ok), "{cities:?}");
    assert_eq!(test_db.psql("SELECT count(*) FROM cities"), "8");
    db.close().await;
}

#[tokio::test]
async fn writes_of_one_group_see_each_other_in_order() {
    let (_test_db, db) = database().await;
    let kept = db.create_state("Kept").await.unwrap();
    let gone = db.create_state("Gone").await.unwrap();
    let renamed = |state: &State, name: &str| State {
        name: name.to_owned(),
        ..state.clone()
    };
    let (kept_update, deleted, gone_update) = (
        renamed(&kept, "Kept, renamed"),
        gone.id.clone(),
        renamed(&gone, "Gone, renamed"),
    );
    let (updated, was_deleted, late_update, again) = tokio::join!(
        db.update_state(&kept_update),
        db.delete::<State>(&deleted),
        db.update_state(&gone_update),
        db.delete::<State>(&deleted),
    );
    assert_eq!(updated.unwrap().expect("still there").name, "Kept, renamed");
    assert!(was_deleted.unwrap());
    assert!(late_update.unwrap().is_none(), "updated after its delete");
    assert!(!again.unwrap(), "deleted twice");
    let stored = db.get::<State>(&kept.id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Kept, renamed");
    assert!(stored.updated_at >= kept.updated_at);
    db.close().await;
}

#[tokio::test]
async fn every_model_reads_back_from_a_group_as_it_is_stored() {
    let (_test_db, db) = database().await;
    let state = db.create_state("Nevada").await.unwrap();
    let city = db.create_city(&state.id, "Reno").await.unwrap();
    let emails: Vec<String> = (0..20).map(|i| format!("user{i}@example.com")).collect();
    let users = join_all(emails.iter().enumerate().map(|(i, email)| {
        let first = (i % 2 == 0).then_some("Ada");
        db.create_user(email, "$argon2id$hash'\\", first, None)
    }))
    .await;
    let users: Vec<hbnb_storage::User> = users.into_iter().map(|u| u.expect("a user")).collect();
    for user in &users {
        assert_eq!(
            &db.get::<hbnb_storage::User>(&user.id)
                .await
                .unwrap()
                .unwrap(),
            user
        );
    }
    // Doubles that a decimal round trip could change, and missing ones.
    let coordinates = [
        Some(0.1),
        Some(1e-7),
        Some(-122.419_415_5),
        Some(37.773_972),
        None,
    ];
    let fields: Vec<hbnb_storage::PlaceFields> = (0..20)
        .map(|i| hbnb_storage::PlaceFields {
            name: format!("place {i}"),
            description: (i % 3 != 0).then(|| format!("line one\nline 'two' #{i}")),
            number_rooms: i,
            number_bathrooms: -i,
            max_guest: i32::MAX - i,
            price_by_night: i * 100,
            latitude: coordinates[i as usize % coordinates.len()],
            longitude: coordinates[(i as usize + 1) % coordinates.len()],
        })
        .collect();
    let places = join_all(
        fields
            .iter()
            .zip(&users)
            .map(|(fields, user)| db.create_place(&city.id, &user.id, fields)),
    )
    .await;
    let places: Vec<hbnb_storage::Place> =
        places.into_iter().map(|p| p.expect("a place")).collect();
    for (place, fields) in places.iter().zip(&fields) {
        assert_eq!(place.latitude, fields.latitude);
        assert_eq!(place.longitude, fields.longitude);
        assert_eq!(
            &db.get::<hbnb_storage::Place>(&place.id)
                .await
                .unwrap()
                .unwrap(),
            place
        );
    }
    let reviews = join_all(
        places
            .iter()
            .zip(&users)
            .map(|(place, user)| db.create_review(&place.id, &user.id, "great \\ 'stay'")),
    )
    .await;
    for review in reviews {
        let review = review.expect("a review");
        assert_eq!(review.text, "great \\ 'stay'");
        assert_eq!(
            &db.get::<hbnb_storage::Review>(&review.id)
                .await
                .unwrap()
                .unwrap(),
            &review
        );
    }
    db.close().await;
}
