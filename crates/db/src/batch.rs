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

use crate::native::NativeWriter;

/// The most writes one transaction carries.
const MAX_BATCH: usize = 256;

/// A write: statements run on the connection inside the batch's transaction.
pub(crate) type WriteFn<T> =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send>;

/// The same write on the native SQLite connection (`native.rs`).
pub(crate) type NativeFn<T> = Box<dyn FnOnce(&rusqlite::Connection) -> Result<T, sqlx::Error> + Send>;

/// One queued write, its result type erased: through the pool's connection, or
/// on the native one.
enum Queued {
    Pool(Box<dyn PoolWrite>),
    Native(Box<dyn NativeWrite>),
    /// The database is closing: the native connection closes after the writes
    /// queued before this, and the sender hears when.
    Close(oneshot::Sender<()>),
}

trait PoolWrite: Send {
    /// Runs the write; returns whether it succeeded and what delivers its answer.
    fn run<'c>(self: Box<Self>, connection: &'c mut AnyConnection) -> BoxFuture<'c, (bool, Box<dyn Deliver>)>;
    fn fail(self: Box<Self>, message: String);
}

trait NativeWrite: Send {
    fn run(self: Box<Self>, connection: &rusqlite::Connection) -> (bool, Box<dyn Deliver>);
    fn fail(self: Box<Self>, message: String);
}

trait Deliver: Send {
    /// Sends the answer: the write's own result when the batch committed, else the
    /// batch's error.
    fn deliver(self: Box<Self>, batch: Result<(), BatchFailure>);
}

type Reply<T> = oneshot::Sender<Result<T, sqlx::Error>>;

struct Typed<F, T> {
    write: F,
    reply: Reply<T>,
}

struct Answer<T> {
    result: Result<T, sqlx::Error>,
    reply: Reply<T>,
}

impl<T: Send + 'static> Answer<T> {
    fn boxed(result: Result<T, sqlx::Error>, reply: Reply<T>) -> (bool, Box<dyn Deliver>) {
        (result.is_ok(), Box::new(Self { result, reply }))
    }
}

impl<T: Send + 'static> PoolWrite for Typed<WriteFn<T>, T> {
    fn run<'c>(self: Box<Self>, connection: &'c mut AnyConnection) -> BoxFuture<'c, (bool, Box<dyn Deliver>)> {
        Box::pin(async move { Answer::boxed((self.write)(connection).await, self.reply) })
    }

    fn fail(self: Box<Self>, message: String) {
        let _ = self.reply.send(Err(sqlx::Error::Protocol(message)));
    }
}

impl<T: Send + 'static> NativeWrite for Typed<NativeFn<T>, T> {
    fn run(self: Box<Self>, connection: &rusqlite::Connection) -> (bool, Box<dyn Deliver>) {
        Answer::boxed((self.write)(connection), self.reply)
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
    fn commit(error: &sqlx::Error) -> Self {
        Self { disk_full: crate::error::is_disk_full(error), message: format!("commit failed: {error}") }
    }

    fn another_failed() -> Self {
        let message = "another write in the same transaction failed; nothing was written".to_owned();
        Self { message, disk_full: false }
    }

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
    sender: mpsc::UnboundedSender<Queued>,
}

impl WriteQueue {
    /// Starts the writer task on `writer` (a pool of one connection) and `native`.
    pub(crate) fn start(writer: AnyPool, native: NativeWriter) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_batches(writer, native, receiver));
        Self { sender }
    }

    /// Queues a write through the pool's connection.
    pub(crate) async fn write<T: Send + 'static>(&self, write: WriteFn<T>) -> Result<T, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Queued::Pool(Box::new(Typed { write, reply })), answer).await
    }

    /// Queues a write on the native connection.
    pub(crate) async fn write_native<T: Send + 'static>(&self, write: NativeFn<T>) -> Result<T, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Queued::Native(Box::new(Typed { write, reply })), answer).await
    }

    /// Closes the native connection once the writes queued before are done.
    pub(crate) async fn close(&self) {
        let (closed, done) = oneshot::channel();
        if self.sender.send(Queued::Close(closed)).is_ok() {
            // An error means the writer has stopped: nothing is open.
            let _ = done.await;
        }
    }

    async fn send<T>(
        &self,
        queued: Queued,
        answer: oneshot::Receiver<Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        self.sender.send(queued).map_err(|_| sqlx::Error::Protocol("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| sqlx::Error::Protocol("the SQLite writer dropped a write".into()))?
    }
}

async fn run_batches(writer: AnyPool, mut native: NativeWriter, mut receiver: mpsc::UnboundedReceiver<Queued>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (mut on_pool, mut on_native, mut closes) = (Vec::new(), Vec::new(), Vec::new());
        for write in batch.drain(..) {
            match write {
                Queued::Pool(write) => on_pool.push(write),
                Queued::Native(write) => on_native.push(write),
                Queued::Close(closed) => closes.push(closed),
            }
        }
        // Holding the pool's one connection is holding the right to write, for the
        // native writes too: a write through the pool waits meanwhile.
        match writer.acquire().await {
            Ok(mut connection) => {
                if !on_native.is_empty() {
                    run_native(&mut native, on_native).await;
                }
                if !on_pool.is_empty() {
                    run_on_pool(&mut connection, on_pool).await;
                }
            }
            Err(error) => {
                let message = format!("no SQLite connection: {error}");
                on_pool.into_iter().for_each(|write| write.fail(message.clone()));
                on_native.into_iter().for_each(|write| write.fail(message.clone()));
                if writer.is_closed() {
                    native.close();
                }
            }
        }
        if !closes.is_empty() {
            native.close();
            for closed in closes {
                // A closer that stopped waiting needs no answer.
                let _ = closed.send(());
            }
        }
    }
}

/// Runs writes in one transaction on the native connection.
async fn run_native(native: &mut NativeWriter, writes: Vec<Box<dyn NativeWrite>>) {
    let connection = match native.begin().await {
        Ok(connection) => connection,
        Err(error) => {
            for write in writes {
                write.fail(format!("cannot begin a transaction: {error}"));
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(writes.len());
    let mut all_ok = true;
    for write in writes {
        let (ok, answer) = write.run(connection);
        all_ok &= ok;
        answers.push(answer);
    }
    let ended = native.end(all_ok).map_err(|error| BatchFailure::commit(&error));
    let outcome = if all_ok { ended } else { Err(BatchFailure::another_failed()) };
    for answer in answers {
        answer.deliver(outcome.clone());
    }
}

/// Runs writes in one transaction on the pool's connection.
async fn run_on_pool(connection: &mut AnyConnection, writes: Vec<Box<dyn PoolWrite>>) {
    if let Err(error) = connection.execute("BEGIN IMMEDIATE").await {
        for write in writes {
            write.fail(format!("cannot begin a transaction: {error}"));
        }
        return;
    }
    let mut answers = Vec::with_capacity(writes.len());
    let mut all_ok = true;
    for write in writes {
        let (ok, answer) = write.run(&mut *connection).await;
        all_ok &= ok;
        answers.push(answer);
    }
    let outcome = if all_ok {
        connection.execute("COMMIT").await.map(|_| ()).map_err(|error| BatchFailure::commit(&error))
    } else {
        Err(BatchFailure::another_failed())
    };
    if outcome.is_err() {
        let _ = connection.execute("ROLLBACK").await;
    }
    for answer in answers {
        answer.deliver(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native;

    /// Writes sent together land in one batch: the native ones share a transaction
    /// (one failing rolls the others back), the pool's run in their own.
    #[tokio::test]
    async fn a_failed_write_rolls_back_its_transaction_and_the_next_batch_commits() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("batch.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.expect("connect");
        pool.execute("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY)").await.expect("create");
        let queue = WriteQueue::start(pool.clone(), NativeWriter::new(path));
        let insert = |key: &'static str| -> NativeFn<usize> {
            Box::new(move |connection| native::execute(connection, "INSERT INTO t VALUES ($1)", &[&key]))
        };
        let failing: NativeFn<usize> =
            Box::new(|connection| native::execute(connection, "INSERT INTO nowhere VALUES ($1)", &[&"b"]));
        let pooled: WriteFn<()> = Box::new(|connection| {
            Box::pin(async move { connection.execute("INSERT INTO t VALUES ('p')").await.map(|_| ()) })
        });
        // One poll sends all three before the writer (on this thread) runs.
        let (good, bad, on_pool) =
            tokio::join!(queue.write_native(insert("a")), queue.write_native(failing), queue.write(pooled));
        let good = good.expect_err("rolled back with the write that failed");
        assert!(good.to_string().contains("nothing was written"), "{good}");
        assert!(bad.expect_err("no such table").to_string().contains("no such table"));
        on_pool.expect("the pool's write is a transaction of its own");
        assert_eq!(queue.write_native(insert("c")).await.expect("the next batch"), 1);
        let keys: Vec<String> = sqlx::query_scalar("SELECT k FROM t ORDER BY k").fetch_all(&pool).await.expect("read");
        assert_eq!(keys, ["c", "p"]);
        // Closing lets go of the file: with the pool closed too, SQLite's last
        // connection folds the WAL into the database and removes it.
        queue.close().await;
        pool.close().await;
        assert!(!dir.path().join("batch.db-wal").exists(), "the WAL is gone once every connection closed");
        let closed = queue.write_native(insert("d")).await.expect_err("the pool is closed");
        assert!(closed.to_string().contains("no SQLite connection"), "{closed}");
    }
}
