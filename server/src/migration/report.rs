//! The report: the migration and every item, as JSON or CSV.

use regatlas_app::model::MigrationView;
use regatlas_domain::{record::ItemFilter, ErrorKind};

use super::MigrationError;
use crate::{outbound::clean_text, storage::Storage};

/// The migration and every item.
pub async fn report(storage: &Storage, id: &str) -> Result<(MigrationView, Vec<regatlas_app::model::MigrationItemView>), MigrationError> {
    let v = storage
        .migration(id)
        .await?
        .ok_or_else(|| MigrationError::invalid(ErrorKind::NotFound, "MigrationNotFound", format!("No migration {}.", clean_text(id, 64))))?;
    let items = storage.migration_items(id, &ItemFilter { limit: 1_000_000, ..Default::default() }).await?;
    Ok((crate::views::migration(v, chrono::Utc::now()), items.into_iter().map(crate::views::item).collect()))
}

/// One CSV cell: quoted where needed, and a cell that a spreadsheet would
/// read as a formula (`= + - @`, tab or CR first) is prefixed with `'`.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn report_csv(items: &[regatlas_app::model::MigrationItemView]) -> String {
    let mut out = String::from("repository,digest,tags,action,state,attempts,size_bytes,error_code,error_message,detail,started_at,finished_at\n");
    for i in items {
        let row = [
            csv_field(&i.repository),
            csv_field(&i.digest),
            csv_field(&i.tags.join(" ")),
            csv_field(i.action.as_str()),
            csv_field(i.state.as_str()),
            i.attempts.to_string(),
            i.size_bytes.to_string(),
            csv_field(i.error_code.as_deref().unwrap_or("")),
            csv_field(i.error_message.as_deref().unwrap_or("")),
            csv_field(i.detail.as_deref().unwrap_or("")),
            csv_field(i.started_at.as_deref().unwrap_or("")),
            csv_field(i.finished_at.as_deref().unwrap_or("")),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod csv_tests {
    use super::csv_field;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("web/frontend"), "web/frontend");
    }
}
