//! The fence around PostgreSQL's group-commit constants (`hbnb_storage`'s `postgres::literal`):
//! generated Unicode text, written in groups (its values inlined into the SQL as constants), is
//! stored and read back exactly as sent; and a session whose settings would change what an
//! escaped constant means is refused at connect.

use futures_util::future::join_all;
use hbnb_storage::{Database, State, StorageError};
use hbnb_tests::db::{Engine, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Text a name column takes: up to 128 characters of any Unicode but NUL (which PostgreSQL
/// text cannot hold: such a write runs alone and is refused, see pg_group_commit.rs).
fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>().prop_filter("no NUL", |c| *c != '\0'), 0..=128)
        .prop_map(|chars| chars.into_iter().collect())
}

#[test]
fn generated_text_round_trips_through_group_commit() {
    let test_db = TestDb::new(Engine::Postgres);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let db = runtime
        .block_on(Database::connect(&test_db.url))
        .expect("connect");
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    // Each case is a batch written together (one `join_all` on a current-thread runtime: the
    // writes queue before the writer runs, so they form a group and go as constants).
    let batches = proptest::collection::vec(name(), 2..16);
    runner
        .run(&batches, |names| {
            runtime.block_on(async {
                let created = join_all(names.iter().map(|name| db.create_state(name))).await;
                for (answer, name) in created.into_iter().zip(&names) {
                    let state =
                        answer.map_err(|e| TestCaseError::fail(format!("{e}: {name:?}")))?;
                    prop_assert_eq!(&state.name, name);
                    let stored = db.get::<State>(&state.id).await.expect("read back");
                    prop_assert_eq!(stored.map(|s| s.name), Some(name.clone()));
                }
                Ok(())
            })
        })
        .expect("every generated name stored as sent");
    // The writes did go in groups: fewer transactions than writes.
    let (writes, transactions): (usize, usize) = (
        test_db.psql("SELECT count(*) FROM states").parse().unwrap(),
        test_db
            .psql("SELECT count(DISTINCT xmin::text) FROM states")
            .parse()
            .unwrap(),
    );
    assert!(
        transactions < writes,
        "{transactions} transactions for {writes} writes: no group commit"
    );
    runtime.block_on(db.close());
}

#[tokio::test]
async fn a_session_whose_quotes_mean_otherwise_is_refused_at_connect() {
    let test_db = TestDb::new(Engine::Postgres);
    let separator = if test_db.url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{separator}options=-c%20standard_conforming_strings%3Doff",
        test_db.url
    );
    let refused = Database::connect(&url).await;
    assert!(
        matches!(&refused, Err(StorageError::Session(reason)) if reason.contains("standard_conforming_strings is off")),
        "{refused:?}"
    );
}
