//! Group commit for SQLite. SQLite has one writer at a time, and each transaction
//! costs a commit; so the writes that come once per task (creates, claims,
//! completions) queue here, and one writer task runs every write queued meanwhile
//! in a single `BEGIN IMMEDIATE … COMMIT`. Each caller gets its own answer only
//! after the commit. If any write of a batch fails, the whole batch rolls back
//! and every caller gets the error (nothing is half-done, so nothing is lost).
//!
//! On PostgreSQL, which takes concurrent writers, each write is its own
//! transaction on a pooled connection.

use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

/// The most writes one transaction carries.
const MAX_BATCH: usize = 256;

/// A write: statements run on the connection inside the batch's transaction.
pub(crate) type WriteFn<T> =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send>;

/// One queued write, its result type erased.
trait QueuedWrite: Send {
    /// Runs the write; returns whether it succeeded and what delivers its answer.
    fn run<'c>(self: Box<Self>, connection: &'c mut AnyConnection) -> BoxFuture<'c, (bool, Box<dyn Deliver>)>;
    fn fail(self: Box<Self>, message: String);
}

trait Deliver: Send {
    /// Sends the answer: the write's own result when the batch committed, else the
    /// batch's error.
    fn deliver(self: Box<Self>, batch: Result<(), BatchFailure>);
}

struct Typed<T> {
    write: WriteFn<T>,
    reply: oneshot::Sender<Result<T, sqlx::Error>>,
}

struct Answer<T> {
    result: Result<T, sqlx::Error>,
    reply: oneshot::Sender<Result<T, sqlx::Error>>,
}

impl<T: Send + 'static> QueuedWrite for Typed<T> {
    fn run<'c>(self: Box<Self>, connection: &'c mut AnyConnection) -> BoxFuture<'c, (bool, Box<dyn Deliver>)> {
        Box::pin(async move {
            let result = (self.write)(connection).await;
            let ok = result.is_ok();
            (ok, Box::new(Answer { result, reply: self.reply }) as Box<dyn Deliver>)
        })
    }

    fn fail(self: Box<Self>, message: String) {
        let _ = self.reply.send(Err(sqlx::Error::Protocol(message)));
    }
}

impl<T: Send + 'static> Deliver for Answer<T> {
    fn deliver(self: Box<Self>, batch: Result<(), BatchFailure>) {
        let answer = match (batch, self.result) {
            (Ok(()), result) => result,
            // This write's own error explains the rollback best.
            (Err(_), Err(error)) => Err(error),
            (Err(failure), Ok(_)) => Err(failure.into_error()),
        };
        let _ = self.reply.send(answer);
    }
}

/// Why a batch was rolled back, for each write in it (an error is not `Clone`): a
/// full disk stays recognisable as one.
#[derive(Debug, Clone)]
struct BatchFailure {
    message: String,
    disk_full: bool,
}

impl BatchFailure {
    fn into_error(self) -> sqlx::Error {
        if self.disk_full {
            sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::StorageFull, self.message))
        } else {
            sqlx::Error::Protocol(self.message)
        }
    }
}

/// The queue of SQLite writes.
#[derive(Clone)]
pub(crate) struct WriteQueue {
    sender: mpsc::UnboundedSender<Box<dyn QueuedWrite>>,
}

impl WriteQueue {
    /// Starts the writer task on `writer` (a pool of one connection).
    pub(crate) fn start(writer: AnyPool) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_batches(writer, receiver));
        Self { sender }
    }

    pub(crate) async fn write<T: Send + 'static>(&self, write: WriteFn<T>) -> Result<T, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Box::new(Typed { write, reply }))
            .map_err(|_| sqlx::Error::Protocol("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| sqlx::Error::Protocol("the SQLite writer dropped a write".into()))?
    }
}

async fn run_batches(writer: AnyPool, mut receiver: mpsc::UnboundedReceiver<Box<dyn QueuedWrite>>) {
    let mut batch: Vec<Box<dyn QueuedWrite>> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let writes = std::mem::take(&mut batch);
        let mut connection = match writer.acquire().await {
            Ok(connection) => connection,
            Err(error) => {
                for write in writes {
                    write.fail(format!("no SQLite connection: {error}"));
                }
                continue;
            }
        };
        if let Err(error) = connection.execute("BEGIN IMMEDIATE").await {
            for write in writes {
                write.fail(format!("cannot begin a transaction: {error}"));
            }
            continue;
        }
        let mut answers = Vec::with_capacity(writes.len());
        let mut all_ok = true;
        for write in writes {
            let (ok, answer) = write.run(&mut connection).await;
            all_ok &= ok;
            answers.push(answer);
        }
        let outcome = if all_ok {
            match connection.execute("COMMIT").await {
                Ok(_) => Ok(()),
                Err(error) => Err(BatchFailure {
                    disk_full: crate::error::is_disk_full(&error),
                    message: format!("commit failed: {error}"),
                }),
            }
        } else {
            let message = "another write in the same transaction failed; nothing was written".to_owned();
            Err(BatchFailure { message, disk_full: false })
        };
        if outcome.is_err() {
            let _ = connection.execute("ROLLBACK").await;
        }
        for answer in answers {
            answer.deliver(outcome.clone());
        }
    }
}
