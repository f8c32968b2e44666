//! PostgreSQL's writes, committed in groups when they arrive together.
//!
//! A durable PostgreSQL commit is cheap on the disk (concurrent commits share a WAL flush) but
//! not on the machine: every write alone is a transaction of its own, a round trip, and a
//! backend woken for each, about 80 µs of server CPU per write on this kind of machine, which
//! made writes through the gateway a third of their target. So, as the SQLite writer does
//! (`crate::writer`), writes that wait at the same time share one transaction, sent as one
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

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow};
use sqlx::{Arguments, Connection, Either, Encode, Executor, Postgres, Type};
use tokio::sync::mpsc;

use crate::writer::{submit, Answer, Failure, Finish};
use crate::Result;

/// Writes that may wait for a writer; more at once wait to be queued (back-pressure).
const QUEUE: usize = 1024;
/// The most writes sharing one commit (a failing one makes the rest run again).
const GROUP: usize = 64;

/// A value that can be written into a group's SQL as a PostgreSQL constant.
pub(crate) trait Literal {
    /// Appends the constant to `out`; false when the value cannot be one.
    fn write_literal(&self, out: &mut String) -> bool;
}

/// `E'...'`: an untyped string constant whose backslashes are escapes whatever
/// `standard_conforming_strings` says, so `\` and `'` are the only characters to escape. NUL
/// cannot be written (the query is a C string on the server) nor stored in text.
fn quoted(text: &str, out: &mut String) -> bool {
    if text.contains('\0') {
        return false;
    }
    out.reserve(text.len() + 3);
    out.push_str("E'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out.push('\'');
    true
}

impl Literal for String {
    fn write_literal(&self, out: &mut String) -> bool {
        quoted(self, out)
    }
}

impl Literal for i32 {
    fn write_literal(&self, out: &mut String) -> bool {
        quoted(&self.to_string(), out)
    }
}

impl Literal for f64 {
    fn write_literal(&self, out: &mut String) -> bool {
        // Rust's shortest representation that reads back as the same double, as float8in does.
        let text = if self.is_nan() {
            "NaN".to_owned()
        } else if self.is_infinite() {
            if *self > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
        } else {
            self.to_string()
        };
        quoted(&text, out)
    }
}

impl Literal for chrono::NaiveDateTime {
    fn write_literal(&self, out: &mut String) -> bool {
        // Microseconds, as a TIMESTAMP keeps them (`crate::now` has no finer digits).
        quoted(&self.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), out)
    }
}

impl<T: Literal> Literal for Option<T> {
    fn write_literal(&self, out: &mut String) -> bool {
        match self {
            Some(value) => value.write_literal(out),
            None => {
                out.push_str("NULL");
                true
            }
        }
    }
}

/// One write: SQL with `$1`, `$2`... placeholders, its values bound for a call alone and
/// written as constants for a group.
pub(crate) struct Statement {
    sql: Cow<'static, str>,
    arguments: PgArguments,
    /// The values as constants, in order; None once one could not be written as a constant.
    literals: Option<Vec<String>>,
    /// The first value that could not be encoded: the write answers it, unrun.
    unencodable: Option<sqlx::error::BoxDynError>,
}

impl Statement {
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>) -> Statement {
        Statement {
            sql: sql.into(),
            arguments: PgArguments::default(),
            literals: Some(Vec::new()),
            unencodable: None,
        }
    }

    pub(crate) fn bind<T>(mut self, value: T) -> Statement
    where
        T: Literal + for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + 'static,
    {
        if let Some(literals) = &mut self.literals {
            let mut literal = String::new();
            if value.write_literal(&mut literal) {
                literals.push(literal);
            } else {
                self.literals = None;
            }
        }
        if let Err(error) = self.arguments.add(value) {
            self.unencodable.get_or_insert(error);
        }
        self
    }

    /// The statement with each `$n` replaced by the n-th constant; None when one is missing.
    fn inlined(&self) -> Option<String> {
        let literals = self.literals.as_ref()?;
        let mut out =
            String::with_capacity(self.sql.len() + literals.iter().map(String::len).sum::<usize>());
        let mut rest = &*self.sql;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let literal = rest[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| literals.get(n.checked_sub(1)?))?;
            out.push_str(literal);
            rest = &rest[digits..];
        }
        out.push_str(rest);
        Some(out)
    }
}

struct Job {
    statement: Statement,
    /// The statement with its constants, for a group (None: it runs alone).
    inlined: Option<String>,
    finish: Finish<PgRow>,
}

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Starts the writer task; it runs each group on a connection of `pool`.
    ///
    /// One group at a time, as SQLite's writer: while it commits, the next group gathers. With
    /// 32 clients creating and deleting, one writer answered 17.7k writes/s where two answered
    /// 15-17k and four 11k (smaller groups: more transactions). The cost: a slow write (a delete
    /// that cascades to many rows) delays the writes queued behind it; reads are not affected.
    pub(crate) fn start(pool: PgPool) -> Writer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, queue));
        Writer { jobs }
    }

    /// Runs `statement`; `decode` makes the caller's value of its answer once it is committed.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        mut statement: Statement,
        decode: impl FnOnce(Answer<PgRow>) -> sqlx::Result<T> + Send + 'static,
    ) -> Result<T> {
        if let Some(error) = statement.unencodable.take() {
            return Err(sqlx::Error::Encode(error).into());
        }
        // Made here, by the caller's worker, even if the write then runs alone: the writer is
        // one task for every write, and what it does not do is done in parallel.
        let inlined = statement.inlined();
        let job = |finish| Job {
            statement,
            inlined,
            finish,
        };
        submit(&self.jobs, "PostgreSQL", decode, job).await
    }
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
            None => match crate::acquire(&pool).await {
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
        let ran = crate::answer_within(async { Ok(run_taken(&mut connection, &mut taken).await) });
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
    if used.elapsed() < crate::PING_AFTER_IDLE
        || crate::answer_within(connection.ping()).await.is_ok()
    {
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
        taken.drain(..).partition(|job| job.inlined.is_some());
    if group.len() == 1 {
        alone.append(&mut group);
    }
    let mut sound = true;
    for job in alone {
        let outcome = run_alone(connection, job.statement).await;
        // A statement's own error leaves the connection as it was; any other may not (the
        // server ending the session comes as a database error too: 57P01).
        sound &= match &outcome {
            Ok(_) => true,
            Err(error) => {
                matches!(error, sqlx::Error::Database(_)) && !crate::connection_failed(error)
            }
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

/// A write in a transaction of its own, as a prepared statement.
async fn run_alone(
    connection: &mut PgConnection,
    statement: Statement,
) -> sqlx::Result<Answer<PgRow>> {
    let mut answer = Answer::empty();
    let mut results = connection.fetch_many(sqlx::query_with(&statement.sql, statement.arguments));
    while let Some(item) = results.try_next().await? {
        match item {
            Either::Left(done) => answer.changes = done.rows_affected(),
            Either::Right(row) => answer.rows.push(row),
        }
    }
    Ok(answer)
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
        sql.push_str(job.inlined.as_deref().unwrap_or_default());
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
                        if !crate::connection_failed(&error) =>
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

#[cfg(test)]
mod tests {
    use super::*;

    fn inlined(sql: &'static str, values: Vec<Option<String>>) -> Option<String> {
        values
            .into_iter()
            .fold(Statement::new(sql), Statement::bind)
            .inlined()
    }

    #[test]
    fn values_become_escaped_constants_in_place_of_their_placeholders() {
        assert_eq!(
            inlined(
                "INSERT INTO t VALUES ($1, $2, $2, $3, $10)",
                vec![
                    Some("it's".into()),
                    Some("back\\slash $1".into()),
                    None,
                    Some("x".into()),
                ]
            ),
            None,
            "$10 has no value"
        );
        assert_eq!(
            inlined(
                "INSERT INTO t VALUES ($1, $2, $2, $3)",
                vec![Some("it's".into()), Some("back\\slash $1".into()), None]
            )
            .as_deref(),
            Some(r"INSERT INTO t VALUES (E'it''s', E'back\\slash $1', E'back\\slash $1', NULL)")
        );
    }

    #[test]
    fn text_with_a_nul_byte_is_no_constant() {
        assert_eq!(
            inlined("UPDATE t SET a = $1", vec![Some("a\0b".into())]),
            None
        );
    }

    #[test]
    fn numbers_and_times_are_quoted_constants() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000)
            .unwrap_or_default()
            .naive_utc();
        let statement = Statement::new("V($1, $2, $3, $4)")
            .bind(-42i32)
            .bind(0.1f64)
            .bind(f64::NEG_INFINITY)
            .bind(at);
        assert_eq!(
            statement.inlined().as_deref(),
            Some("V(E'-42', E'0.1', E'-Infinity', E'2023-11-14 22:13:20.123456')")
        );
    }
}
