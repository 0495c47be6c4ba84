//! Principals (who has signed in or acted) and API tokens, stored hashed.

use async_trait::async_trait;
use regatlas_domain::{
    record::{ApiToken, NewApiToken, Person},
    Actor, Principal, Role, Via,
};

use super::{now, parsed, IdentityStore, PgStore, SqliteStore, StorageError};

#[derive(sqlx::FromRow)]
struct PersonRecord {
    key: String,
    name: String,
    via: String,
    role: String,
    last_seen: String,
}

impl TryFrom<PersonRecord> for Person {
    type Error = StorageError;
    fn try_from(r: PersonRecord) -> Result<Person, StorageError> {
        Ok(Person {
            key: r.key,
            name: Actor::from_stored(r.name),
            via: parsed("stored principal", r.via.parse::<Via>())?,
            role: parsed("stored principal", r.role.parse::<Role>())?,
            last_seen: r.last_seen,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TokenRecord {
    id: String,
    name: String,
    role: String,
    hint: String,
    created_by: String,
    created_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
}

impl TryFrom<TokenRecord> for ApiToken {
    type Error = StorageError;
    fn try_from(r: TokenRecord) -> Result<ApiToken, StorageError> {
        Ok(ApiToken {
            id: r.id,
            name: r.name,
            role: parsed("stored API token", r.role.parse::<Role>())?,
            hint: r.hint,
            created_by: Actor::from_stored(r.created_by),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        })
    }
}

const TOKEN_COLUMNS: &str = "id, name, role, hint, created_by, created_at, expires_at, revoked_at, last_used_at";

/// The trait's implementation, the same SQL for both stores (`$db` is the
/// store's sqlx database).
macro_rules! impl_identity_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl IdentityStore for $store {
            async fn saw_principal(&self, p: &Principal, role: Role) -> Result<(), StorageError> {
                let at = now();
                sqlx::query(
                    "INSERT INTO principals (key, issuer, subject, name, via, role, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (key) DO UPDATE SET name = excluded.name, via = excluded.via, role = excluded.role, last_seen = excluded.last_seen",
                )
                .bind(p.key())
                .bind(&p.issuer)
                .bind(&p.subject)
                .bind(p.name.as_str())
                .bind(p.via.as_str())
                .bind(role.as_str())
                .bind(&at)
                .bind(&at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn people(&self) -> Result<Vec<Person>, StorageError> {
                let rows = sqlx::query_as::<_, PersonRecord>("SELECT key, name, via, role, last_seen FROM principals ORDER BY name, key LIMIT 1000")
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(Person::try_from).collect()
            }

            async fn insert_api_token(&self, t: &NewApiToken) -> Result<(), StorageError> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, name, role, hash, hint, created_by, created_by_key, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&t.id)
                .bind(&t.name)
                .bind(t.role.as_str())
                .bind(&t.hash)
                .bind(&t.hint)
                .bind(t.created_by.as_str())
                .bind(&t.created_by_key)
                .bind(now())
                .bind(&t.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn api_token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StorageError> {
                let row =
                    sqlx::query_as::<_, TokenRecord>(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1")).bind(hash).fetch_optional(&self.pool).await?;
                row.map(ApiToken::try_from).transpose()
            }

            async fn api_token(&self, id: &str) -> Result<Option<ApiToken>, StorageError> {
                let row = sqlx::query_as::<_, TokenRecord>(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
                row.map(ApiToken::try_from).transpose()
            }

            async fn api_tokens(&self) -> Result<Vec<ApiToken>, StorageError> {
                let rows = sqlx::query_as::<_, TokenRecord>(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id LIMIT 1000"))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(ApiToken::try_from).collect()
            }

            async fn revoke_api_token(&self, id: &str, by: &Principal) -> Result<bool, StorageError> {
                let r = sqlx::query("UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
                    .bind(now())
                    .bind(by.key())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn api_token_used(&self, id: &str) -> Result<(), StorageError> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2").bind(now()).bind(id).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

impl_identity_store!(SqliteStore, sqlx::Sqlite);
impl_identity_store!(PgStore, sqlx::Postgres);
