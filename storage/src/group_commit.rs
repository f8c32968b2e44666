//! What SQLite's and PostgreSQL's group-commit writers share: the queue a write waits in, the
//! answer a statement gives, and how its caller is answered once its group is committed (or
//! why not). Each engine's writer (`sqlite::writer`, `postgres::writer`) runs the groups.

use std::sync::Arc;

use futures_util::{Stream, TryStreamExt};
use sqlx::Either;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, StorageError};
use crate::write::{Value, Write};

/// Writes that may wait for a writer; more at once wait to be queued (back-pressure).
const QUEUE: usize = 1024;

/// What a statement answered: the rows it returned (`RETURNING`) and the rows it changed.
/// `R`: the engine's row.
pub(crate) struct Answer<R> {
    pub(crate) rows: Vec<R>,
    pub(crate) changes: u64,
}

impl<R> Answer<R> {
    pub(crate) fn empty() -> Answer<R> {
        Answer {
            rows: Vec::new(),
            changes: 0,
        }
    }
}

/// One write waiting for its engine's writer: its statement and values (bound anew for each
/// call: a group may send a write twice), what the engine prepared of them (`X`: PostgreSQL's
/// constants), and how to answer its caller.
pub(crate) struct Job<R, X> {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
    pub(crate) prepared: X,
    pub(crate) finish: Finish<R>,
}

/// What an engine prepares of a write before it is queued.
type Prepare<X> = Arc<dyn Fn(&str, &[Value]) -> X + Send + Sync>;

/// A group-commit writer (SQLite's, PostgreSQL's), as its callers see it: the queue of its
/// task (the engine's `run`), which answers each job once its group is committed.
pub(crate) struct Writer<R, X> {
    queue: Queue<Job<R, X>>,
    prepare: Prepare<X>,
}

impl<R, X> Clone for Writer<R, X> {
    fn clone(&self) -> Self {
        Writer {
            queue: self.queue.clone(),
            prepare: self.prepare.clone(),
        }
    }
}

impl<R, X> std::fmt::Debug for Writer<R, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.queue.fmt(f)
    }
}

impl<R: 'static, X> Writer<R, X> {
    /// A writer whose jobs `prepare` makes ready by the caller's worker (in parallel, not by the
    /// writer's one task); the receiving end goes to the engine's task.
    pub(crate) fn new(
        engine: &'static str,
        prepare: impl Fn(&str, &[Value]) -> X + Send + Sync + 'static,
    ) -> (Writer<R, X>, mpsc::Receiver<Job<R, X>>) {
        let (queue, jobs) = Queue::new(engine);
        let prepare = Arc::new(prepare);
        (Writer { queue, prepare }, jobs)
    }

    /// Queues `write` (with `RETURNING *` when `returning`) and waits for the value `decode`
    /// makes of its answer once it is committed.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        write: Write,
        returning: bool,
        decode: impl FnOnce(Answer<R>) -> sqlx::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (sql, values) = write.into_statement(returning);
        let prepared = (self.prepare)(&sql, &values);
        let job = |finish| Job {
            sql,
            values,
            prepared,
            finish,
        };
        self.queue.submit(decode, job).await
    }
}

/// The answer of one statement from its results (`fetch_many`): its rows, and the rows it
/// changed as `changes` reads them from the engine's result.
pub(crate) async fn collect<R, D>(
    mut results: impl Stream<Item = sqlx::Result<Either<D, R>>> + Unpin,
    changes: impl Fn(&D) -> u64,
) -> sqlx::Result<Answer<R>> {
    let mut answer = Answer::empty();
    while let Some(item) = results.try_next().await? {
        match item {
            Either::Left(done) => answer.changes = changes(&done),
            Either::Right(row) => answer.rows.push(row),
        }
    }
    Ok(answer)
}

/// Hands a write its outcome: its answer after its group's commit, or why it failed.
pub(crate) type Finish<R> = Box<dyn FnOnce(std::result::Result<Answer<R>, Failure>) + Send>;

pub(crate) enum Failure {
    /// The statement itself failed (a constraint, or the error that ended the group).
    Statement(sqlx::Error),
    /// The statement ran, but its group could not be committed.
    Commit(Arc<str>),
}

/// The queue of a writer task (SQLite's or PostgreSQL's): jobs of type `J`, each carrying the
/// [`Finish`] that answers its caller.
struct Queue<J> {
    jobs: mpsc::Sender<J>,
    /// The engine, for the errors: "the SQLite writer has stopped".
    writer: &'static str,
}

impl<J> Clone for Queue<J> {
    fn clone(&self) -> Self {
        Queue {
            jobs: self.jobs.clone(),
            writer: self.writer,
        }
    }
}

impl<J> std::fmt::Debug for Queue<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} writer", self.writer)
    }
}

impl<J> Queue<J> {
    /// A queue of `QUEUE` jobs at most (more wait to be queued: back-pressure), and its
    /// receiving end for the writer task.
    fn new(writer: &'static str) -> (Queue<J>, mpsc::Receiver<J>) {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        (Queue { jobs, writer }, receiver)
    }

    /// Queues the job `job` makes of a write's [`Finish`] and waits for the value `decode`
    /// makes of the write's answer once it is committed.
    async fn submit<R: 'static, T: Send + 'static>(
        &self,
        decode: impl FnOnce(Answer<R>) -> sqlx::Result<T> + Send + 'static,
        job: impl FnOnce(Finish<R>) -> J,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let finish: Finish<R> = Box::new(move |outcome| {
            let outcome = match outcome {
                Ok(answer) => decode(answer).map_err(StorageError::from),
                Err(Failure::Statement(error)) => Err(StorageError::from(error)),
                Err(Failure::Commit(reason)) => Err(StorageError::Commit(reason.to_string())),
            };
            let _ = reply.send(outcome);
        });
        let writer = self.writer;
        let stopped = || StorageError::Commit(format!("the {writer} writer has stopped"));
        self.jobs.send(job(finish)).await.map_err(|_| stopped())?;
        // A write dropped unanswered: the writer stopped, or gave up on a server that did not
        // answer in time (`server::ANSWER_TIMEOUT`); either way it was not acknowledged.
        answer.await.map_err(|_| {
            StorageError::Commit(format!(
                "the {writer} writer gave no answer (stopped, or the server did not answer in time)"
            ))
        })?
    }
}

/// The answer's first row as an `M`, if there is one (an UPDATE ... RETURNING * of a row that
/// may be gone).
pub(crate) fn optional<M: for<'r> sqlx::FromRow<'r, R>, R: sqlx::Row>(
    answer: Answer<R>,
) -> sqlx::Result<Option<M>> {
    answer.rows.first().map(M::from_row).transpose()
}

/// How many rows the statement changed.
pub(crate) fn affected<R>(answer: Answer<R>) -> sqlx::Result<u64> {
    Ok(answer.changes)
}
