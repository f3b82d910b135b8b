//! Bulk loading for `zufang seed`: secondary indexes dropped before the load and rebuilt after
//! it (InnoDB then builds each index by one sort instead of millions of random B-tree inserts),
//! and batches written on several connections at once while the next ones are generated.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, MySql, MySqlConnection, MySqlPool};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;

/// A secondary index as information_schema describes it, enough to recreate it.
#[derive(Debug, Clone)]
pub struct IndexDef {
    table: String,
    name: String,
    unique: bool,
    /// Column list, e.g. "`district_id`, `price`" (with prefix lengths where set).
    columns: String,
}

/// Drop the non-unique secondary indexes of `tables` (foreign-key checks must be off for the
/// session: InnoDB otherwise refuses to drop an index a constraint uses). Returns what to rebuild.
pub async fn defer_indexes(conn: &mut MySqlConnection, tables: &[&str]) -> anyhow::Result<Vec<IndexDef>> {
    let mut defs = Vec::new();
    for table in tables {
        let rows: Vec<(String, i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY' \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .context("Failed to read the table's indexes")?;
        let mut mine: Vec<IndexDef> = Vec::new();
        for (name, non_unique, column, sub_part) in rows {
            let col = match sub_part {
                Some(n) => format!("`{column}`({n})"),
                None => format!("`{column}`"),
            };
            match mine.last_mut() {
                Some(d) if d.name == name => d.columns = format!("{}, {col}", d.columns),
                _ => mine.push(IndexDef { table: table.to_string(), name, unique: non_unique == 0, columns: col }),
            }
        }
        // Unique indexes stay: dropping them would let a duplicate in unnoticed.
        mine.retain(|d| !d.unique);
        if mine.is_empty() {
            continue;
        }
        let drops: Vec<String> = mine.iter().map(|d| format!("DROP INDEX `{}`", d.name)).collect();
        conn.execute(format!("ALTER TABLE `{table}` {}", drops.join(", ")).as_str())
            .await
            .with_context(|| format!("Failed to defer the indexes of {table}"))?;
        defs.extend(mine);
    }
    Ok(defs)
}

/// Rebuild what [`defer_indexes`] dropped, one ALTER per table.
pub async fn restore_indexes(conn: &mut MySqlConnection, defs: &[IndexDef]) -> anyhow::Result<()> {
    let mut tables: Vec<&str> = defs.iter().map(|d| d.table.as_str()).collect();
    tables.dedup();
    for table in tables {
        let adds: Vec<String> = defs
            .iter()
            .filter(|d| d.table == table)
            .map(|d| format!("ADD {}KEY `{}` ({})", if d.unique { "UNIQUE " } else { "" }, d.name, d.columns))
            .collect();
        conn.execute(format!("ALTER TABLE `{table}` {}", adds.join(", ")).as_str())
            .await
            .with_context(|| format!("Failed to rebuild the indexes of {table}"))?;
    }
    Ok(())
}

/// Session settings of a bulk-loading connection: the generator guarantees referential integrity
/// and uniqueness itself, and an index rebuild runs longer than a request's statement timeout.
pub const BULK_SESSION: &str = "SET SESSION foreign_key_checks = 0, unique_checks = 0, max_statement_time = 0";

/// A batch of work for one connection.
pub type Job = Box<
    dyn for<'c> FnOnce(&'c mut MySqlConnection) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'c>> + Send,
>;

/// `workers` connections taking batches from a short queue, so generation and writing overlap
/// and the server works on several batches at once.
pub struct ParallelWriter {
    tx: Option<mpsc::Sender<Job>>,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl ParallelWriter {
    pub async fn start(db: &MySqlPool, workers: usize) -> anyhow::Result<ParallelWriter> {
        let (tx, rx) = mpsc::channel::<Job>(workers * 2);
        let rx = Arc::new(Mutex::new(rx));
        let mut tasks = JoinSet::new();
        for _ in 0..workers {
            let mut conn: PoolConnection<MySql> = db.acquire().await.context("Failed to get a loading connection")?;
            conn.execute(BULK_SESSION).await?;
            let rx = rx.clone();
            tasks.spawn(async move {
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { return Ok(()) };
                    job(&mut conn).await?;
                }
            });
        }
        Ok(ParallelWriter { tx: Some(tx), tasks })
    }

    /// Queue a batch (waits while the queue is full).
    pub async fn send(&mut self, job: Job) -> anyhow::Result<()> {
        let tx = self.tx.as_ref().context("the writer is finished")?;
        if tx.send(job).await.is_err() {
            // Every worker stopped: one failed; finish() reports why.
            return self.finish().await.and(Err(anyhow::anyhow!("the bulk writers stopped")));
        }
        Ok(())
    }

    /// Wait for every queued batch; the first failure, if any.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        self.tx = None;
        let mut first: Option<anyhow::Error> = None;
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r.context("a bulk writer panicked").and_then(|r| r) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
