//! The report: the migration and every item, as JSON or CSV, written as
//! the items are read (a page at a time), so a report of 100,000 items
//! never sits in memory whole.

use std::future::Future;

use bytes::Bytes;
use regatlas_app::model::{ItemQuery, MigrationItemView, MigrationView};

/// Items read per page while a report is written.
pub const REPORT_PAGE: i64 = 1000;

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

pub const CSV_HEADER: &str = "repository,digest,tags,action,state,attempts,size_bytes,error_code,error_message,detail,started_at,finished_at\n";

/// One item as a CSV line.
pub fn csv_line(i: &MigrationItemView) -> String {
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
    let mut line = row.join(",");
    line.push('\n');
    line
}

/// A report's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Csv,
}

/// Where the report is in its writing.
enum Step {
    Head,
    After(i64, bool),
    Tail,
    Done,
}

/// The report as a stream of chunks: the head, a page of items per chunk,
/// the tail. `page` reads the items after an id (the caller's role check
/// and storage). An error ends the stream (the download is cut short, and
/// the cause is logged by the caller's `page`).
pub fn stream<F, Fut, E>(m: MigrationView, format: ReportFormat, page: F) -> impl futures::Stream<Item = Result<Bytes, E>>
where
    F: Fn(ItemQuery) -> Fut,
    Fut: Future<Output = Result<Vec<MigrationItemView>, E>>,
{
    futures::stream::unfold((Step::Head, m, page), move |(step, m, page)| async move {
        match step {
            Step::Head => {
                let head = match format {
                    ReportFormat::Csv => CSV_HEADER.to_string(),
                    ReportFormat::Json => format!("{{\"migration\":{},\"items\":[", serde_json::to_string(&m).unwrap_or_else(|_| "null".into())),
                };
                Some((Ok(Bytes::from(head)), (Step::After(0, true), m, page)))
            }
            Step::After(after, first) => {
                let items = match page(ItemQuery { limit: REPORT_PAGE, after: Some(after), ..Default::default() }).await {
                    Ok(items) => items,
                    Err(e) => return Some((Err(e), (Step::Done, m, page))),
                };
                let mut chunk = String::with_capacity(items.len() * 256);
                for (n, i) in items.iter().enumerate() {
                    match format {
                        ReportFormat::Csv => chunk.push_str(&csv_line(i)),
                        ReportFormat::Json => {
                            if !(first && n == 0) {
                                chunk.push(',');
                            }
                            chunk.push_str(&serde_json::to_string(i).unwrap_or_else(|_| "null".into()));
                        }
                    }
                }
                let next = match items.last() {
                    Some(last) if items.len() as i64 == REPORT_PAGE => Step::After(last.id, false),
                    _ => Step::Tail,
                };
                Some((Ok(Bytes::from(chunk)), (next, m, page)))
            }
            Step::Tail => {
                let tail = if format == ReportFormat::Json { "]}" } else { "" };
                Some((Ok(Bytes::from(tail)), (Step::Done, m, page)))
            }
            Step::Done => None,
        }
    })
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
