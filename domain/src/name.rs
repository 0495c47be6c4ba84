//! Names that come from people or ARM, as newtypes that validate on parse.
//! A value of one of these types is known to be well formed; the checks
//! live here and nowhere else.

/// A name that failed its check. The value is shown shortened and with
/// unsafe characters replaced, so the error can be logged and returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} '{value}' is not valid: {reason}")]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// `s` for an error message: at most 64 characters, unsafe ones as `?`.
pub(crate) fn shown(s: &str) -> String {
    s.chars().take(64).map(|c| if is_unsafe_char(c) { '?' } else { c }).collect()
}

/// Control characters, and the format characters that reorder or hide text
/// (bidirectional overrides and isolates, zero-width marks, line and
/// paragraph separators, the byte-order mark).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// At most `max` characters, none of them unsafe.
pub fn is_plain_text(s: &str, max: usize) -> bool {
    s.chars().count() <= max && !s.chars().any(is_unsafe_char)
}

fn registry_name(s: &str) -> Result<String, &'static str> {
    if !(5..=50).contains(&s.len()) {
        return Err("a registry name has 5 to 50 characters");
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("a registry name has only letters and digits");
    }
    Ok(s.to_string())
}

name_type! {
    /// An Azure Container Registry's name: 5–50 letters and digits
    /// (unique, case-insensitively, in Azure).
    RegistryName, "registry name", registry_name
}

fn region(s: &str) -> Result<String, &'static str> {
    let n: String = s.trim().chars().filter(|c| *c != ' ').flat_map(char::to_lowercase).collect();
    if n.is_empty() || n.len() > 64 {
        return Err("a region name has 1 to 64 characters");
    }
    if !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err("a region name has only letters and digits");
    }
    Ok(n)
}

name_type! {
    /// An Azure region's programmatic name (`westeurope`). Parsing accepts
    /// a display name too (`West Europe`) and normalises it.
    Region, "region", region
}

fn repository(name: &str) -> Result<String, &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("a repository name has 1 to 255 characters");
    }
    let ok = name.split('/').all(|part| {
        let b = part.as_bytes();
        if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
            return false;
        }
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            // A separator: ".", "_", "__" or a run of "-", then alphanumerics.
            let sep_end = match b[i] {
                b'.' => i + 1,
                b'_' if b.get(i + 1) == Some(&b'_') => i + 2,
                b'_' => i + 1,
                b'-' => {
                    let mut j = i;
                    while j < b.len() && b[j] == b'-' {
                        j += 1;
                    }
                    j
                }
                _ => return false,
            };
            if sep_end >= b.len() || !alnum(b[sep_end]) {
                return false;
            }
            i = sep_end;
        }
        true
    });
    if ok {
        Ok(name.to_string())
    } else {
        Err("outside the OCI repository grammar")
    }
}

name_type! {
    /// A repository name as the OCI distribution spec's grammar allows:
    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
    /// at most 255 characters.
    Repository, "repository", repository
}

fn tag(tag: &str) -> Result<String, &'static str> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(tag.to_string())
    } else {
        Err("outside the OCI tag grammar [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
    }
}

name_type! {
    /// A tag as the OCI distribution spec allows: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    Tag, "tag", tag
}

fn digest(d: &str) -> Result<String, &'static str> {
    let Some((alg, hex)) = d.split_once(':') else { return Err("a digest is algorithm:hex") };
    let hex_ok = |n: usize| hex.len() == n && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ok = match alg {
        "sha256" => hex_ok(64),
        "sha512" => hex_ok(128),
        _ => return Err("only sha256 and sha512 digests are known"),
    };
    if ok {
        Ok(d.to_string())
    } else {
        Err("the hex part has the wrong length or characters")
    }
}

name_type! {
    /// `algorithm:hex` as the OCI image spec defines digests (sha256 and
    /// sha512, checked by length and lower-case hex).
    Digest, "digest", digest
}

impl Digest {
    /// Shortened for messages: the algorithm and 12 hex digits.
    pub fn short(&self) -> String {
        short_digest(&self.0)
    }
}

/// Any digest-like string shortened for messages: the algorithm and 12 hex digits.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.chars().take(12).collect::<String>()),
        None => d.chars().take(20).collect(),
    }
}

/// Longest actor name kept.
pub const ACTOR_MAX: usize = 100;

fn actor(s: &str) -> Result<String, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Err("an actor is not empty");
    }
    if !is_plain_text(t, ACTOR_MAX) {
        return Err("an actor is at most 100 characters of plain text");
    }
    Ok(t.to_string())
}

name_type! {
    /// Who did something: recorded with every action. Plain text, at most
    /// 100 characters, trimmed.
    Actor, "actor", actor
}

impl Actor {
    /// Nobody said who.
    pub fn anonymous() -> Actor {
        Actor("anonymous".to_string())
    }

    /// An actor as stored. Older versions kept names this type refuses (cut
    /// at 100 characters with a `…`, or cleaned to blanks); such a name is
    /// read as cleaned and cut again rather than failing every list it is in.
    pub fn from_stored(s: String) -> Actor {
        Actor::parse(s.as_str()).unwrap_or_else(|_| Actor::or_anonymous(Some(&s)))
    }

    /// The actor a request named, or `anonymous` when it named none. A
    /// name over the limit is cut and unsafe characters are dropped: the
    /// HTTP layer has already refused names that are not plain text.
    pub fn or_anonymous(name: Option<&str>) -> Actor {
        let cleaned: String = name.unwrap_or("").trim().chars().filter(|c| !is_unsafe_char(*c)).take(ACTOR_MAX).collect();
        Actor::parse(cleaned).unwrap_or_else(|_| Actor::anonymous())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names() {
        assert!(RegistryName::parse("contoso").is_ok());
        assert!(RegistryName::parse("contosoOnPrem1").is_ok());
        assert!(RegistryName::parse("abcd").is_err());
        assert!(RegistryName::parse("con-toso").is_err());
        assert!(RegistryName::parse("a".repeat(51)).is_err());
    }

    #[test]
    fn regions_normalise() {
        assert_eq!(Region::parse("West Europe").expect("ok").as_str(), "westeurope");
        assert_eq!(Region::parse("eastus2").expect("ok"), "eastus2");
        assert!(Region::parse("").is_err());
        assert!(Region::parse("east-us").is_err());
        assert!(Region::parse("eastus\n").is_ok(), "trimmed");
        assert!(Region::parse("east\u{202e}us").is_err());
    }

    #[test]
    fn oci_names() {
        for ok in ["a", "library/alpine", "a.b_c__d---e/f0", "0abc"] {
            assert!(Repository::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a/", "/a", "a//b", "a..b", "a_", "-a", "a-", "a___b", "a b", "a\nb", "../etc", "a/./b", "a\u{0}", &"a".repeat(256)] {
            assert!(Repository::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Tag::parse("v1.2.3-rc_1").is_ok());
        assert!(Tag::parse("_x").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", "a\nb", &"a".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(d.clone()).expect("ok").short(), "sha256:aaaaaaaaaaaa");
        assert!(Digest::parse(format!("sha512:{}", "0".repeat(128))).is_ok());
        for bad in ["sha256:abc".to_string(), format!("sha256:{}", "A".repeat(64)), format!("md5:{}", "a".repeat(32)), "nocolon".into()] {
            assert!(Digest::parse(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn actors() {
        assert_eq!(Actor::parse("  ada  ").expect("ok"), "ada");
        assert!(Actor::parse("").is_err());
        assert!(Actor::parse("a\u{202e}b").is_err());
        assert!(Actor::parse("x".repeat(101)).is_err());
        assert_eq!(Actor::or_anonymous(None), "anonymous");
        assert_eq!(Actor::or_anonymous(Some("  ")), "anonymous");
        assert_eq!(Actor::or_anonymous(Some("a\u{0}b")), "ab");
        assert_eq!(Actor::or_anonymous(Some(&"y".repeat(300))).as_str().len(), 100);
        // What older versions stored is read, not refused.
        assert_eq!(Actor::from_stored(format!("{}…", "z".repeat(100))).as_str().chars().count(), 100);
        assert_eq!(Actor::from_stored(" ".into()), "anonymous");
    }

    #[test]
    fn serde_checks_too() {
        assert!(serde_json::from_str::<Tag>("\"bad tag\"").is_err());
        let t: Tag = serde_json::from_str("\"v1\"").expect("ok");
        assert_eq!(serde_json::to_string(&t).expect("json"), "\"v1\"");
        let e = Repository::parse("Bad\u{202e}").expect_err("bad");
        assert_eq!(e.to_string(), "repository 'Bad?' is not valid: outside the OCI repository grammar");
    }
}
