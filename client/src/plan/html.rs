//! The plan as one self-contained HTML page: Swedish (`lang="sv"`), no scripts, no external
//! resources, a style sheet that prints well on A4. Every text from the plan is escaped.

use std::fmt::Write as _;

use super::document::{Block, Cell, Document};

const STYLE: &str = r#"
  :root { color-scheme: light; }
  body { font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; font-size: 11pt; line-height: 1.45;
         color: #111; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.6em; margin: 0 0 .6em; }
  h2 { font-size: 1.2em; margin: 1.6em 0 .5em; padding-bottom: .15em; border-bottom: 1px solid #999;
       break-after: avoid; page-break-after: avoid; }
  h3 { font-size: 1em; margin: 1em 0 .3em; break-after: avoid; page-break-after: avoid; }
  dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1.2em; margin: 0; }
  dl.fields dt { font-weight: bold; }
  dl.fields dd { margin: 0; }
  dl.summary { margin-bottom: 1.2em; }
  table { width: 100%; border-collapse: collapse; margin: .4em 0; }
  th, td { border: 1px solid #999; padding: .35em .5em; text-align: left; vertical-align: top; }
  th { background: #eee; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  .extra { display: block; font-size: .88em; color: #444; }
  footer { margin-top: 2.5em; font-size: .85em; color: #444; border-top: 1px solid #999; padding-top: .5em; }
  @page { size: A4; margin: 18mm 16mm 20mm; }
  @media print {
    body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
    th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
    a { color: inherit; text-decoration: none; }
  }
"#;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
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

fn fields(out: &mut String, class: &str, items: &[(&str, String)]) {
    let _ = writeln!(out, "<dl class=\"{class}\">");
    for (label, value) in items {
        let _ = writeln!(out, "  <dt>{}</dt><dd>{}</dd>", escape(label), escape(value));
    }
    out.push_str("</dl>\n");
}

fn cell(c: &Cell) -> String {
    let mut s = escape(&c.main);
    for e in &c.extra {
        let _ = write!(s, "<span class=\"extra\">{}</span>", escape(e));
    }
    s
}

/// Writes the document as HTML.
pub fn render(doc: &Document) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&format!("{} – {}", doc.title, doc.running_footer)));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
    let _ = writeln!(out, "<h1>{}</h1>", escape(doc.title));
    fields(&mut out, "fields summary", &doc.summary);
    for section in &doc.sections {
        let _ = writeln!(out, "<section>\n<h2>{}</h2>", escape(section.heading));
        for block in &section.blocks {
            match block {
                Block::Fields(items) => fields(&mut out, "fields", items),
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(text));
                }
                Block::Subheading(text) => {
                    let _ = writeln!(out, "<h3>{}</h3>", escape(text));
                }
                Block::List(items) => {
                    out.push_str("<ul>\n");
                    for item in items {
                        let _ = writeln!(out, "  <li>{}</li>", escape(item));
                    }
                    out.push_str("</ul>\n");
                }
                Block::Table { columns, rows, .. } => {
                    out.push_str("<table>\n<thead><tr>");
                    for c in columns {
                        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(c));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        out.push_str("<tr>");
                        for c in row {
                            let _ = write!(out, "<td>{}</td>", cell(c));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
            }
        }
        out.push_str("</section>\n");
    }
    let _ = writeln!(
        out,
        "</main>\n<footer>\n<p>{}</p>\n<p>{}</p>\n</footer>\n</body>\n</html>",
        escape(&doc.running_footer),
        escape(doc.closing)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_that_could_be_markup_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("å & ö")</script> 'x'"#),
            "&lt;script&gt;alert(&quot;å &amp; ö&quot;)&lt;/script&gt; &#39;x&#39;"
        );
    }
}
