//! The pages, as plain HTML tables of what the Collector's zpages show: the service's
//! build and runtime (`servicez`), its pipelines (`pipelinez`), extensions
//! (`extensionz`) and feature gates (`featurez`: llamacol has none).

use std::fmt::Write;
use std::time::SystemTime;

use llamacol_api::service_info::ServiceDescription;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head>\
         <body><h1>{t}</h1>\n<p><a href=\"/debug/servicez\">servicez</a> | \
         <a href=\"/debug/pipelinez\">pipelinez</a> | <a href=\"/debug/extensionz\">extensionz</a> | \
         <a href=\"/debug/featurez\">featurez</a></p>\n{body}</body></html>\n",
        t = escape(title)
    )
}

fn table(headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    let mut out = String::from("<table>\n<tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"{}\">{}</td></tr>",
            headers.len(),
            escape(empty)
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

pub fn servicez(d: Option<&ServiceDescription>, now: SystemTime) -> String {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut rows = vec![
        vec!["Command".to_string(), command],
        vec![
            "Version".to_string(),
            d.map_or_else(
                || env!("CARGO_PKG_VERSION").to_string(),
                |d| d.version.clone(),
            ),
        ],
    ];
    if let Some(d) = d {
        let uptime = now.duration_since(d.started).unwrap_or_default();
        rows.push(vec![
            "Start time".to_string(),
            humantime::format_rfc3339_seconds(d.started).to_string(),
        ]);
        rows.push(vec![
            "Uptime".to_string(),
            humantime::format_duration(std::time::Duration::from_secs(uptime.as_secs()))
                .to_string(),
        ]);
    }
    let body = format!(
        "<h2>Build and runtime</h2>\n{}",
        table(&["", ""], &rows, "")
    );
    page("llamacol: service", &body)
}

pub fn pipelinez(d: Option<&ServiceDescription>) -> String {
    let rows: Vec<Vec<String>> = d
        .map(|d| {
            d.pipelines
                .iter()
                .map(|p| {
                    vec![
                        p.id.clone(),
                        p.signal.clone(),
                        p.receivers.join(", "),
                        p.processors.join(", "),
                        p.exporters.join(", "),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let body = table(
        &["Pipeline", "Signal", "Receivers", "Processors", "Exporters"],
        &rows,
        "the service is not built yet",
    );
    page("llamacol: pipelines", &body)
}

pub fn extensionz(d: Option<&ServiceDescription>) -> String {
    let rows: Vec<Vec<String>> = d
        .map(|d| d.extensions.iter().map(|e| vec![e.clone()]).collect())
        .unwrap_or_default();
    page(
        "llamacol: extensions",
        &table(&["Extension"], &rows, "no extensions"),
    )
}

pub fn featurez() -> String {
    page(
        "llamacol: feature gates",
        &table(
            &["ID", "Enabled", "Stage", "Description"],
            &[],
            "llamacol has no feature gates: every behaviour is a config key",
        ),
    )
}
