//! Tables for people (aligned text) and for pasting (Markdown).

/// How a column is aligned in text output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table: a title, column headings with alignment, and rows of cells.
#[derive(Debug)]
pub struct Table {
    pub title: String,
    pub columns: Vec<(&'static str, Align)>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: &[(&'static str, Align)]) -> Self {
        Table { title: title.into(), columns: columns.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                let cells = self.rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count());
                cells.chain([self.columns[i].0.chars().count()]).max().unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| -> String {
            let padded: Vec<String> = cells
                .iter()
                .zip(&self.columns)
                .zip(&widths)
                .map(|((c, (_, align)), &w)| match align {
                    Align::Left => format!("{c:<w$}"),
                    Align::Right => format!("{c:>w$}"),
                })
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = format!("{}\n", self.title);
        out += &line(self.columns.iter().map(|(h, _)| *h).collect());
        out.push('\n');
        out += &widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>().join("  ");
        out.push('\n');
        for r in &self.rows {
            out += &line(r.iter().map(String::as_str).collect());
            out.push('\n');
        }
        out
    }

    pub fn markdown(&self) -> String {
        let escape = |s: &str| s.replace('|', "\\|");
        let mut out = format!("**{}**\n\n", self.title);
        out +=
            &format!("| {} |\n", self.columns.iter().map(|(h, _)| escape(h)).collect::<Vec<_>>().join(" | "));
        let rule: Vec<&str> = self
            .columns
            .iter()
            .map(|(_, a)| match a {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        out += &format!("| {} |\n", rule.join(" | "));
        for r in &self.rows {
            out += &format!("| {} |\n", r.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | "));
        }
        out
    }
}

/// MiB/s with sensible precision.
pub fn rate(mib_s: f64) -> String {
    if mib_s >= 100.0 { format!("{mib_s:.0}") } else { format!("{mib_s:.1}") }
}

/// A ratio such as `0.42×`.
pub fn ratio(ours: f64, baseline: f64) -> String {
    format!("{:.2}×", ours / baseline)
}

/// KiB as MiB, or GiB from 1 GiB on.
pub fn mem(kib: u64) -> String {
    match kib as f64 / 1024.0 {
        mib if mib >= 1024.0 => format!("{:.2} GiB", mib / 1024.0),
        mib => format!("{mib:.1} MiB"),
    }
}
