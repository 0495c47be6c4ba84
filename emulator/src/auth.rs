//! Tokens. The emulator issues opaque bearer tokens through the App Service
//! managed-identity protocol (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), which
//! `azure_identity::ManagedIdentityCredential` speaks, and accepts only
//! tokens it issued on ARM requests.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Header the managed-identity endpoint requires, with the secret value.
pub const IDENTITY_HEADER_NAME: &str = "x-identity-header";

pub struct Auth {
    /// The secret clients send in `X-IDENTITY-HEADER`.
    pub identity_secret: String,
    /// token → (expiry unix seconds, resource/audience, principal).
    tokens: Mutex<HashMap<String, (u64, String, String)>>,
}

pub struct Issued {
    pub token: String,
    pub expires_on: u64,
}

impl Auth {
    pub fn new() -> Auth {
        Auth { identity_secret: format!("emu-{}", uuid::Uuid::new_v4().simple()), tokens: Mutex::new(HashMap::new()) }
    }

    /// With a given identity secret (one per process when several emulators share one environment).
    pub fn with_secret(secret: String) -> Auth {
        Auth { identity_secret: secret, tokens: Mutex::new(HashMap::new()) }
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
    }

    /// A random opaque token that is not recorded (accepted nowhere).
    pub fn opaque() -> String {
        format!("emu.{}", uuid::Uuid::new_v4().simple())
    }

    pub fn issue(&self, resource: &str, principal: &str, lifetime: Duration) -> Issued {
        let token = format!("emu.{}.{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let expires_on = Self::now() + lifetime.as_secs();
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(token.clone(), (expires_on, resource.to_string(), principal.to_string()));
        }
        Issued { token, expires_on }
    }

    /// The principal behind a valid, unexpired token.
    pub fn validate(&self, token: &str) -> Result<String, &'static str> {
        let t = self.tokens.lock().map_err(|_| "token store unavailable")?;
        match t.get(token) {
            None => Err("The access token is invalid."),
            Some((exp, _, _)) if *exp <= Self::now() => Err("The access token has expired."),
            Some((_, _, p)) => Ok(p.clone()),
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth::new()
    }
}
