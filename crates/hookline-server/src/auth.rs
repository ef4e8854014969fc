//! Logging in and tokens: [`Auth`] checks a login and password against the users resource
//! (argon2 hashes), issues signed tokens (HS256) and turns a token back into the [`Actor`]
//! every hook sees; [`hash_password`] makes the hashes.
//!
//! Password hashes are backend-only columns, which the resource flows never return. Auth reads
//! them through a private view of the users table: the same table, with the password column
//! readable, over the same database, with no hooks and no routes. Nothing else uses that view.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use hookline_data::{
    Actor, AllowedActions, Data, DataError, DataSource, Filter, Query, Record, Resource,
    ResourceDef,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::AuthConfig;
use crate::error::ApiError;
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
    users: Resource,
    login_column: String,
    password_column: String,
    roles_column: Option<String>,
    admin_roles: Vec<String>,
    encoding: EncodingKey,
    decoding: DecodingKey,
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
    /// variable the config names, or is random.
    pub(crate) async fn build(
        config: &AuthConfig,
        users: &ResourceDef,
        source: &DataSource,
    ) -> Result<Auth, AuthError> {
        let secret = match std::env::var(&config.secret_env) {
            Ok(secret) if secret.len() < MIN_SECRET_LEN => {
                return Err(AuthError::WeakSecret {
                    var: config.secret_env.clone(),
                    len: secret.len(),
                });
            }
            Ok(secret) => secret.into_bytes(),
            Err(_) => {
                let mut secret = vec![0; MIN_SECRET_LEN];
                getrandom::fill(&mut secret).map_err(|e| AuthError::Random(e.to_string()))?;
                tracing::warn!(
                    var = %config.secret_env,
                    "no token secret in the environment: using a random one; tokens end with this process"
                );
                secret
            }
        };
        let view = Data::builder(source.clone())
            .create_missing_tables(false)
            .resource(private_view(users, &config.password_column))
            .build()
            .await?;
        Ok(Auth {
            inner: Arc::new(AuthInner {
                users: view.resource(&users.name)?,
                login_column: config.login_column.clone(),
                password_column: config.password_column.clone(),
                roles_column: config.roles_column.clone(),
                admin_roles: config.admin_roles.clone(),
                encoding: EncodingKey::from_secret(&secret),
                decoding: DecodingKey::from_secret(&secret),
                ttl: Duration::from_secs(config.token_ttl_secs),
                decoy: Arc::default(),
            }),
        })
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
        let token = self.issue(login, &actor)?;
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
        let roles = inner.roles_column.as_deref().and_then(|c| user.get(c));
        let roles: Vec<String> = match roles {
            Some(Value::String(role)) => vec![role.clone()],
            Some(Value::Array(roles)) => roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        actor.roles = roles.into_iter().filter(|r| r != SCRIPT_ROLE).collect();
        actor
    }

    fn issue(&self, login: &str, actor: &Actor) -> Result<String, ApiError> {
        let now = now_secs();
        let claims = Claims {
            sub: login.to_owned(),
            uid: actor.id.clone(),
            roles: actor.roles.clone(),
            iat: now,
            exp: now.saturating_add(self.inner.ttl.as_secs()),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )
        .map_err(|e| ApiError::internal(format!("cannot sign a token: {e}")))
    }

    /// The actor a bearer token stands for; 401 if the token is invalid or expired.
    pub fn verify(&self, token: &str) -> Result<Actor, ApiError> {
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
        let mut actor = Actor::new(claims.uid).with_attribute("login", claims.sub);
        actor.roles = claims.roles;
        Ok(actor)
    }
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
