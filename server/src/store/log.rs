//! The access log: one entry per decision, appended in the same transaction as the action, as a
//! leaf of the RFC 6962 tree of `docs/spec/access-log-v1.md`.
//!
//! Appends take the `log_head` row (size and the tree's right edge) with a row lock that is held
//! until commit, so the log is one gap-free sequence even when several relay processes share one
//! PostgreSQL database. Each append stores the entry's canonical bytes and leaf hash, and the
//! hashes of the subtrees it completes, so proofs need O(log n) reads.

use std::net::SocketAddr;

use samordna_core::{
    CaseId, ConsentId, EnvelopeId, HsaId, KeyId, PrincipalId,
    audit::{Action, Reason},
    log::{
        LogEntry, Marker, ObjectRef, Peer, RequestId, Tree,
        merkle::{Hash, HashReader, NodeId, ReadError},
    },
};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreError, StoreResult, exec, micros};

/// What a handler records about one decision. Strings are parsed into the typed entry when it is
/// appended; a value that does not parse (an id from a malformed path, say) is left out rather
/// than copied into the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// When.
    pub at: Option<OffsetDateTime>,
    /// The relay's id for the request.
    pub request_id: String,
    /// The acting principal (as its certificate names it).
    pub actor_principal: Option<String>,
    /// The acting person or system (HSA-id).
    pub actor_user: Option<String>,
    /// SHA-256 of the client certificate, hex.
    pub cert_fingerprint: Option<String>,
    /// What was done or attempted.
    pub action: Option<Action>,
    /// Why it was allowed or refused.
    pub reason: Option<Reason>,
    /// The case touched.
    pub case_id: Option<String>,
    /// The consent relied on (or checked).
    pub consent_id: Option<String>,
    /// The envelope touched.
    pub envelope_id: Option<String>,
    /// Another object: a principal id, a key id, or a marker word.
    pub object: Option<String>,
    /// The client's address.
    pub peer: Option<String>,
}

impl Entry {
    /// The canonical entry at `index`.
    pub fn typed(&self, index: u64) -> StoreResult<LogEntry> {
        let action = self.action.ok_or_else(|| StoreError::Other("log entry without action".into()))?;
        let request_id = RequestId::parse(&self.request_id)
            .or_else(|_| RequestId::parse("unknown"))
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let object = self.object.as_deref().and_then(|o| {
            PrincipalId::parse(o)
                .map(ObjectRef::Principal)
                .or_else(|_| KeyId::parse(o).map(ObjectRef::Key))
                .or_else(|_| Marker::parse(o).map(ObjectRef::Marker))
                .ok()
        });
        Ok(LogEntry {
            index,
            at_us: micros(self.at.unwrap_or_else(OffsetDateTime::now_utc)),
            request_id,
            actor_principal: self.actor_principal.as_deref().and_then(|s| PrincipalId::parse(s).ok()),
            actor_user: self.actor_user.as_deref().and_then(|s| HsaId::parse(s).ok()),
            cert_fingerprint: self.cert_fingerprint.as_deref().and_then(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).ok().map(|()| out)
            }),
            action,
            reason: self.reason.unwrap_or(Reason::Ok),
            case_id: self.case_id.as_deref().and_then(|s| CaseId::parse(s).ok()),
            consent_id: self.consent_id.as_deref().and_then(|s| ConsentId::parse(s).ok()),
            envelope_id: self.envelope_id.as_deref().and_then(|s| EnvelopeId::parse(s).ok()),
            object,
            peer: self.peer.as_deref().and_then(|p| p.parse::<SocketAddr>().ok()).map(Peer::from),
        })
    }
}

fn split_frontier(bytes: Option<Vec<u8>>) -> Vec<Hash> {
    bytes
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect()
}

/// The log's right edge (size and frontier bytes, as stored in `log_head`) as this process last
/// wrote it. It is only a guess: [`append`] uses it in an UPDATE that applies only when the row
/// still holds exactly these values, and falls back to reading the row when it does not (another
/// process appended, or the transaction that wrote the guess rolled back).
#[derive(Debug, Default)]
pub struct HeadCache(std::sync::Mutex<Option<(u64, Vec<u8>)>>);

impl HeadCache {
    fn get(&self) -> Option<(u64, Vec<u8>)> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    fn set(&self, size: u64, frontier: Vec<u8>) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((size, frontier));
        }
    }
}

/// Appends `e` and returns its index. Call it last in a transaction: the row lock on `log_head`
/// is held until commit and serialises every appender, across relay processes too.
pub async fn append(tx: &mut super::Tx, e: &Entry) -> StoreResult<u64> {
    append_many(tx, std::slice::from_ref(e)).await
}

/// Appends `entries` in order, as consecutive entries, and returns the index of the first. One
/// move of `log_head` and one insert per table for all of them: the batch writer
/// ([`super::batch`]) logs a whole batch of requests this way. An empty slice appends nothing.
pub async fn append_many(tx: &mut super::Tx, entries: &[Entry]) -> StoreResult<u64> {
    let n = entries.len() as u64;
    let cache = tx.log_head().cloned();
    // With a cached edge: one conditional UPDATE moves the head, instead of a read and a write.
    if let Some((size, frontier)) = cache.as_ref().and_then(|c| c.get())
        && let Some(tree) = Tree::from_frontier(size, split_frontier(Some(frontier.clone())))
    {
        let (pushed, edge) = push_all(tree, entries, size)?;
        let moved = exec(
            &mut *tx,
            sqlx::query(
                "UPDATE log_head SET size = $1, frontier = $2 WHERE id = 1 AND size = $3 AND frontier = $4",
            )
            .bind(i64::try_from(size + n).unwrap_or(i64::MAX))
            .bind(edge.clone())
            .bind(i64::try_from(size).unwrap_or(i64::MAX))
            .bind(frontier),
        )
        .await?;
        if moved == 1 {
            store_pushed(&mut *tx, &pushed).await?;
            if let Some(c) = &cache {
                c.set(size + n, edge);
            }
            return Ok(size);
        }
    }
    let row = sqlx::query("UPDATE log_head SET size = size + $1 WHERE id = 1 RETURNING size, frontier")
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_one(&mut **tx)
        .await?;
    let size: i64 = row.try_get("size")?;
    let first = u64::try_from(size)
        .ok()
        .and_then(|s| s.checked_sub(n))
        .ok_or_else(|| StoreError::Corrupt("negative log size".into()))?;
    let tree = Tree::from_frontier(first, split_frontier(row.try_get::<Option<Vec<u8>>, _>("frontier")?))
        .ok_or_else(|| {
            StoreError::Corrupt(
                "the log's stored tree edge does not fit its size; restart the relay to rebuild it".into(),
            )
        })?;
    let (pushed, edge) = push_all(tree, entries, first)?;
    exec(&mut *tx, sqlx::query("UPDATE log_head SET frontier = $1 WHERE id = 1").bind(edge.clone())).await?;
    store_pushed(&mut *tx, &pushed).await?;
    if let Some(c) = &cache {
        c.set(first + n, edge);
    }
    Ok(first)
}

/// One entry pushed onto the tree: what an append stores.
struct Pushed {
    entry: LogEntry,
    bytes: Vec<u8>,
    leaf: Hash,
    /// The subtrees the leaf completes (above the leaves).
    nodes: Vec<(NodeId, Hash)>,
}

/// Pushes `entries` onto `tree` (of size `first`); returns what to store and the new right edge.
fn push_all(mut tree: Tree, entries: &[Entry], first: u64) -> StoreResult<(Vec<Pushed>, Vec<u8>)> {
    let mut pushed = Vec::with_capacity(entries.len());
    for (index, e) in (first..).zip(entries) {
        let entry = e.typed(index)?;
        let bytes = entry.encode();
        let leaf = entry.leaf_hash();
        let mut nodes = Vec::new();
        tree.push_with(leaf, |node, hash| {
            if node.level > 0 {
                nodes.push((node, *hash));
            }
        });
        pushed.push(Pushed { entry, bytes, leaf, nodes });
    }
    Ok((pushed, tree.frontier().concat()))
}

/// Rows per multi-row INSERT: well inside SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const ROWS_PER_INSERT: usize = 64;

async fn store_pushed(conn: &mut AnyConnection, pushed: &[Pushed]) -> StoreResult<()> {
    for part in pushed.chunks(ROWS_PER_INSERT) {
        let rows: Vec<(&LogEntry, &[u8], &Hash)> =
            part.iter().map(|p| (&p.entry, p.bytes.as_slice(), &p.leaf)).collect();
        insert_entries(&mut *conn, &rows).await?;
    }
    let nodes: Vec<&(NodeId, Hash)> = pushed.iter().flat_map(|p| &p.nodes).collect();
    for part in nodes.chunks(ROWS_PER_INSERT) {
        let sql = format!("INSERT INTO log_nodes (level, idx, hash) VALUES {}", placeholders(part.len(), 3));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (node, hash) in part {
            q = q
                .bind(i64::from(node.level))
                .bind(i64::try_from(node.index).unwrap_or(i64::MAX))
                .bind(hash.to_vec());
        }
        exec(&mut *conn, q).await?;
    }
    Ok(())
}

/// `($1, …, $cols), ($cols+1, …)`: `rows` groups of `cols` numbered placeholders.
fn placeholders(rows: usize, cols: usize) -> String {
    let group = |r: usize| {
        let params: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
        format!("({})", params.join(", "))
    };
    (0..rows).map(group).collect::<Vec<_>>().join(", ")
}

/// The queryable columns are written from the typed entry, so they say exactly what was hashed.
async fn insert_entries(conn: &mut AnyConnection, part: &[(&LogEntry, &[u8], &Hash)]) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO access_log (idx, at, request_id, actor_principal, actor_user, cert_fingerprint, action,
                                 decision, reason, case_id, consent_id, envelope_id, object, peer, entry, leaf_hash)
         VALUES {}",
        placeholders(part.len(), 16)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (e, bytes, leaf) in part {
        q = q
            .bind(i64::try_from(e.index).unwrap_or(i64::MAX))
            .bind(e.at_us)
            .bind(e.request_id.as_str().to_owned())
            .bind(e.actor_principal.as_ref().map(|p| p.as_str().to_owned()))
            .bind(e.actor_user.as_ref().map(|u| u.as_str().to_owned()))
            .bind(e.cert_fingerprint.map(hex::encode))
            .bind(i64::from(e.action.code()))
            .bind(i64::from(e.reason.is_ok()))
            .bind(i64::from(e.reason.code()))
            .bind(e.case_id.as_ref().map(|c| c.as_str().to_owned()))
            .bind(e.consent_id.as_ref().map(|c| c.as_str().to_owned()))
            .bind(e.envelope_id.as_ref().map(|c| c.as_str().to_owned()))
            .bind(e.object.as_ref().map(|o| o.as_str().to_owned()))
            .bind(e.peer.map(|p| p.to_string()))
            .bind(bytes.to_vec())
            .bind(leaf.to_vec());
    }
    exec(conn, q).await?;
    Ok(())
}

/// The log's size and root as its stored right edge gives them.
pub async fn head(conn: &mut AnyConnection) -> StoreResult<Tree> {
    let row = sqlx::query("SELECT size, frontier FROM log_head WHERE id = 1").fetch_one(&mut *conn).await?;
    let size =
        u64::try_from(row.try_get::<i64, _>("size")?).map_err(|_| StoreError::Corrupt("log size".into()))?;
    Tree::from_frontier(size, split_frontier(row.try_get("frontier")?))
        .ok_or_else(|| StoreError::Corrupt("the log's stored tree edge does not fit its size".into()))
}

/// Stored entries from `from` (inclusive), at most `limit`, in index order: (index, bytes, leaf hash).
pub async fn raw_range(
    conn: &mut AnyConnection,
    from: u64,
    limit: u32,
) -> StoreResult<Vec<(u64, Option<Vec<u8>>, Option<Vec<u8>>)>> {
    let rows =
        sqlx::query("SELECT idx, entry, leaf_hash FROM access_log WHERE idx >= $1 ORDER BY idx LIMIT $2")
            .bind(i64::try_from(from).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| {
            let idx = u64::try_from(r.try_get::<i64, _>("idx")?)
                .map_err(|_| StoreError::Corrupt("log index".into()))?;
            Ok((idx, r.try_get("entry")?, r.try_get("leaf_hash")?))
        })
        .collect()
}

/// The stored hash of a complete subtree (level >= 1), if any.
pub async fn node(conn: &mut AnyConnection, node: NodeId) -> StoreResult<Option<Hash>> {
    let row = sqlx::query("SELECT hash FROM log_nodes WHERE level = $1 AND idx = $2")
        .bind(i64::from(node.level))
        .bind(i64::try_from(node.index).unwrap_or(i64::MAX))
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        let v: Vec<u8> = r.try_get("hash")?;
        v.try_into().map_err(|_| StoreError::Corrupt(format!("stored hash of {node} is not 32 bytes")))
    })
    .transpose()
}

/// A stored leaf hash.
pub async fn leaf(conn: &mut AnyConnection, index: u64) -> StoreResult<Option<Hash>> {
    let row = sqlx::query("SELECT leaf_hash FROM access_log WHERE idx = $1")
        .bind(i64::try_from(index).unwrap_or(i64::MAX))
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => match r.try_get::<Option<Vec<u8>>, _>("leaf_hash")? {
            Some(v) => Ok(Some(v.try_into().map_err(|_| StoreError::Corrupt(format!("leaf hash {index}")))?)),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

/// Reads hashes for proofs from the database. Core's proof code is synchronous; the reads run on
/// the current multi-threaded runtime with `block_in_place`, one query per hash (O(log n) per proof).
pub struct DbHashReader<'c> {
    conn: std::sync::Mutex<&'c mut AnyConnection>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for DbHashReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbHashReader").finish_non_exhaustive()
    }
}

impl<'c> DbHashReader<'c> {
    /// Reads through `conn` (call from within the relay's runtime).
    pub fn new(conn: &'c mut AnyConnection) -> Self {
        DbHashReader { conn: std::sync::Mutex::new(conn), runtime: tokio::runtime::Handle::current() }
    }

    fn run<T>(&self, f: impl AsyncFnOnce(&mut AnyConnection) -> StoreResult<T>) -> Result<T, ReadError> {
        let mut guard = self.conn.lock().map_err(|_| "the proof reader's connection is poisoned")?;
        let conn: &mut AnyConnection = &mut guard;
        tokio::task::block_in_place(|| self.runtime.block_on(f(conn))).map_err(|e| Box::new(e) as ReadError)
    }
}

impl HashReader for DbHashReader<'_> {
    fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError> {
        self.run(async |c| leaf(c, index).await)?
            .ok_or_else(|| format!("entry {index} has no stored leaf hash").into())
    }

    fn subtree_hash(&self, id: NodeId) -> Result<Option<Hash>, ReadError> {
        self.run(async |c| node(c, id).await)
    }
}

/// Entries with their columns, for tests and tools that read the database directly.
pub async fn range(conn: &mut AnyConnection, from: u64, limit: u32) -> StoreResult<Vec<LogEntry>> {
    raw_range(conn, from, limit)
        .await?
        .into_iter()
        .map(|(idx, bytes, _)| {
            let bytes =
                bytes.ok_or_else(|| StoreError::Corrupt(format!("entry {idx} has no stored bytes")))?;
            LogEntry::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("entry {idx}: {e}")))
        })
        .collect()
}

/// A signed checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed note (the relay's signature only).
    pub note: String,
}

fn checkpoint_from_row(r: &sqlx::any::AnyRow) -> StoreResult<StoredCheckpoint> {
    let root: Vec<u8> = r.try_get("root")?;
    Ok(StoredCheckpoint {
        size: u64::try_from(r.try_get::<i64, _>("size")?)
            .map_err(|_| StoreError::Corrupt("checkpoint size".into()))?,
        root: root.try_into().map_err(|_| StoreError::Corrupt("checkpoint root".into()))?,
        note: r.try_get("note")?,
    })
}

/// The newest signed checkpoint.
pub async fn latest_checkpoint(conn: &mut AnyConnection) -> StoreResult<Option<StoredCheckpoint>> {
    let row = sqlx::query("SELECT size, root, note FROM log_checkpoints ORDER BY size DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// Signed checkpoints of at least `from` entries, smallest first, at most `limit`.
pub async fn checkpoints_from(
    conn: &mut AnyConnection,
    from: u64,
    limit: u32,
) -> StoreResult<Vec<StoredCheckpoint>> {
    let rows =
        sqlx::query("SELECT size, root, note FROM log_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2")
            .bind(i64::try_from(from).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(conn)
            .await?;
    rows.iter().map(checkpoint_from_row).collect()
}

/// The checkpoint of exactly `size` entries.
pub async fn checkpoint_at(conn: &mut AnyConnection, size: u64) -> StoreResult<Option<StoredCheckpoint>> {
    let row = sqlx::query("SELECT size, root, note FROM log_checkpoints WHERE size = $1")
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// Stores a signed checkpoint; false if one of that size exists (another relay process signed it).
pub async fn insert_checkpoint(
    conn: &mut AnyConnection,
    c: &StoredCheckpoint,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    let n = exec(
        conn,
        sqlx::query("INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING")
            .bind(i64::try_from(c.size).unwrap_or(i64::MAX))
            .bind(c.root.to_vec())
            .bind(c.note.clone())
            .bind(micros(now)),
    )
    .await?;
    Ok(n == 1)
}

/// A witness's cosignature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness key's name.
    pub key_name: String,
    /// The principal whose witness it is.
    pub principal: PrincipalId,
    /// The signature line, with its newline.
    pub line: String,
}

/// The cosignatures of the checkpoint of `size` entries.
pub async fn cosignatures(conn: &mut AnyConnection, size: u64) -> StoreResult<Vec<Cosignature>> {
    let rows = sqlx::query(
        "SELECT key_name, principal_id, line FROM log_cosignatures WHERE size = $1 ORDER BY key_name",
    )
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Cosignature {
                key_name: r.try_get("key_name")?,
                principal: super::parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")?,
                line: r.try_get("line")?,
            })
        })
        .collect()
}

/// Stores a verified cosignature, replacing an earlier one by the same key for that checkpoint.
pub async fn put_cosignature(
    conn: &mut AnyConnection,
    size: u64,
    c: &Cosignature,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    exec(
        &mut *conn,
        sqlx::query("DELETE FROM log_cosignatures WHERE size = $1 AND key_name = $2")
            .bind(size)
            .bind(c.key_name.clone()),
    )
    .await?;
    exec(
        conn,
        sqlx::query("INSERT INTO log_cosignatures (size, key_name, principal_id, line, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(size)
            .bind(c.key_name.clone())
            .bind(c.principal.as_str().to_owned())
            .bind(c.line.clone())
            .bind(micros(now)),
    )
    .await?;
    Ok(())
}

/// Every entry from its columns, in index order (for encoding entries written before the log was
/// tamper-evident).
pub async fn legacy_entries(conn: &mut AnyConnection) -> StoreResult<Vec<(u64, Entry)>> {
    let rows = sqlx::query(
        "SELECT idx, at, request_id, actor_principal, actor_user, cert_fingerprint, action, reason,
                case_id, consent_id, envelope_id, object, peer
         FROM access_log ORDER BY idx",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let action = u16::try_from(r.try_get::<i64, _>("action")?).ok().and_then(Action::from_code);
            let reason = u16::try_from(r.try_get::<i64, _>("reason")?).ok().and_then(Reason::from_code);
            let idx = u64::try_from(r.try_get::<i64, _>("idx")?)
                .map_err(|_| StoreError::Corrupt("log index".into()))?;
            Ok((
                idx,
                Entry {
                    at: Some(super::from_micros(r.try_get("at")?)),
                    request_id: r.try_get("request_id")?,
                    actor_principal: r.try_get("actor_principal")?,
                    actor_user: r.try_get("actor_user")?,
                    cert_fingerprint: r.try_get("cert_fingerprint")?,
                    action: Some(
                        action.ok_or_else(|| StoreError::Corrupt(format!("entry {idx}: unknown action")))?,
                    ),
                    reason: Some(
                        reason.ok_or_else(|| StoreError::Corrupt(format!("entry {idx}: unknown reason")))?,
                    ),
                    case_id: r.try_get("case_id")?,
                    consent_id: r.try_get("consent_id")?,
                    envelope_id: r.try_get("envelope_id")?,
                    object: r.try_get("object")?,
                    peer: r.try_get("peer")?,
                },
            ))
        })
        .collect()
}

/// Rewrites an entry's row from its typed form, with its bytes and leaf hash.
pub async fn set_entry_bytes(conn: &mut AnyConnection, e: &LogEntry, leaf: &Hash) -> StoreResult<()> {
    exec(
        &mut *conn,
        sqlx::query("DELETE FROM access_log WHERE idx = $1").bind(i64::try_from(e.index).unwrap_or(i64::MAX)),
    )
    .await?;
    insert_entries(conn, &[(e, &e.encode(), leaf)]).await
}

/// Stores a complete subtree's hash.
pub async fn put_node(conn: &mut AnyConnection, node: NodeId, hash: &Hash) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query("INSERT INTO log_nodes (level, idx, hash) VALUES ($1, $2, $3)")
            .bind(i64::from(node.level))
            .bind(i64::try_from(node.index).unwrap_or(i64::MAX))
            .bind(hash.to_vec()),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use samordna_core::{PrincipalId, audit::Action};

    use super::*;
    use crate::store::Store;

    fn entry(i: u64) -> Entry {
        Entry {
            at: Some(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i as i64)),
            request_id: format!("test-{i}"),
            action: Some(Action::DirectoryRead),
            object: Some("SE2321000032".into()),
            ..Entry::default()
        }
    }

    async fn append_one(store: &Store, i: u64) -> u64 {
        let mut tx = store.write().await.expect("begin");
        let idx = append(&mut tx, &entry(i)).await.expect("append");
        tx.commit().await.expect("commit");
        idx
    }

    /// The stored entries, hashed again, give the stored size and right edge.
    async fn assert_consistent(store: &Store, expected: u64) {
        let mut conn = store.read().await.expect("read");
        let head = head(&mut conn).await.expect("head");
        let mut tree = Tree::new();
        for (idx, bytes, leaf) in raw_range(&mut conn, 0, 10_000).await.expect("range") {
            assert_eq!(idx, tree.size(), "gap-free indices");
            let decoded = LogEntry::decode(&bytes.expect("bytes")).expect("decodes");
            assert_eq!(decoded.index, idx);
            assert_eq!(leaf.as_deref(), Some(decoded.leaf_hash().as_slice()));
            tree.push(decoded.leaf_hash());
            if tree.size() >= 2 && tree.size().is_power_of_two() {
                // The complete subtree the push closed is stored for proofs.
                let level = tree.size().trailing_zeros();
                let stored = node(&mut conn, NodeId { level, index: 0 }).await.expect("node");
                assert_eq!(stored.as_ref(), tree.frontier().first());
            }
        }
        assert_eq!(tree.size(), expected);
        assert_eq!(head.size(), expected);
        assert_eq!(head.frontier(), tree.frontier(), "stored edge matches the entries");
    }

    /// Two relay processes on one SQLite file (two stores, two edge caches): appends from either,
    /// in any order, and a rolled-back append, leave one gap-free log whose stored edge is right.
    #[tokio::test]
    async fn cached_edge_survives_other_writers_and_rollbacks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("relay.db").display());
        let a = Store::connect(&url).await.expect("a");
        a.migrate().await.expect("migrate");
        let b = Store::connect(&url).await.expect("b");
        let mut i = 0;
        let mut next = |store: &Store| {
            i += 1;
            let (store, n) = (store.clone(), i);
            async move { append_one(&store, n).await }
        };
        assert_eq!(next(&a).await, 0);
        assert_eq!(next(&a).await, 1);
        assert_eq!(next(&b).await, 2, "b reads the row: a's appends are there");
        assert_eq!(next(&a).await, 3, "a's cached edge is stale; its UPDATE misses and it reads the row");
        // An append whose transaction rolls back leaves a's cache ahead of the row.
        {
            let mut tx = a.write().await.expect("begin");
            assert_eq!(append(&mut tx, &entry(99)).await.expect("append"), 4);
            tx.rollback().await.expect("rollback");
        }
        assert_eq!(next(&a).await, 4, "the rolled-back index is given again");
        assert_eq!(next(&b).await, 5);
        for _ in 0..9 {
            next(&a).await;
        }
        assert_eq!(next(&b).await, 15);
        assert_consistent(&a, 16).await;
        assert_consistent(&b, 16).await;
    }

    /// Every change to what an upload's decision reads moves the policy counter, in the writing
    /// transaction (the upload path skips its second decision only while the counter stands).
    #[tokio::test]
    async fn policy_counter_moves_with_every_decision_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("relay.db").display());
        let store = Store::connect(&url).await.expect("store");
        store.migrate().await.expect("migrate");
        let version = |store: Store| async move {
            let mut conn = store.read().await.expect("read");
            store.policy_version(&mut conn).await.expect("version")
        };
        let v0 = version(store.clone()).await;
        let id = PrincipalId::parse("SE2321000032").expect("id");
        let mut tx = store.write().await.expect("begin");
        exec(
            &mut tx,
            sqlx::query(
                "INSERT INTO principals (id, name, kind, mailbox, enabled, created_at) VALUES ($1, 'R', 'region', 'r@example.org', 1, 0)",
            )
            .bind(id.as_str().to_owned()),
        )
        .await
        .expect("insert");
        append(&mut tx, &entry(1)).await.expect("append");
        tx.commit().await.expect("commit");
        let v1 = version(store.clone()).await;
        assert!(v1 > v0, "registering a principal moves it");
        let mut tx = store.write().await.expect("begin");
        append(&mut tx, &entry(2)).await.expect("append");
        tx.commit().await.expect("commit");
        assert_eq!(version(store.clone()).await, v1, "a log entry is not a decision input");
        let mut tx = store.write().await.expect("begin");
        assert!(crate::store::principals::set_enabled(&mut tx, &id, false).await.expect("disable"));
        tx.rollback().await.expect("rollback");
        assert_eq!(version(store.clone()).await, v1, "a rolled-back change does not");
        let mut tx = store.write().await.expect("begin");
        crate::store::principals::set_enabled(&mut tx, &id, false).await.expect("disable");
        tx.commit().await.expect("commit");
        assert!(version(store.clone()).await > v1, "disabling a principal moves it");
    }
}
