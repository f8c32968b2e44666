//! Passwords: argon2id, stored as a PHC string (which records its parameters, so changing them
//! later keeps old hashes verifiable), hashed once when set, never returned. Hashing runs on the
//! blocking pool. Cost: the crate's defaults (OWASP: m=19 MiB, t=2, p=1), or
//! `ARGON2_MEMORY_KIB` / `ARGON2_ITERATIONS` (the tests lower them: debug builds are slow).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;

fn salt() -> Result<SaltString, argon2::password_hash::Error> {
    // 32 bytes from the OS generator (two v4 UUIDs: 244 random bits).
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    SaltString::encode_b64(&bytes)
}

fn env_u32(name: &str) -> Option<u32> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn params() -> &'static Params {
    static PARAMS: OnceLock<Params> = OnceLock::new();
    PARAMS.get_or_init(|| {
        let memory = env_u32("ARGON2_MEMORY_KIB").unwrap_or(Params::DEFAULT_M_COST);
        let iterations = env_u32("ARGON2_ITERATIONS").unwrap_or(Params::DEFAULT_T_COST);
        Params::new(memory, iterations, Params::DEFAULT_P_COST, None).unwrap_or_else(|error| {
            tracing::warn!(%error, memory, iterations, "invalid argon2 cost; using the defaults");
            Params::default()
        })
    })
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params().clone())
}

pub fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = salt()?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Hashes on the blocking thread pool, so a worker keeps serving while argon2 runs.
pub async fn hash(password: String) -> Result<String, ApiError> {
    actix_web::web::block(move || hash_blocking(&password))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
        .map_err(|e| ApiError::Internal(e.to_string().into()))
}

/// True when `password` matches the stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}
