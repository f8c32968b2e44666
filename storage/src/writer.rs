//! SQLite's writes, through one connection that commits them in groups.
//!
//! SQLite has one writer at a time. Several pooled connections writing at once only queue on the
//! file lock (each waiting in SQLite's busy handler, which sleeps), and with `synchronous=FULL`
//! every commit waits for the disk. So every write of this process goes to one task that owns a
//! connection: when writes arrive faster than the disk syncs, the ones that queued up meanwhile
//! run in one transaction and share one commit (group commit, as PostgreSQL and MariaDB do). A
//! write is acknowledged only once its commit has succeeded.
//!
//! Each write is one statement. A statement that breaks a constraint (a foreign key, uniqueness)
//! is undone alone by SQLite and the transaction goes on; any other failure ends the group: it is
//! rolled back and every write in it answers the error (none of them was acknowledged).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::ConnectOptions;
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StorageError};

/// Writes that may wait for the writer; more at once wait to be queued (back-pressure).
const QUEUE: usize = 1024;
/// The most writes sharing one commit.
const GROUP: usize = 256;

/// What the writer hands each write after its group's commit.
type Finish = Box<dyn FnOnce(std::result::Result<(), Arc<str>>) + Send>;
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (Finish, bool)> + Send>;

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
    /// Opens the write connection and starts its task.
    pub(crate) async fn start(options: &SqliteConnectOptions) -> Result<Writer> {
        let connection = options.connect().await?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(connection, queue));
        Ok(Writer { jobs })
    }

    /// Runs `statement` on the write connection; its result once its commit is done.
    pub(crate) async fn write<T, F>(&self, statement: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, sqlx::Result<T>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            Box::pin(async move {
                let result = statement(connection).await;
                // Only a constraint failure leaves the rest of the group intact.
                let group_intact = match &result {
                    Ok(_) => true,
                    Err(sqlx::Error::Database(error)) => {
                        error.kind() != sqlx::error::ErrorKind::Other
                    }
                    Err(_) => false,
                };
                let finish: Finish = Box::new(move |commit| {
                    let outcome = match (result, commit) {
                        (Err(error), _) => Err(StorageError::from(error)),
                        (Ok(value), Ok(())) => Ok(value),
                        (Ok(_), Err(reason)) => Err(StorageError::Commit(reason.to_string())),
                    };
                    let _ = reply.send(outcome);
                });
                (finish, group_intact)
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StorageError::Commit("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StorageError::Commit("the SQLite writer has stopped".into()))?
    }
}

async fn run(mut connection: SqliteConnection, mut queue: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(GROUP);
    while queue.recv_many(&mut group, GROUP).await > 0 {
        if group.len() == 1 {
            // Alone: its own statement is its own transaction.
            if let Some(job) = group.pop() {
                let (finish, _) = job(&mut connection).await;
                finish(Ok(()));
            }
            continue;
        }
        let outcome = commit_group(&mut connection, &mut group).await;
        tracing::trace!(writes = group.len(), "group commit");
        match outcome {
            Ok(finishers) => finishers.into_iter().for_each(|finish| finish(Ok(()))),
            Err((finishers, reason)) => {
                tracing::error!(%reason, "a group of SQLite writes failed and was rolled back");
                let reason: Arc<str> = reason.into();
                for finish in finishers {
                    finish(Err(reason.clone()));
                }
            }
        }
        group.clear();
    }
}

type Finishers = Vec<Finish>;

async fn commit_group(
    connection: &mut SqliteConnection,
    group: &mut Vec<Job>,
) -> std::result::Result<Finishers, (Finishers, String)> {
    let mut finishers = Vec::with_capacity(group.len());
    if let Err(error) = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await
    {
        return Err((finishers, format!("BEGIN: {error}")));
    }
    // Writes after a failed one are dropped unrun: their callers get an error, nothing is lost.
    for job in group.drain(..) {
        let (finish, intact) = job(&mut *connection).await;
        finishers.push(finish);
        if !intact {
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            return Err((
                finishers,
                "a write failed; its group was rolled back".into(),
            ));
        }
    }
    match sqlx::query("COMMIT").execute(&mut *connection).await {
        Ok(_) => Ok(finishers),
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            Err((finishers, format!("COMMIT: {error}")))
        }
    }
}
