//! Envelopes: header metadata, ciphertext chunks, recipients, fetches and receipts.

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, PrincipalId,
    envelope::{Header, Party},
    receipt::DeliveryReceipt,
    signed::SignedStatement,
};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreError, StoreResult, exec, from_micros, micros, parse_stored};

/// Bytes of ciphertext per stored chunk.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// An envelope's stored metadata.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Its id.
    pub id: EnvelopeId,
    /// Its case.
    pub case_id: CaseId,
    /// The consent it was sent under.
    pub consent_id: ConsentId,
    /// The sender.
    pub sender: Party,
    /// What kind of information.
    pub kind: ContentKind,
    /// When it was sealed.
    pub created: OffsetDateTime,
    /// The signed header bytes.
    pub header: Vec<u8>,
    /// The header's signature.
    pub header_signature: Vec<u8>,
    /// SHA-256 of `header`.
    pub header_sha256: [u8; 32],
    /// Ciphertext length.
    pub ciphertext_length: u64,
    /// Stored chunks.
    pub chunk_count: u64,
    /// When the relay stored it.
    pub stored_at: OffsetDateTime,
    /// When its ciphertext was deleted.
    pub deleted_at: Option<OffsetDateTime>,
}

impl Envelope {
    /// The envelope's bytes before the ciphertext (magic, version, header, signature).
    pub fn prefix(&self) -> Vec<u8> {
        samordna_core::envelope::prefix(&self.header, &self.header_signature)
    }

    /// Total envelope size.
    pub fn size(&self) -> u64 {
        (17 + self.header.len() + self.header_signature.len()) as u64 + self.ciphertext_length
    }
}

fn digest(v: Vec<u8>, what: &str) -> StoreResult<[u8; 32]> {
    v.try_into().map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<Envelope> {
    let kind: String = r.try_get("content_kind")?;
    Ok(Envelope {
        id: parse_stored(&r.try_get::<String, _>("id")?, "envelope id")?,
        case_id: parse_stored(&r.try_get::<String, _>("case_id")?, "case id")?,
        consent_id: parse_stored(&r.try_get::<String, _>("consent_id")?, "consent id")?,
        sender: Party {
            principal: parse_stored(&r.try_get::<String, _>("sender_principal")?, "principal id")?,
            user: parse_stored(&r.try_get::<String, _>("sender_user")?, "HSA-id")?,
        },
        kind: parse_stored(&kind, "content kind")?,
        created: from_micros(r.try_get("created")?),
        header: r.try_get("header")?,
        header_signature: r.try_get("header_signature")?,
        header_sha256: digest(r.try_get("header_sha256")?, "header digest")?,
        ciphertext_length: u64::try_from(r.try_get::<i64, _>("ciphertext_length")?)
            .map_err(|_| StoreError::Corrupt("ciphertext length".into()))?,
        chunk_count: u64::try_from(r.try_get::<i64, _>("chunk_count")?)
            .map_err(|_| StoreError::Corrupt("chunk count".into()))?,
        stored_at: from_micros(r.try_get("stored_at")?),
        deleted_at: r.try_get::<Option<i64>, _>("deleted_at")?.map(from_micros),
    })
}

const COLUMNS: &str = "id, case_id, consent_id, sender_principal, sender_user, content_kind, created, header, \
                       header_signature, header_sha256, ciphertext_length, chunk_count, stored_at, deleted_at";

/// One envelope.
pub async fn get(conn: &mut AnyConnection, id: &EnvelopeId) -> StoreResult<Option<Envelope>> {
    let sql = format!("SELECT {COLUMNS} FROM envelopes WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str().to_owned()).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Stores an envelope's metadata and its recipient principals. Chunks follow with [`insert_chunk`].
pub async fn insert(
    conn: &mut AnyConnection,
    header: &Header,
    header_bytes: &[u8],
    header_signature: &[u8],
    header_sha256: &[u8; 32],
    chunk_count: u64,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let len = |n: u64| i64::try_from(n).map_err(|_| StoreError::Other("length out of range".into()));
    exec(
        &mut *conn,
        sqlx::query(
            "INSERT INTO envelopes (id, case_id, consent_id, sender_principal, sender_user, content_kind, created,
                                    header, header_signature, header_sha256, ciphertext_length, ciphertext_sha256,
                                    chunk_count, stored_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(header.envelope_id.as_str().to_owned())
        .bind(header.case_id.as_str().to_owned())
        .bind(header.consent_id.as_str().to_owned())
        .bind(header.sender.principal.as_str().to_owned())
        .bind(header.sender.user.as_str().to_owned())
        .bind(header.content_kind.as_str())
        .bind(micros(header.created))
        .bind(header_bytes.to_vec())
        .bind(header_signature.to_vec())
        .bind(header_sha256.to_vec())
        .bind(len(header.ciphertext.length)?)
        .bind(header.ciphertext.sha256.to_vec())
        .bind(len(chunk_count)?)
        .bind(micros(now)),
    )
    .await?;
    for p in header.recipient_principals() {
        exec(
            &mut *conn,
            sqlx::query("INSERT INTO envelope_recipients (envelope_id, principal_id) VALUES ($1, $2)")
                .bind(header.envelope_id.as_str().to_owned())
                .bind(p.as_str().to_owned()),
        )
        .await?;
    }
    Ok(())
}

/// Stores one chunk of ciphertext.
pub async fn insert_chunk(
    conn: &mut AnyConnection,
    id: &EnvelopeId,
    seq: u64,
    data: Vec<u8>,
) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query("INSERT INTO envelope_chunks (envelope_id, seq, data) VALUES ($1, $2, $3)")
            .bind(id.as_str().to_owned())
            .bind(i64::try_from(seq).map_err(|_| StoreError::Other("chunk index".into()))?)
            .bind(data),
    )
    .await?;
    Ok(())
}

/// One chunk of ciphertext.
pub async fn chunk(conn: &mut AnyConnection, id: &EnvelopeId, seq: u64) -> StoreResult<Option<Vec<u8>>> {
    let row = sqlx::query("SELECT data FROM envelope_chunks WHERE envelope_id = $1 AND seq = $2")
        .bind(id.as_str().to_owned())
        .bind(i64::try_from(seq).map_err(|_| StoreError::Other("chunk index".into()))?)
        .fetch_optional(conn)
        .await?;
    row.map(|r| r.try_get("data").map_err(StoreError::from)).transpose()
}

/// One recipient principal's delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The recipient.
    pub principal: PrincipalId,
    /// Its first fetch.
    pub first_fetched_at: Option<OffsetDateTime>,
    /// Its receipt.
    pub receipt: Option<DeliveryReceipt>,
}

fn delivery_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Delivery> {
    let statement: Option<Vec<u8>> = r.try_get("receipt_statement")?;
    let signature: Option<Vec<u8>> = r.try_get("receipt_signature")?;
    Ok(Delivery {
        principal: parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")?,
        first_fetched_at: r.try_get::<Option<i64>, _>("first_fetched_at")?.map(from_micros),
        receipt: match (statement, signature) {
            (Some(statement), Some(signature)) => {
                Some(DeliveryReceipt(SignedStatement { statement, signature }))
            }
            _ => None,
        },
    })
}

/// Every recipient principal of an envelope.
pub async fn deliveries(conn: &mut AnyConnection, id: &EnvelopeId) -> StoreResult<Vec<Delivery>> {
    let rows = sqlx::query(
        "SELECT principal_id, first_fetched_at, receipt_statement, receipt_signature FROM envelope_recipients
         WHERE envelope_id = $1 ORDER BY principal_id",
    )
    .bind(id.as_str().to_owned())
    .fetch_all(conn)
    .await?;
    rows.iter().map(delivery_from_row).collect()
}

/// One recipient's delivery, or `None` if `principal` is not a recipient.
pub async fn delivery(
    conn: &mut AnyConnection,
    id: &EnvelopeId,
    principal: &PrincipalId,
) -> StoreResult<Option<Delivery>> {
    let row = sqlx::query(
        "SELECT principal_id, first_fetched_at, receipt_statement, receipt_signature FROM envelope_recipients
         WHERE envelope_id = $1 AND principal_id = $2",
    )
    .bind(id.as_str().to_owned())
    .bind(principal.as_str().to_owned())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(delivery_from_row).transpose()
}

/// Records the first fetch by `principal` (later fetches leave it).
pub async fn mark_fetched(
    conn: &mut AnyConnection,
    id: &EnvelopeId,
    principal: &PrincipalId,
    now: OffsetDateTime,
) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query(
            "UPDATE envelope_recipients SET first_fetched_at = $1
             WHERE envelope_id = $2 AND principal_id = $3 AND first_fetched_at IS NULL",
        )
        .bind(micros(now))
        .bind(id.as_str().to_owned())
        .bind(principal.as_str().to_owned()),
    )
    .await?;
    Ok(())
}

/// Stores `principal`'s receipt unless one is already stored; true if stored now.
pub async fn set_receipt(
    conn: &mut AnyConnection,
    id: &EnvelopeId,
    principal: &PrincipalId,
    receipt: &DeliveryReceipt,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    let n = exec(
        conn,
        sqlx::query(
            "UPDATE envelope_recipients SET receipt_statement = $1, receipt_signature = $2, receipt_at = $3
             WHERE envelope_id = $4 AND principal_id = $5 AND receipt_statement IS NULL",
        )
        .bind(receipt.0.statement.clone())
        .bind(receipt.0.signature.clone())
        .bind(micros(now))
        .bind(id.as_str().to_owned())
        .bind(principal.as_str().to_owned()),
    )
    .await?;
    Ok(n == 1)
}

/// An inbox line: the envelope and the caller principal's delivery of it.
pub async fn inbox(
    conn: &mut AnyConnection,
    principal: &PrincipalId,
    case: Option<&CaseId>,
) -> StoreResult<Vec<(Envelope, Delivery)>> {
    let columns = COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ");
    let case_filter = if case.is_some() { "AND e.case_id = $2" } else { "" };
    let sql = format!(
        "SELECT {columns}, r.principal_id, r.first_fetched_at, r.receipt_statement, r.receipt_signature
         FROM envelopes e JOIN envelope_recipients r ON r.envelope_id = e.id
         WHERE r.principal_id = $1 AND e.deleted_at IS NULL {case_filter}
         ORDER BY e.stored_at DESC, e.id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(principal.as_str().to_owned());
    if let Some(c) = case {
        q = q.bind(c.as_str().to_owned());
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(|r| Ok((from_row(r)?, delivery_from_row(r)?))).collect()
}

/// An envelope whose ciphertext the retention rules say to delete.
#[derive(Clone, Debug)]
pub struct Expiring {
    /// The envelope.
    pub id: EnvelopeId,
    /// Its case.
    pub case_id: CaseId,
    /// Its consent.
    pub consent_id: ConsentId,
    /// Its sender.
    pub sender: PrincipalId,
    /// Whether some recipient never fetched it.
    pub unfetched: bool,
}

/// Envelopes fetched by every recipient before `fetched_before`, or stored before `stored_before`.
pub async fn due_for_deletion(
    conn: &mut AnyConnection,
    fetched_before: OffsetDateTime,
    stored_before: OffsetDateTime,
) -> StoreResult<Vec<Expiring>> {
    let rows = sqlx::query(
        "SELECT e.id, e.case_id, e.consent_id, e.sender_principal,
                (SELECT COUNT(*) FROM envelope_recipients r WHERE r.envelope_id = e.id AND r.first_fetched_at IS NULL) AS unfetched
         FROM envelopes e
         WHERE e.deleted_at IS NULL AND (
             e.stored_at <= $1
             OR (NOT EXISTS (SELECT 1 FROM envelope_recipients r WHERE r.envelope_id = e.id AND r.first_fetched_at IS NULL)
                 AND (SELECT MAX(r.first_fetched_at) FROM envelope_recipients r WHERE r.envelope_id = e.id) <= $2))
         ORDER BY e.stored_at LIMIT 1000",
    )
    .bind(micros(stored_before))
    .bind(micros(fetched_before))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Expiring {
                id: parse_stored(&r.try_get::<String, _>("id")?, "envelope id")?,
                case_id: parse_stored(&r.try_get::<String, _>("case_id")?, "case id")?,
                consent_id: parse_stored(&r.try_get::<String, _>("consent_id")?, "consent id")?,
                sender: parse_stored(&r.try_get::<String, _>("sender_principal")?, "principal id")?,
                unfetched: r.try_get::<i64, _>("unfetched")? > 0,
            })
        })
        .collect()
}

/// Deletes an envelope's ciphertext, keeping its header and delivery record; false if already deleted.
pub async fn delete_ciphertext(
    conn: &mut AnyConnection,
    id: &EnvelopeId,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    let n = exec(
        &mut *conn,
        sqlx::query("UPDATE envelopes SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(micros(now))
            .bind(id.as_str().to_owned()),
    )
    .await?;
    if n == 1 {
        exec(
            conn,
            sqlx::query("DELETE FROM envelope_chunks WHERE envelope_id = $1").bind(id.as_str().to_owned()),
        )
        .await?;
    }
    Ok(n == 1)
}
