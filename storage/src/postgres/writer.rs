//! PostgreSQL's writes, committed in groups when they arrive together.
//!
//! A durable PostgreSQL commit is cheap on the disk (concurrent commits share a WAL flush) but
//! not on the machine: every write alone is a transaction of its own, a round trip, and a
//! backend woken for each, about 80 µs of server CPU per write on this kind of machine, which
//! made writes through the gateway a third of their target. So, as the SQLite writer does
//! (`crate::sqlite::writer`), writes that wait at the same time share one transaction, sent as one
//! message: `BEGIN; <write 1>; ...; <write n>; COMMIT` (PostgreSQL's simple-query protocol runs
//! the statements in order and answers each). A pipeline of 8 inserts in one transaction was
//! measured at 3.7 times the inserts per second of 8 transactions (pgbench, 16 clients).
//!
//! The simple-query protocol takes no parameters, so a group's statements carry their values as
//! literals: every value is written as a quoted, untyped constant (`E'...'`, backslash and quote
//! escaped; PostgreSQL gives it the column's type, as it does a parameter), and a value that
//! cannot be one (text with a NUL byte) makes its write run alone, bound as usual. A write alone
//! (no other waiting) runs as a prepared statement with its parameters, as before.
//!
//! A statement that fails (a foreign key, a value too long) aborts the transaction: it is rolled
//! back, the failed write answers its error, and the rest of the group runs again without it, so
//! that every write answers what it would have answered run alone in the group's order. Any
//! other failure (the connection, the commit) answers every write of the group with the error;
//! none of them was acknowledged. A write is acknowledged only once its commit has succeeded.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgQueryResult, PgRow};
use sqlx::{Connection, Either, Executor, Postgres};
use tokio::sync::mpsc;

use super::literal;
use crate::error::connection_failed;
use crate::group_commit::{collect, Answer, Failure};
use crate::server::{acquire, answer_within, PING_AFTER_IDLE};
use crate::write::{add_all, Value};

/// The most writes sharing one commit (a failing one makes the rest run again).
const GROUP: usize = 64;

/// A write waiting for the writer, with its values as constants for a group (`prepared`;
/// None: it runs alone).
type Job = crate::group_commit::Job<PgRow, Option<String>>;

pub(crate) type Writer = crate::group_commit::Writer<PgRow, Option<String>>;

/// Starts the writer task; it runs each group on a connection of `pool`. `grouped` false: every
/// write runs alone (`PG_GROUP_COMMIT=off`, see `literal`).
///
/// One group at a time, as SQLite's writer: while it commits, the next group gathers. With
/// 32 clients creating and deleting, one writer answered 17.7k writes/s where two answered
/// 15-17k and four 11k (smaller groups: more transactions). The cost: a slow write (a delete
/// that cascades to many rows) delays the writes queued behind it; reads are not affected.
pub(crate) fn start(pool: PgPool, grouped: bool) -> Writer {
    let constants =
        move |sql: &str, values: &[Value]| grouped.then(|| literal::inlined(sql, values)).flatten();
    let (writer, jobs) = Writer::new("PostgreSQL", constants);
    tokio::spawn(run(pool, jobs));
    writer
}

/// The writer: takes what waits (up to `GROUP`), runs it on a pooled connection, answers it.
///
/// The connection is kept from one group to the next: the same
/// backend, warm, for every group, instead of the pool's idle connections in turn (each a
/// PostgreSQL process of its own, with cold caches). One that sat idle for `PING_AFTER_IDLE`
/// is pinged first, as the pool does (a server restart or a firewall may have ended it). It is
/// let go when the pool closes, which waits for every connection to come back, or closed when
/// it fails; until then it is the writer's, outside the pool's `max_lifetime` and `idle_timeout`.
async fn run(pool: PgPool, mut queue: mpsc::Receiver<Job>) {
    let mut taken = Vec::with_capacity(GROUP);
    let mut held: Option<(PoolConnection<Postgres>, Instant)> = None;
    loop {
        let received = if held.is_some() {
            tokio::select! {
                received = queue.recv_many(&mut taken, GROUP) => received,
                // Closing the pool waits for every connection: let go of this one.
                () = pool.close_event() => {
                    held = None;
                    queue.recv_many(&mut taken, GROUP).await
                }
            }
        } else {
            queue.recv_many(&mut taken, GROUP).await
        };
        if received == 0 {
            return;
        }
        let mut connection = match warm(held.take()).await {
            Some(connection) => connection,
            None => match acquire(&pool).await {
                Ok(connection) => connection,
                Err(error) => {
                    let reason: Arc<str> = format!("no database connection: {error}").into();
                    for job in taken.drain(..) {
                        (job.finish)(Err(Failure::Commit(reason.clone())));
                    }
                    continue;
                }
            },
        };
        // Bounded: a server that stops answering (the link cut) would hold every write queued
        // behind this group for as long as TCP waits. The writes of a group given up on are
        // dropped unanswered: their callers get an error (503), none was acknowledged.
        let ran = answer_within(async { Ok(run_taken(&mut connection, &mut taken).await) });
        if let Ok(true) = ran.await {
            held = Some((connection, Instant::now()));
        } else {
            // Its state is unknown: not given back to the pool.
            taken.clear();
            connection.close_on_drop();
        }
    }
}

/// The held connection if it is still good: used within `PING_AFTER_IDLE`, or answering a ping.
async fn warm(
    held: Option<(PoolConnection<Postgres>, Instant)>,
) -> Option<PoolConnection<Postgres>> {
    let (mut connection, used) = held?;
    if used.elapsed() < PING_AFTER_IDLE || answer_within(connection.ping()).await.is_ok() {
        return Some(connection);
    }
    connection.close_on_drop();
    None
}

/// Runs and answers the writes `taken` (leaving it empty); false when the connection was left
/// in an unknown state.
async fn run_taken(connection: &mut PgConnection, taken: &mut Vec<Job>) -> bool {
    // Writes with no constants form no group: each runs alone, as does a group of one.
    let (mut group, mut alone): (Vec<Job>, Vec<Job>) =
        taken.drain(..).partition(|job| job.prepared.is_some());
    if group.len() == 1 {
        alone.append(&mut group);
    }
    let mut sound = true;
    for job in alone {
        // In a transaction of its own, as a prepared statement.
        let mut values = PgArguments::default();
        let outcome = match add_all(&job.values, &mut values) {
            Ok(()) => {
                let results = connection.fetch_many(sqlx::query_with(&job.sql, values));
                collect(results, PgQueryResult::rows_affected).await
            }
            Err(error) => Err(error),
        };
        // A statement's own error leaves the connection as it was; any other may not (the
        // server ending the session comes as a database error too: 57P01).
        sound &= match &outcome {
            Ok(_) => true,
            Err(error) => matches!(error, sqlx::Error::Database(_)) && !connection_failed(error),
        };
        (job.finish)(outcome.map_err(Failure::Statement));
    }
    if group.is_empty() {
        return sound;
    }
    let writes = group.len();
    sound &= commit_group(connection, group.into()).await;
    tracing::trace!(writes, "group commit");
    sound
}

/// Runs `pending` in one transaction, again without each write whose statement fails, and
/// answers every write; false when the connection was left in an unknown state.
async fn commit_group(connection: &mut PgConnection, mut pending: VecDeque<Job>) -> bool {
    let mut after_failure = false;
    loop {
        let call = group_sql(&pending, after_failure);
        match run_call(connection, &call, pending.len(), after_failure).await {
            Call::Committed(answers) => {
                for (job, answer) in pending.into_iter().zip(answers) {
                    (job.finish)(Ok(answer));
                }
                return true;
            }
            Call::StatementFailed(index, error) => {
                // Rolled back (at the start of the next call): the rest goes again without it.
                if let Some(job) = pending.remove(index) {
                    (job.finish)(Err(Failure::Statement(error)));
                }
                if pending.is_empty() {
                    let _ = connection.execute(sqlx::raw_sql("ROLLBACK")).await;
                    return true;
                }
                after_failure = true;
            }
            Call::Failed(reason) => {
                tracing::error!(%reason, "a group of PostgreSQL writes failed and was rolled back");
                let reason: Arc<str> = reason.into();
                for job in pending {
                    (job.finish)(Err(Failure::Commit(reason.clone())));
                }
                return false;
            }
        }
    }
}

enum Call {
    /// Every statement ran and the transaction is committed: their answers, in order.
    Committed(Vec<Answer<PgRow>>),
    /// The statement of the write at this index failed; the transaction is aborted.
    StatementFailed(usize, sqlx::Error),
    /// Anything else: nothing of the group is committed.
    Failed(String),
}

/// One message: `[ROLLBACK;] BEGIN; <statements>; COMMIT`.
fn group_sql(pending: &VecDeque<Job>, rollback_first: bool) -> String {
    let mut sql = String::with_capacity(32 + pending.len() * 200);
    if rollback_first {
        sql.push_str("ROLLBACK;\n");
    }
    sql.push_str("BEGIN;\n");
    for job in pending {
        sql.push_str(job.prepared.as_deref().unwrap_or_default());
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT");
    sql
}

/// Runs a [`group_sql`] call of `writes` statements and collects their answers.
async fn run_call(
    connection: &mut PgConnection,
    sql: &str,
    writes: usize,
    rollback_first: bool,
) -> Call {
    // Completions before the first write's: ROLLBACK (if any) and BEGIN.
    let first_write = 1 + usize::from(rollback_first);
    let mut completed = 0;
    let mut answers = Vec::with_capacity(writes);
    let mut answer = Answer::empty();
    let mut results = connection.fetch_many(sqlx::raw_sql(sql));
    loop {
        match results.try_next().await {
            Ok(Some(Either::Right(row))) => answer.rows.push(row),
            Ok(Some(Either::Left(done))) => {
                if (first_write..first_write + writes).contains(&completed) {
                    answer.changes = done.rows_affected();
                    answers.push(std::mem::replace(&mut answer, Answer::empty()));
                }
                completed += 1;
            }
            Ok(None) if answers.len() == writes && completed == first_write + writes + 1 => {
                return Call::Committed(answers);
            }
            Ok(None) => {
                return Call::Failed("the group's call ended before its statements did".into())
            }
            Err(error) => {
                let write = completed.checked_sub(first_write).filter(|&i| i < writes);
                return match (write, error) {
                    // The server ending the session is no failure of that write's own.
                    (Some(index), error @ sqlx::Error::Database(_))
                        if !connection_failed(&error) =>
                    {
                        Call::StatementFailed(index, error)
                    }
                    (Some(_), error) => Call::Failed(format!("a write failed: {error}")),
                    (None, error) if completed < first_write => {
                        Call::Failed(format!("BEGIN: {error}"))
                    }
                    (None, error) => Call::Failed(format!("COMMIT: {error}")),
                };
            }
        }
    }
}
