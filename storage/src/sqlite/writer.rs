//! SQLite's writes, through one connection that commits them in groups.
//!
//! SQLite has one writer at a time. Several pooled connections writing at once only queue on the
//! file lock (each waiting in SQLite's busy handler, which sleeps), and with `synchronous=FULL`
//! every commit waits for the disk. So every write of this process goes to one task that owns a
//! connection: when writes arrive faster than the disk syncs, the ones that queued up meanwhile
//! run in one transaction and share one commit (group commit, as PostgreSQL and MariaDB do). A
//! write is acknowledged only once its commit has succeeded.
//!
//! Each write is one statement, given as data (`crate::write::Write`: SQL and its values), so that a
//! whole group goes to the connection's thread as one multi-statement call:
//! `BEGIN IMMEDIATE; <write 1>; ...; <write n>; COMMIT`. sqlx runs each SQLite connection on a
//! thread of its own and every call is a round trip to it (two thread wake-ups, tens of
//! microseconds on this kind of machine), which made the statement-by-statement group the
//! bottleneck of every write. A statement that breaks a constraint (a foreign key, uniqueness)
//! is undone alone by SQLite: its write answers the error and the rest of the group goes on in
//! the next call. Any other failure ends the group: it is rolled back and every write in it
//! answers the error (none of them was acknowledged).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use futures_util::TryStreamExt;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteQueryResult, SqliteRow,
};
use sqlx::{query_with, Arguments, ConnectOptions, Either, Executor};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::group_commit::{collect, Answer, Failure};
use crate::write::add_all;

/// The most writes sharing one commit.
const GROUP: usize = 256;

type Finish = crate::group_commit::Finish<SqliteRow>;

type Job = crate::group_commit::Job<SqliteRow, ()>;

pub(crate) type Writer = crate::group_commit::Writer<SqliteRow, ()>;

/// Opens the write connection and starts its task.
pub(crate) async fn start(options: &SqliteConnectOptions) -> Result<Writer> {
    let connection = options.connect().await?;
    let (writer, jobs) = Writer::new("SQLite", |_, _| ());
    tokio::spawn(run(connection, jobs));
    Ok(writer)
}

async fn run(mut connection: SqliteConnection, mut queue: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(GROUP);
    while queue.recv_many(&mut group, GROUP).await > 0 {
        if group.len() == 1 {
            // Alone: its own statement is its own transaction.
            if let Some(job) = group.pop() {
                let mut values = SqliteArguments::default();
                let outcome = match add_all(&job.values, &mut values) {
                    Ok(()) => {
                        let results = connection.fetch_many(query_with(&job.sql, values));
                        collect(results, SqliteQueryResult::rows_affected).await
                    }
                    Err(error) => Err(error),
                };
                (job.finish)(outcome.map_err(Failure::Statement));
            }
            continue;
        }
        let writes = group.len();
        commit_group(&mut connection, group.drain(..)).await;
        tracing::trace!(writes, "group commit");
    }
}

/// True for an error SQLite undid alone (the statement), leaving the transaction intact.
fn statement_only(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() != sqlx::error::ErrorKind::Other)
}

/// Runs `jobs` in one transaction: as few calls to the connection's thread as the group's
/// constraint failures allow (one when there are none), then answers every job.
async fn commit_group(connection: &mut SqliteConnection, jobs: impl Iterator<Item = Job>) {
    let mut pending: VecDeque<Job> = jobs.collect();
    // Jobs whose statement ran, waiting for the commit.
    let mut ran: Vec<(Finish, Answer<SqliteRow>)> = Vec::with_capacity(pending.len());
    let mut begun = false;
    let failure = loop {
        match run_calls(connection, &mut pending, &mut ran, begun).await {
            Call::Committed => {
                for (finish, answer) in ran {
                    finish(Ok(answer));
                }
                return;
            }
            Call::StatementFailed(job, error) => {
                // Undone alone; the rest of the group goes on in the next call.
                begun = true;
                (job.finish)(Err(Failure::Statement(error)));
            }
            Call::Failed(reason, job) => {
                if let Some((job, error)) = job {
                    (job.finish)(Err(Failure::Statement(error)));
                }
                break reason;
            }
        }
    };
    tracing::error!(reason = %failure, "a group of SQLite writes failed and was rolled back");
    let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
    let reason: Arc<str> = failure.into();
    let unrun = pending.into_iter().map(|job| job.finish);
    for finish in ran.into_iter().map(|(finish, _)| finish).chain(unrun) {
        finish(Err(Failure::Commit(reason.clone())));
    }
}

enum Call {
    /// Every pending statement ran and the transaction is committed.
    Committed,
    /// This job's statement broke a constraint and was undone alone; the transaction is open.
    StatementFailed(Job, sqlx::Error),
    /// Anything else: the group must be rolled back (with the job whose statement failed).
    Failed(String, Option<(Job, sqlx::Error)>),
}

/// One call: `[BEGIN IMMEDIATE;] <pending statements>; COMMIT`, each statement's placeholders
/// renumbered after the previous ones' arguments. Moves each job whose statement ran to `ran`.
async fn run_calls(
    connection: &mut SqliteConnection,
    pending: &mut VecDeque<Job>,
    ran: &mut Vec<(Finish, Answer<SqliteRow>)>,
    begun: bool,
) -> Call {
    let mut sql = String::with_capacity(64 + pending.len() * 160);
    if !begun {
        sql.push_str("BEGIN IMMEDIATE;\n");
    }
    let mut arguments = SqliteArguments::default();
    for job in pending.iter() {
        let offset = arguments.len();
        append_renumbered(&mut sql, &job.sql, offset);
        sql.push_str(";\n");
        if let Err(error) = add_all(&job.values, &mut arguments) {
            return Call::Failed(format!("cannot bind a write's arguments: {error}"), None);
        }
    }
    sql.push_str("COMMIT");
    // Statements of the call, in order: BEGIN (unless begun), one per pending job, COMMIT.
    let first_job = usize::from(!begun);
    let mut index = 0;
    let mut answer = Answer::empty();
    // Several statements in one call with bound arguments: SQLite's driver prepares them one
    // after the other from the string (as its migrations do), binding `$n` to argument n.
    // `Query::fetch_many` is deprecated because no other engine can; the connection's
    // `Executor::fetch_many` is what every query runs through. Not kept in the statement
    // cache: a group's text is seldom seen twice.
    let call = sqlx::query_with(&sql, arguments).persistent(false);
    let mut results = connection.fetch_many(call);
    loop {
        match results.try_next().await {
            Ok(Some(Either::Right(row))) => answer.rows.push(row),
            Ok(Some(Either::Left(done))) => {
                if index >= first_job {
                    if let Some(job) = pending.pop_front() {
                        answer.changes = done.rows_affected();
                        let answered = std::mem::replace(&mut answer, Answer::empty());
                        ran.push((job.finish, answered));
                    }
                }
                index += 1;
            }
            Ok(None) => {
                return if pending.is_empty() {
                    Call::Committed
                } else {
                    Call::Failed("the call ended before its statements did".into(), None)
                };
            }
            Err(error) => {
                let job = if index >= first_job {
                    pending.pop_front()
                } else {
                    None
                };
                return match job {
                    Some(job) if statement_only(&error) => Call::StatementFailed(job, error),
                    Some(job) => {
                        Call::Failed(format!("a write failed: {error}"), Some((job, error)))
                    }
                    None if index == 0 && !begun => Call::Failed(format!("BEGIN: {error}"), None),
                    None => Call::Failed(format!("COMMIT: {error}"), None),
                };
            }
        }
    }
}

/// Appends `sql` with every `$n` placeholder written as `$(n + offset)`.
fn append_renumbered(out: &mut String, sql: &str, offset: usize) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => {
                let _ = write!(out, "{}", n + offset);
            }
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::append_renumbered;

    #[test]
    fn placeholders_are_renumbered_after_the_previous_arguments() {
        let mut sql = String::new();
        append_renumbered(&mut sql, "INSERT INTO t VALUES ($1, $2, $2, $10)", 3);
        assert_eq!(sql, "INSERT INTO t VALUES ($4, $5, $5, $13)");
        let mut sql = String::new();
        append_renumbered(&mut sql, "DELETE FROM t WHERE id = $1", 0);
        assert_eq!(sql, "DELETE FROM t WHERE id = $1");
    }
}

/// The group path against a real SQLite file: every write queued before the writer runs (one
/// `join_all` on a current-thread runtime) shares one group.
#[cfg(test)]
mod group_tests {
    use futures_util::future::join_all;

    use crate::database::Database;
    use crate::error::StorageError;
    use crate::models::State;

    struct TempDatabase {
        db: Database,
        path: std::path::PathBuf,
    }

    impl Drop for TempDatabase {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm", ".migrate.lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }

    async fn database() -> TempDatabase {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "hbnb_writer_{}_{}.sqlite",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let db = Database::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("open a database");
        TempDatabase { db, path }
    }

    #[tokio::test]
    async fn every_write_of_a_group_is_answered_and_stored() {
        let temp = database().await;
        let db = &temp.db;
        let names: Vec<String> = (0..200).map(|i| format!("state {i}")).collect();
        let created = join_all(names.iter().map(|name| db.create_state(name))).await;
        for (state, name) in created.iter().zip(&names) {
            let state = state.as_ref().expect("created");
            assert_eq!(&state.name, name);
            let stored = db.get::<State>(&state.id).await.unwrap().expect("stored");
            assert_eq!(stored.name, *name);
        }
        assert_eq!(db.list::<State>().await.unwrap().len(), 200);
    }

    #[tokio::test]
    async fn a_write_that_breaks_a_constraint_fails_alone_and_its_group_goes_on() {
        let temp = database().await;
        let db = &temp.db;
        let state = db.create_state("California").await.unwrap();
        // Valid and invalid (unknown state: a foreign key) writes interleaved in one group.
        let parents: Vec<String> = (0..60)
            .map(|i| {
                if i % 3 == 1 {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    state.id.clone()
                }
            })
            .collect();
        let answers = join_all(parents.iter().map(|parent| db.create_city(parent, "city"))).await;
        for (answer, parent) in answers.iter().zip(&parents) {
            if *parent == state.id {
                assert_eq!(answer.as_ref().expect("a valid city").state_id, state.id);
            } else {
                assert!(
                    matches!(answer, Err(StorageError::MissingReference)),
                    "{answer:?}"
                );
            }
        }
        assert_eq!(db.cities_of_state(&state.id).await.unwrap().len(), 40);
    }

    #[tokio::test]
    async fn writes_of_one_group_see_each_other_in_order() {
        let temp = database().await;
        let db = &temp.db;
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
        let (updated, was_deleted, late_update) = tokio::join!(
            db.update_state(&kept_update),
            db.delete::<State>(&deleted),
            db.update_state(&gone_update),
        );
        assert_eq!(updated.unwrap().expect("still there").name, "Kept, renamed");
        assert!(was_deleted.unwrap());
        assert!(late_update.unwrap().is_none(), "updated after its delete");
        assert!(!db.delete::<State>(&deleted).await.unwrap());
        let stored = db.get::<State>(&kept.id).await.unwrap().unwrap();
        assert_eq!(stored.name, "Kept, renamed");
    }
}
