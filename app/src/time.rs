//! Timestamps as the pages show them: ARM and the store speak RFC 3339 in
//! UTC; the pages say "12 s ago". A small parser keeps chrono out of the
//! WASM bundle.

/// Milliseconds since the Unix epoch, now (browser clock in WASM).
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

#[cfg(feature = "hydrate")]
fn js_now() -> i64 {
    js_sys::Date::now() as i64
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` into epoch milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i64>().ok());
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        let padded = format!("{:0<3}", &digits[..digits.len().min(3)]);
        ms = padded.parse().ok()?;
        rest = &frac[digits.len()..];
    }
    let offset_min = match rest {
        "" | "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 60 + o[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    // Days from civil (proleptic Gregorian), after H. Hinnant's algorithm.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60) * 1000) + ms)
}

/// "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago".
pub fn ago(then: &str, now_ms: i64) -> String {
    let Some(t) = parse_ms(then) else { return "never".into() };
    let s = ((now_ms - t) / 1000).max(0);
    match s {
        0..=2 => "just now".into(),
        3..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// `2026-11-22 10:04:05 UTC` from an RFC 3339 timestamp (as given if unparsable).
pub fn short(ts: &str) -> String {
    match (ts.get(0..10), ts.get(11..19)) {
        (Some(d), Some(t)) if parse_ms(ts).is_some() => format!("{d} {t} UTC"),
        _ => ts.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_variants() {
        assert_eq!(parse_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_ms("2026-11-22T10:00:00.250Z"), Some(1_795_341_600_250));
        assert_eq!(parse_ms("2026-11-22T11:00:00+01:00"), parse_ms("2026-11-22T10:00:00Z"));
        assert_eq!(parse_ms("2026-11-22T10:00:00.123456789+00:00"), Some(1_795_341_600_123));
        assert_eq!(parse_ms("yesterday"), None);
    }

    #[test]
    fn ages_read_naturally() {
        let t = parse_ms("2026-11-22T10:00:00Z").unwrap_or_default();
        assert_eq!(ago("2026-11-22T10:00:00Z", t + 1_000), "just now");
        assert_eq!(ago("2026-11-22T10:00:00Z", t + 42_000), "42 s ago");
        assert_eq!(ago("2026-11-22T10:00:00Z", t + 600_000), "10 min ago");
        assert_eq!(ago("garbage", t), "never");
        assert_eq!(short("2026-11-22T10:00:00.250Z"), "2026-11-22 10:00:00 UTC");
    }
}
