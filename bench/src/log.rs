//! `samordna-bench log`: the access log at scale. How fast the relay appends entries (one durable
//! transaction per request, against a bare durable insert in the same database), how long proofs
//! take to make and check, and how long the full recomputation that relay start-up and
//! `samordna audit verify` do takes over the whole log. See `docs/benchmarks.md`.

use std::{collections::HashMap, path::Path, sync::Arc, time::Instant};

use anyhow::{Context, Result, ensure};
use samordna_core::{
    audit::{Action, Reason},
    log::{
        HashReader, NodeId, NoteSigner, Tree,
        merkle::{self, Hash, ReadError},
    },
};
use samordna_relay::{
    clock::SystemClock,
    ledger::{self, LogIdentity},
    store::{Store, log},
};
use time::OffsetDateTime;

use crate::report::{Align, Table};

/// What to run.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Entries in the log for the recomputation and proofs.
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u64,
    /// Appends timed one per durable transaction, as requests make them (and as many bare inserts).
    #[arg(long, default_value_t = 2_000)]
    pub durable: u64,
    /// Entries per transaction when filling the log up to `--entries`.
    #[arg(long, default_value_t = 5_000)]
    pub batch: u64,
    /// Print a Markdown table instead of aligned text.
    #[arg(long)]
    pub markdown: bool,
    /// A PostgreSQL URL to run on instead of a SQLite file in a temporary directory (its
    /// tables are dropped and remade: use a scratch database).
    #[arg(long)]
    pub postgres: Option<String>,
}

/// An in-memory tree with the stored subtrees the relay keeps too, for proofs without I/O.
struct MemoryLog {
    leaves: Vec<Hash>,
    nodes: HashMap<NodeId, Hash>,
}

impl HashReader for MemoryLog {
    fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError> {
        let i = usize::try_from(index).map_err(|_| "index out of range")?;
        self.leaves.get(i).copied().ok_or_else(|| "no such leaf".into())
    }

    fn subtree_hash(&self, node: NodeId) -> Result<Option<Hash>, ReadError> {
        Ok(self.nodes.get(&node).copied())
    }
}

/// A typical entry: a social worker's fetch of an envelope under a consent.
fn entry(i: u64) -> log::Entry {
    log::Entry {
        at: Some(OffsetDateTime::now_utc()),
        request_id: format!("{i:024x}"),
        actor_principal: Some("SE2120000449".into()),
        actor_user: Some("SE2120000449-kb01".into()),
        cert_fingerprint: Some("ab".repeat(32)),
        action: Some(Action::EnvelopeFetch),
        reason: Some(Reason::Ok),
        case_id: Some("S-01JDQ7K9X2M4N6P8R0T2V4W6Y8".into()),
        consent_id: Some("K-01JDQ7K9X2M4N6P8R0T2V4W6Y9".into()),
        envelope_id: Some("E-01JDQ7K9X2M4N6P8R0T2V4W6YA".into()),
        object: None,
        peer: Some("127.0.0.1:50000".into()),
    }
}

/// A fixed-seed index sequence (xorshift), so runs compare.
fn indices(n: usize, below: u64) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % below
        })
        .collect()
}

fn per_second(n: u64, secs: f64) -> String {
    format!("{:.0}", n as f64 / secs)
}

fn micros(secs: f64, n: usize) -> String {
    format!("{:.1}", secs * 1e6 / n as f64)
}

/// Runs the log benchmark and prints its tables.
pub fn run(args: &LogArgs, dir: &Path, markdown: bool) -> Result<()> {
    ensure!(args.entries >= args.durable && args.durable > 0 && args.batch > 0, "need entries ≥ durable > 0");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_async(args, dir, markdown))
}

async fn run_async(args: &LogArgs, dir: &Path, markdown: bool) -> Result<()> {
    let mut table = Table::new(
        "The access log",
        &[
            ("measurement", Align::Left),
            ("count", Align::Right),
            ("total s", Align::Right),
            ("per second", Align::Right),
            ("µs each", Align::Right),
        ],
    );
    let mut row = |what: &str, n: u64, secs: f64| {
        table.row(vec![
            what.to_owned(),
            n.to_string(),
            format!("{secs:.3}"),
            per_second(n, secs),
            micros(secs, usize::try_from(n).unwrap_or(usize::MAX)),
        ]);
    };

    // 1. The tree math alone, in memory: encode, hash and push every entry.
    let t = Instant::now();
    let mut tree = Tree::new();
    let mut mem = MemoryLog { leaves: Vec::new(), nodes: HashMap::new() };
    for i in 0..args.entries {
        let leaf = entry(i).typed(i)?.leaf_hash();
        mem.leaves.push(leaf);
        tree.push_with(leaf, |node, hash| {
            if node.level > 0 {
                mem.nodes.insert(node, *hash);
            }
        });
    }
    row("in memory: encode + hash + append to the tree", args.entries, t.elapsed().as_secs_f64());
    let root = tree.root();
    let size = tree.size();

    let picks = indices(1000, size);
    let t = Instant::now();
    let proofs: Vec<Vec<Hash>> =
        picks.iter().map(|&i| merkle::inclusion_proof(i, size, &mem)).collect::<Result<_, _>>()?;
    row("inclusion proof made (stored subtrees)", 1000, t.elapsed().as_secs_f64());
    let t = Instant::now();
    for (&i, proof) in picks.iter().zip(&proofs) {
        merkle::verify_inclusion(&mem.leaves[usize::try_from(i)?], i, size, proof, &root)?;
    }
    row("inclusion proof checked", 1000, t.elapsed().as_secs_f64());
    let olds: Vec<u64> = indices(1000, size - 1).into_iter().map(|o| o + 1).collect();
    let old_roots: Vec<Hash> = olds.iter().map(|&o| merkle::root_at(o, &mem)).collect::<Result<_, _>>()?;
    let t = Instant::now();
    let proofs: Vec<Vec<Hash>> =
        olds.iter().map(|&o| merkle::consistency_proof(o, size, &mem)).collect::<Result<_, _>>()?;
    row("consistency proof made", 1000, t.elapsed().as_secs_f64());
    let t = Instant::now();
    for ((&o, old_root), proof) in olds.iter().zip(&old_roots).zip(&proofs) {
        merkle::verify_consistency(o, size, old_root, &root, proof)?;
    }
    row("consistency proof checked", 1000, t.elapsed().as_secs_f64());
    drop(mem);

    // 2. The relay's store: a fresh database.
    let (url, what) = match &args.postgres {
        Some(url) => (url.clone(), "PostgreSQL"),
        None => (
            format!("sqlite:{}?mode=rwc", dir.join("log-bench.db").display()),
            "SQLite (WAL, synchronous FULL)",
        ),
    };
    // One fsync per transaction, as these rows are labelled: the sequential figures below are the
    // per-commit cost, not what group commit makes of many concurrent requests.
    let store = Store::connect_with(&url, samordna_relay::store::Durability::PerCommit)
        .await
        .with_context(|| format!("cannot open {url}"))?;
    if args.postgres.is_some() {
        let mut c = store.read().await?;
        for sql in ["DROP SCHEMA public CASCADE", "CREATE SCHEMA public"] {
            sqlx::query(sql).execute(&mut *c).await?;
        }
    }
    store.migrate().await?;
    {
        let create = if args.postgres.is_some() {
            "CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, body BYTEA)"
        } else {
            "CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, body BLOB)"
        };
        let mut c = store.read().await?;
        sqlx::query(create).execute(&mut *c).await?;
    }

    // Baseline: a bare durable insert of a row of the entry's size, one transaction each.
    let body = entry(0).typed(0)?.encode();
    let t = Instant::now();
    for i in 0..args.durable {
        let mut tx = store.write().await?;
        sqlx::query("INSERT INTO bench_rows (id, body) VALUES ($1, $2)")
            .bind(i64::try_from(i)?)
            .bind(body.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let bare = t.elapsed().as_secs_f64();
    row(&format!("{what}: bare insert, one durable commit each (baseline)"), args.durable, bare);

    let t = Instant::now();
    for i in 0..args.durable {
        let mut tx = store.write().await?;
        log::append(&mut tx, &entry(i)).await?;
        tx.commit().await?;
    }
    let appends = t.elapsed().as_secs_f64();
    row(&format!("{what}: log append, one durable commit each"), args.durable, appends);

    let t = Instant::now();
    let mut n = args.durable;
    while n < args.entries {
        let upto = (n + args.batch).min(args.entries);
        let mut tx = store.write().await?;
        for i in n..upto {
            log::append(&mut tx, &entry(i)).await?;
        }
        tx.commit().await?;
        n = upto;
    }
    row(
        &format!("{what}: log append, {} per commit", args.batch),
        args.entries - args.durable,
        t.elapsed().as_secs_f64(),
    );

    // 3. Proofs from the database, as the relay serves them.
    let mut conn = store.read().await?;
    let t = Instant::now();
    for &i in &picks {
        let reader = log::DbHashReader::new(&mut conn);
        merkle::inclusion_proof(i, size, &reader)?;
    }
    row(&format!("{what}: inclusion proof read from the database"), 1000, t.elapsed().as_secs_f64());
    drop(conn);

    // 4. A signed checkpoint, then the full recomputation relay start-up does (and `audit verify`
    //    does the same client-side after fetching the entries).
    let seed: [u8; 32] = [7; 32];
    let origin = samordna_core::log::note::relay_origin("bench")?;
    let identity = Arc::new(LogIdentity { signer: NoteSigner::from_seed(&origin, &seed)?, origin });
    ledger::sign_if_grown(&store, &identity, &SystemClock::default(), 0).await?;
    let t = Instant::now();
    let verified = ledger::verify(&store, &identity).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(verified.size == size, "verified {} entries, expected {size}", verified.size);
    row(&format!("{what}: recompute and check the whole log"), size, t.elapsed().as_secs_f64());
    store.close().await;

    println!("- entries: {}; append ratio to the bare durable insert: {:.2}", size, bare / appends);
    println!();
    print!("{}", if markdown { table.markdown() } else { table.text() });
    Ok(())
}
