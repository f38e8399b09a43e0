//! The plan as plain text, wrapped at 78 columns: for e-mail, a terminal, or a screen reader.

use super::document::{Block, Document};

const WIDTH: usize = 78;

/// Greedy word wrap at `width` characters (not bytes), with `indent` before every line after the
/// first and `first` before the first. A word longer than a line is broken.
pub fn wrap(text: &str, width: usize, first: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(first);
    let mut line_len = first.chars().count();
    let mut empty = true;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let room = width.saturating_sub(line_len + usize::from(!empty));
            if word.len() <= room {
                if !empty {
                    line.push(' ');
                    line_len += 1;
                }
                line.extend(word.iter());
                line_len += word.len();
                empty = false;
                break;
            }
            if !empty {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from(indent);
                line_len = indent.chars().count();
                empty = true;
                continue;
            }
            // Alone on a line and still too long: cut it.
            let cut = width.saturating_sub(line_len).max(1).min(word.len());
            line.extend(word.drain(..cut));
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
            line_len = indent.chars().count();
            if word.is_empty() {
                break;
            }
        }
    }
    if !empty || out.is_empty() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn underline(title: &str, ch: char) -> String {
    format!("{title}\n{}\n", ch.to_string().repeat(title.chars().count()))
}

fn fields(out: &mut String, items: &[(&str, String)]) {
    let label_width = items.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0) + 2;
    for (label, value) in items {
        let first = format!("{label}:{}", " ".repeat(label_width - label.chars().count() - 1));
        out.push_str(&wrap(value, WIDTH, &first, &" ".repeat(label_width)));
    }
}

/// Writes the document as text.
pub fn render(doc: &Document) -> String {
    let mut out = underline(&doc.title.to_uppercase(), '=');
    out.push('\n');
    fields(&mut out, &doc.summary);
    for section in &doc.sections {
        out.push('\n');
        out.push_str(&underline(section.heading, '-'));
        for block in &section.blocks {
            match block {
                Block::Fields(items) => fields(&mut out, items),
                Block::Paragraph(text) => out.push_str(&wrap(text, WIDTH, "", "")),
                Block::Subheading(text) => {
                    out.push_str(text);
                    out.push_str(":\n");
                }
                Block::List(items) => {
                    for item in items {
                        out.push_str(&wrap(item, WIDTH, "  * ", "    "));
                    }
                }
                Block::Table { columns, rows, .. } => {
                    // A table becomes numbered entries: the first column, then the others labelled.
                    for (n, row) in rows.iter().enumerate() {
                        if n > 0 {
                            out.push('\n');
                        }
                        for (i, (column, cell)) in columns.iter().zip(row).enumerate() {
                            let mut value = cell.main.clone();
                            for extra in &cell.extra {
                                if value.is_empty() {
                                    value.clone_from(extra);
                                } else if extra.starts_with("till ") {
                                    value = format!("{value} {extra}");
                                } else {
                                    value = format!("{value}; {extra}");
                                }
                            }
                            if value.is_empty() {
                                continue;
                            }
                            if i == 0 {
                                let first = format!("{:>2}. {column}: ", n + 1);
                                out.push_str(&wrap(&value, WIDTH, &first, "    "));
                            } else {
                                out.push_str(&wrap(&value, WIDTH, &format!("    {column}: "), "      "));
                            }
                        }
                    }
                }
            }
        }
    }
    out.push('\n');
    out.push_str(&wrap(&doc.running_footer, WIDTH, "", ""));
    out.push_str(&wrap(doc.closing, WIDTH, "", ""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_and_counts_characters() {
        let w = wrap("åäö åäö åäö", 8, "", "");
        assert_eq!(w, "åäö åäö\nåäö\n");
        assert_eq!(wrap("a b", 10, "- ", "  "), "- a b\n");
        assert_eq!(wrap("abcdefghij", 4, "", ""), "abcd\nefgh\nij\n");
        assert_eq!(wrap("", 10, "x: ", ""), "x:\n");
        for line in wrap(&"ord ".repeat(100), 20, "  * ", "    ").lines() {
            assert!(line.chars().count() <= 20, "{line}");
        }
    }
}
