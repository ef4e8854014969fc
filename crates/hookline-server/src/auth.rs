//! Logging in and tokens: [`Auth`] checks a login and password against the users resource
//! (argon2 hashes), issues signed tokens (HS256) and turns a token back into the [`Actor`]
//! every hook sees; [`hash_password`] makes the hashes.
//!
//! Password hashes are backend-only columns, which the resource flows never return. Auth reads
//! them through a private view of the users table: the same table, with the password column
//! readable, over the same database, with no hooks and no routes. Nothing else uses that view.
//! The check of every token reads the same columns by primary key (`user_rows.rs`).
//!
//! **Several instances, one database.** The signing secret comes from the environment
//! variable `[auth] secret_env` names (`HOOKLINE_SECRET`), or else from the database: the
//! first instance makes one and stores it in the server's table `hookline_meta`
//! (`meta.rs`), and every instance and restart uses it. A token carries a fingerprint of the
//! user row it was issued for (a keyed hash of login, roles and password hash, as stored);
//! every request that presents it reads that row by primary key and refuses the token (401)
//! if the user is gone or the fingerprint differs. A change of role, login or password, or a
//! deletion, through any path — the API, a script, plain SQL — thus takes effect on the
//! user's next request, on every instance, with nothing cached and no messages between
//! instances.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use hookline_data::{
    Actor, AllowedActions, Data, DataError, DataSource, Filter, Query, Record, Resource,
    ResourceDef,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::config::AuthConfig;
use crate::error::ApiError;
use crate::user_rows::{UserRow, UserRows};
use crate::validate::SCRIPT_ROLE;

/// The shortest signing secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The shortest password accepted when one is set through the API, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes a password with argon2id (default parameters, random salt) into a PHC string
/// (`$argon2id$v=19$…`), as the password column stores it.
///
/// ```
/// let hash = hookline_server::hash_password("correct horse")?;
/// assert!(hash.starts_with("$argon2id$"));
/// # Ok::<(), hookline_server::AuthError>(())
/// ```
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Setting up authentication failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The signing secret from the environment is too short.
    #[error(
        "the token secret in `{var}` has {len} bytes; use at least {MIN_SECRET_LEN} (e.g. `openssl rand -hex 32`)"
    )]
    WeakSecret {
        /// The environment variable.
        var: String,
        /// Its length in bytes.
        len: usize,
    },
    /// No randomness for a secret was available.
    #[error("cannot generate a token secret: {0}")]
    Random(String),
    /// The shared token secret could not be read from or stored in the database (table
    /// `hookline_meta`), or the stored one is too short.
    #[error(
        "the token secret in the database table `hookline_meta`: {message} (or set a secret in `{var}`)"
    )]
    StoredSecret {
        /// The environment variable that would override it.
        var: String,
        /// What went wrong.
        message: String,
    },
    /// A password could not be hashed.
    #[error("cannot hash a password: {0}")]
    Hash(String),
    /// The private view of the users table could not be built.
    #[error("cannot read the users table: {0}")]
    Users(#[from] DataError),
}

/// What a token says.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The login.
    sub: String,
    /// The user's primary key.
    uid: Value,
    /// The user's roles.
    roles: Vec<String>,
    /// Issued at (seconds since the epoch).
    iat: u64,
    /// Expires at (seconds since the epoch).
    exp: u64,
    /// The fingerprint of the user row the token was issued for ([`Auth::fingerprint`]).
    fp: String,
}

/// A successful login.
#[derive(Debug, Clone, Serialize)]
pub struct Login {
    /// The bearer token.
    pub token: String,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// Who logged in.
    pub user: Actor,
}

/// Authentication for one server: the users table's private view, the token keys and the
/// settings.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    /// The private view of the users table, every column.
    users: Resource,
    /// The users' rows as they are now (login, roles, password hash), for the check of every
    /// token.
    current: UserRows,
    login_column: String,
    password_column: String,
    roles_column: Option<String>,
    admin_roles: Vec<String>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// HMAC-SHA256 keyed with the signing secret, for fingerprints.
    fingerprints: Hmac<Sha256>,
    ttl: Duration,
    /// A hash of a random password, checked when the login is unknown so that unknown and
    /// known logins take as long (made at the first unknown login).
    decoy: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.inner.users.name())
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Builds authentication over the users resource `users` (its definition as configured),
    /// on `source`, which must already have the table. The secret comes from the environment
    /// variable the config names, or else from the database (made and stored by the first
    /// instance that needs it).
    pub(crate) async fn build(
        config: &AuthConfig,
        users: &ResourceDef,
        source: &DataSource,
    ) -> Result<Auth, AuthError> {
        let secret = secret(config, source).await?;
        let view = Data::builder(source.clone())
            .create_missing_tables(false)
            .resource(private_view(users, &config.password_column))
            .build()
            .await?;
        let current = UserRows::new(
            source,
            users,
            &config.login_column,
            config.roles_column.as_deref(),
            &config.password_column,
        );
        let fingerprints = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret)
            .expect("HMAC takes keys of any length");
        Ok(Auth {
            inner: Arc::new(AuthInner {
                users: view.resource(&users.name)?,
                current,
                login_column: config.login_column.clone(),
                password_column: config.password_column.clone(),
                roles_column: config.roles_column.clone(),
                admin_roles: config.admin_roles.clone(),
                encoding: EncodingKey::from_secret(&secret),
                decoding: DecodingKey::from_secret(&secret),
                fingerprints,
                ttl: Duration::from_secs(config.token_ttl_secs),
                decoy: Arc::default(),
            }),
        })
    }

    /// Closes the connection the token checks read on (a later check opens a new one).
    pub(crate) async fn close(&self) {
        self.inner.current.close().await;
    }

    /// The users resource's private view (password column readable, no hooks).
    pub(crate) fn users(&self) -> &Resource {
        &self.inner.users
    }

    /// The column passwords are stored in.
    pub(crate) fn password_column(&self) -> &str {
        &self.inner.password_column
    }

    /// The actor of the user with this login, if exactly one user has it.
    pub(crate) async fn actor_for(&self, login: &str) -> Result<Option<Actor>, DataError> {
        Ok(self
            .find(login)
            .await?
            .map(|user| self.actor_of(login, &user)))
    }

    /// The user record with this login (password column included), if exactly one has it.
    async fn find(&self, login: &str) -> Result<Option<Record>, DataError> {
        let inner = &self.inner;
        let page = inner
            .users
            .list(
                &Actor::default(),
                Query::new()
                    .filter(Filter::eq(inner.login_column.clone(), login))
                    .limit(2),
            )
            .await?;
        Ok(match <[Record; 1]>::try_from(page.records) {
            Ok([user]) => Some(user),
            Err(_) => None,
        })
    }

    /// Checks a login and password; on success, a token for the user.
    pub async fn login(&self, login: &str, password: &str) -> Result<Login, ApiError> {
        let user = self.check(login, password).await?;
        let actor = self.actor_of(login, &user);
        // The fingerprint comes from the read every request makes, so that both see the row
        // alike.
        let fingerprint = self
            .current_fingerprint(&actor.id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid login or password"))?;
        let token = self.issue(login, &actor, fingerprint)?;
        Ok(Login {
            token,
            token_type: "Bearer",
            expires_in: self.inner.ttl.as_secs(),
            user: actor,
        })
    }

    /// The user record of `login` if `password` is theirs; 401 otherwise, after as long a
    /// check whether the login exists or not.
    async fn check(&self, login: &str, password: &str) -> Result<Record, ApiError> {
        let inner = &self.inner;
        let user = self.find(login).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.get_str(&inner.password_column))
            .map(str::to_owned);
        let password = password.to_owned();
        let decoy = inner.decoy.clone();
        let matches = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => verify(&password, &hash),
            None => {
                verify(&password, decoy.get_or_init(decoy_hash));
                false
            }
        })
        .await
        .map_err(|e| ApiError::internal(format!("password check stopped: {e}")))?;
        match (user, matches) {
            (Some(user), true) => Ok(user),
            _ => Err(ApiError::unauthorized("invalid login or password")),
        }
    }

    /// Sets a password: the caller's own (`user_id` unset; `current` must be their password
    /// now), or any user's for a caller with one of `[auth] admin_roles`. The hash is written
    /// without hooks. 400 for a short password, 401 for a wrong current password, 403 for a
    /// caller who may not, 404 for an unknown user.
    pub async fn set_password(
        &self,
        caller: &Actor,
        user_id: Option<Value>,
        current: Option<&str>,
        password: &str,
    ) -> Result<(), ApiError> {
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Err(ApiError::bad_request(format!(
                "a password needs at least {MIN_PASSWORD_LEN} characters"
            )));
        }
        let inner = &self.inner;
        let id = match user_id {
            Some(id) if id != caller.id => {
                if !inner.admin_roles.iter().any(|r| caller.has_role(r)) {
                    return Err(ApiError::forbidden(
                        "only `[auth] admin_roles` may set another user's password",
                    ));
                }
                id
            }
            _ => {
                let login = caller.attributes.get_str("login").unwrap_or_default();
                let Some(current) = current else {
                    return Err(ApiError::bad_request(
                        "`current_password` is required to change your own password",
                    ));
                };
                self.check(login, current).await?;
                caller.id.clone()
            }
        };
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| ApiError::internal(format!("password hashing stopped: {e}")))?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut updates = Record::new();
        updates.set(inner.password_column.clone(), hash);
        inner.users.edit(&Actor::default(), id, updates).await?;
        Ok(())
    }

    /// The actor a user record stands for: its primary key, its roles (minus the reserved
    /// script role) and its login.
    fn actor_of(&self, login: &str, user: &Record) -> Actor {
        let inner = &self.inner;
        let pk = inner
            .users
            .def()
            .primary_key()
            .map(|c| c.name.as_str())
            .unwrap_or_default();
        let mut actor =
            Actor::new(user.get(pk).cloned().unwrap_or(Value::Null)).with_attribute("login", login);
        actor.roles = self.roles_of(user);
        actor
    }

    /// A user record's roles, minus the reserved script role.
    fn roles_of(&self, user: &Record) -> Vec<String> {
        let roles = self.inner.roles_column.as_deref().and_then(|c| user.get(c));
        let roles: Vec<String> = match roles {
            Some(Value::String(role)) => vec![role.clone()],
            Some(Value::Array(roles)) => roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        roles.into_iter().filter(|r| r != SCRIPT_ROLE).collect()
    }

    /// What a token is issued for, as a short keyed hash (HMAC-SHA256 with the signing
    /// secret, 16 bytes in hex): the user row's login, roles and password hash, as stored.
    /// Keyed, so that the token, which anyone holding it can read, tells nothing about the
    /// password hash.
    fn fingerprint(&self, user: &UserRow) -> String {
        let mut mac = self.inner.fingerprints.clone();
        mac.update(b"hookline token fingerprint\0");
        for value in [&user.login, &user.roles, &user.password] {
            // Each value tagged and length-prefixed: no two rows hash the same bytes.
            match value {
                None => mac.update(&[0]),
                Some(text) => {
                    mac.update(&[1]);
                    mac.update(&(text.len() as u64).to_le_bytes());
                    mac.update(text.as_bytes());
                }
            }
        }
        let digest = mac.finalize().into_bytes();
        digest[..16]
            .iter()
            .fold(String::with_capacity(32), |mut hex, byte| {
                use std::fmt::Write;
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }

    fn issue(&self, login: &str, actor: &Actor, fp: String) -> Result<String, ApiError> {
        let now = now_secs();
        let claims = Claims {
            sub: login.to_owned(),
            uid: actor.id.clone(),
            roles: actor.roles.clone(),
            iat: now,
            exp: now.saturating_add(self.inner.ttl.as_secs()),
            fp,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )
        .map_err(|e| ApiError::internal(format!("cannot sign a token: {e}")))
    }

    /// The actor a bearer token stands for; 401 if the token is invalid or expired, or was
    /// revoked: its user was deleted, or their login, roles or password changed since it was
    /// issued. The last is read from the database on every call (one row, by primary key).
    pub async fn verify(&self, token: &str) -> Result<Actor, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("the token has expired; log in again")
                }
                _ => ApiError::unauthorized("invalid token"),
            })?;
        let claims = data.claims;
        if self.current_fingerprint(&claims.uid).await?.as_deref() != Some(claims.fp.as_str()) {
            return Err(ApiError::unauthorized(
                "the token was revoked: the user's role, login or password changed, or the user was deleted; log in again",
            ));
        }
        let mut actor = Actor::new(claims.uid).with_attribute("login", claims.sub);
        actor.roles = claims.roles;
        Ok(actor)
    }

    /// The fingerprint of the user with primary key `id` as their row is now; `None` if there
    /// is no such user.
    async fn current_fingerprint(&self, id: &Value) -> Result<Option<String>, ApiError> {
        let user = self.inner.current.get(id).await.map_err(|message| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "cannot check the token now; retry",
            )
            .with_detail(message.to_string())
        })?;
        Ok(user.map(|user| self.fingerprint(&user)))
    }
}

/// The token signing secret: from the environment variable `[auth] secret_env` names if it
/// is set (then nothing is stored), or else the one stored in the database, made now if no
/// instance made it before.
async fn secret(config: &AuthConfig, source: &DataSource) -> Result<Vec<u8>, AuthError> {
    let var = &config.secret_env;
    if let Ok(secret) = std::env::var(var) {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::WeakSecret {
                var: var.clone(),
                len: secret.len(),
            });
        }
        return Ok(secret.into_bytes());
    }
    let mut fresh = [0u8; MIN_SECRET_LEN];
    getrandom::fill(&mut fresh).map_err(|e| AuthError::Random(e.to_string()))?;
    let fresh = fresh.iter().map(|b| format!("{b:02x}")).collect();
    let stored = |message: String| AuthError::StoredSecret {
        var: var.clone(),
        message,
    };
    let secret = crate::meta::token_secret(source, fresh)
        .await
        .map_err(|e| stored(e.to_string()))?;
    if secret.len() < MIN_SECRET_LEN {
        return Err(stored(format!(
            "it has {} bytes; at least {MIN_SECRET_LEN} are needed",
            secret.len()
        )));
    }
    tracing::info!(
        var = %var,
        "no token secret in the environment: using the one stored in the database (table `{}`), shared by every instance on it; tokens survive restarts",
        crate::meta::TABLE
    );
    Ok(secret.into_bytes())
}

/// The users resource as auth reads it: the same table and columns, the password column
/// readable, every action allowed, no foreign keys (the view stands alone).
fn private_view(users: &ResourceDef, password_column: &str) -> ResourceDef {
    let mut view = users.clone();
    view.table = Some(users.table_name().to_owned());
    view.allowed_actions = AllowedActions::default();
    for column in &mut view.columns {
        column.foreign = None;
        if column.name == password_column {
            column.backend_only = false;
        }
    }
    view
}

/// The hash of a random password nobody knows.
fn decoy_hash() -> String {
    let mut password = [0u8; 24];
    // Without randomness the decoy is a fixed string's hash: it still costs the same to check.
    let _ = getrandom::fill(&mut password);
    hash_password(&String::from_utf8_lossy(&password)).unwrap_or_default()
}

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("s3cret").unwrap();
        assert!(verify("s3cret", &hash));
        assert!(!verify("s3cret ", &hash));
        assert!(!verify("s3cret", "not a phc string"));
    }
}
