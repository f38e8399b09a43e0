//! The plan as a PDF on A4, with krilla (Typst's PDF writer, pure Rust).
//!
//! Text in Swedish needs a font with å, ä and ö, embedded in the file. None is bundled: the client
//! loads a TrueType font when it makes a PDF, from `SAMORDNA_PDF_FONT` (and, for headings,
//! `SAMORDNA_PDF_FONT_BOLD`) or from the usual places of DejaVu Sans, Liberation Sans or Noto Sans
//! (Debian: `apt-get install fonts-dejavu-core`). krilla embeds only the glyphs used, with a
//! Unicode map, so the text can be searched and copied (`pdftotext` reads it back).
//!
//! Layout is done here in two passes: first every line is placed on pages (so the foot of each page
//! can say "sida 2 av 3"), then the pages are drawn.

use std::{
    collections::HashMap,
    ffi::OsString,
    path::{Path, PathBuf},
    sync::Arc,
};

use krilla::{
    Document as PdfDocument,
    color::rgb,
    geom::{PathBuilder, Point, Rect},
    metadata::Metadata,
    num::NormalizedF32,
    page::PageSettings,
    paint::{Fill, Stroke},
    text::{Font, TextDirection},
};
use skrifa::{
    FontRef, MetadataProvider,
    instance::{LocationRef, Size},
};

use super::document::{Block, Cell, Document};
use crate::error::ClientError;

/// The environment variable naming the font file to use.
pub const FONT_ENV: &str = "SAMORDNA_PDF_FONT";
/// The environment variable naming a bold font file for headings (optional).
pub const BOLD_FONT_ENV: &str = "SAMORDNA_PDF_FONT_BOLD";

/// Where fonts usually are: (regular, bold). The first whose regular file is usable is taken.
pub const FONT_CANDIDATES: &[(&str, &str)] = &[
    // Debian, Ubuntu: fonts-dejavu-core
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    // Fedora, RHEL: dejavu-sans-fonts
    (
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    ),
    // Arch: ttf-dejavu
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    // openSUSE, older Fedora
    ("/usr/share/fonts/truetype/DejaVuSans.ttf", "/usr/share/fonts/truetype/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    // Debian, Ubuntu: fonts-liberation, fonts-noto-core
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    ),
    // macOS
    ("/System/Library/Fonts/Supplemental/Arial.ttf", "/System/Library/Fonts/Supplemental/Arial Bold.ttf"),
    // Windows
    ("C:\\Windows\\Fonts\\arial.ttf", "C:\\Windows\\Fonts\\arialbd.ttf"),
];

/// Letters a plan in Swedish needs; a font without all of them is not used.
const NEEDED: &str = "AaÅåÄäÖöÉéÜü0123456789-–•:;,.()";

/// One font file, loaded: for krilla to draw with, and its advance widths to break lines with.
#[derive(Clone)]
struct FontFile {
    path: PathBuf,
    data: Arc<Vec<u8>>,
    font: Font,
    units_per_em: f32,
}

impl std::fmt::Debug for FontFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FontFile").field("path", &self.path).finish_non_exhaustive()
    }
}

impl FontFile {
    /// Loads a font, or says why it cannot be used.
    fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let data = Arc::new(bytes);
        let font_ref = FontRef::from_index(data.as_slice(), 0)
            .map_err(|_| format!("{} is not a TrueType or OpenType font", path.display()))?;
        let charmap = font_ref.charmap();
        if NEEDED.chars().any(|c| charmap.map(c).is_none()) {
            return Err(format!("{} lacks letters a Swedish text needs (å, ä, ö…)", path.display()));
        }
        let units_per_em = f32::from(font_ref.metrics(Size::unscaled(), LocationRef::default()).units_per_em);
        if units_per_em <= 0.0 {
            return Err(format!("{} has no usable metrics", path.display()));
        }
        let font = Font::new(data.clone().into(), 0)
            .ok_or_else(|| format!("{} cannot be embedded in a PDF", path.display()))?;
        Ok(FontFile { path: path.to_owned(), data, font, units_per_em })
    }
}

/// The fonts a PDF is made with.
#[derive(Clone, Debug)]
pub struct PdfFonts {
    regular: FontFile,
    bold: FontFile,
}

impl PdfFonts {
    /// The fonts from `SAMORDNA_PDF_FONT` (and `SAMORDNA_PDF_FONT_BOLD`) if set, else from
    /// [`FONT_CANDIDATES`].
    pub fn find() -> Result<Self, ClientError> {
        Self::find_in(std::env::var_os(FONT_ENV), std::env::var_os(BOLD_FONT_ENV), FONT_CANDIDATES)
    }

    /// As [`PdfFonts::find`], with the environment and the places to look passed in.
    pub fn find_in(
        env: Option<OsString>,
        env_bold: Option<OsString>,
        candidates: &[(&str, &str)],
    ) -> Result<Self, ClientError> {
        if let Some(path) = env.filter(|p| !p.is_empty()) {
            // Named explicitly: use it or say why not, never fall back silently.
            let regular = FontFile::load(Path::new(&path)).map_err(|why| {
                ClientError::usage("pdf_font", format!("{FONT_ENV} names a font that cannot be used: {why}"))
            })?;
            let bold = match env_bold.filter(|p| !p.is_empty()) {
                Some(b) => FontFile::load(Path::new(&b)).map_err(|why| {
                    ClientError::usage(
                        "pdf_font",
                        format!("{BOLD_FONT_ENV} names a font that cannot be used: {why}"),
                    )
                })?,
                None => regular.clone(),
            };
            return Ok(PdfFonts { regular, bold });
        }
        for (regular, bold) in candidates {
            let Ok(regular) = FontFile::load(Path::new(regular)) else { continue };
            let bold = FontFile::load(Path::new(bold)).unwrap_or_else(|_| regular.clone());
            return Ok(PdfFonts { regular, bold });
        }
        Err(ClientError::usage(
            "pdf_font",
            format!(
                "no font with Swedish letters was found to make the PDF with; install one (on Debian and Ubuntu: \
                 `apt-get install fonts-dejavu-core`), or set {FONT_ENV} to a TrueType font file (.ttf); \
                 HTML and text need no font: --format html or --format text"
            ),
        ))
    }

    /// The regular font's file.
    pub fn regular_path(&self) -> &Path {
        &self.regular.path
    }
}

// Page geometry, in points (1/72 inch): A4 with margins of about 2 cm.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 56.0;
const RIGHT: f32 = PAGE_W - 56.0;
const TOP: f32 = 56.0;
const BOTTOM: f32 = PAGE_H - 64.0;
const FOOTER_Y: f32 = PAGE_H - 36.0;

const TITLE_SIZE: f32 = 18.0;
const HEADING_SIZE: f32 = 13.0;
const SUBHEADING_SIZE: f32 = 10.5;
const BODY_SIZE: f32 = 10.0;
const CELL_SIZE: f32 = 9.0;
const SMALL_SIZE: f32 = 8.0;
const LEADING: f32 = 1.38;
const CELL_PAD: f32 = 4.0;

const BLACK: u8 = 0x11;
const GREY: u8 = 0x55;
const RULE: u8 = 0x99;
const HEADER_FILL: u8 = 0xEB;

/// Something to draw on a page. `y` grows downwards from the top, as krilla counts.
#[derive(Debug)]
enum Op {
    Text { x: f32, baseline: f32, size: f32, bold: bool, grey: u8, text: String },
    Line { x1: f32, y1: f32, x2: f32, y2: f32 },
    Shade { x: f32, y: f32, w: f32, h: f32 },
}

/// Advance widths, cached per character.
struct Measure {
    regular: FontFile,
    bold: FontFile,
    cache: HashMap<(bool, char), f32>,
}

impl Measure {
    /// The width of `text` at `size` points (no kerning: a little wider than drawn, never narrower
    /// in practice, so lines never run into the margin).
    fn width(&mut self, text: &str, size: f32, bold: bool) -> f32 {
        let mut units = 0.0;
        for c in text.chars() {
            let w = match self.cache.get(&(bold, c)) {
                Some(w) => *w,
                None => {
                    let file = if bold { &self.bold } else { &self.regular };
                    let w = FontRef::from_index(file.data.as_slice(), 0)
                        .ok()
                        .and_then(|f| {
                            let gid = f.charmap().map(c).unwrap_or_default();
                            f.glyph_metrics(Size::unscaled(), LocationRef::default()).advance_width(gid)
                        })
                        .unwrap_or(file.units_per_em * 0.6)
                        / file.units_per_em;
                    self.cache.insert((bold, c), w);
                    w
                }
            };
            units += w;
        }
        units * size
    }

    /// Breaks `text` into lines no wider than `width`; a word wider than a line is cut.
    fn wrap(&mut self, text: &str, size: f32, bold: bool, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if self.width(&candidate, size, bold) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: cut it if it is still too wide.
            let mut rest = word;
            while self.width(rest, size, bold) > width {
                let mut cut = 0;
                for (i, c) in rest.char_indices() {
                    if self.width(&rest[..i + c.len_utf8()], size, bold) > width {
                        break;
                    }
                    cut = i + c.len_utf8();
                }
                let cut = if cut == 0 { rest.chars().next().map_or(rest.len(), char::len_utf8) } else { cut };
                lines.push(rest[..cut].to_owned());
                rest = &rest[cut..];
            }
            line = rest.to_owned();
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }
}

/// Places the document on pages.
struct Layout {
    measure: Measure,
    pages: Vec<Vec<Op>>,
    y: f32,
}

fn line_height(size: f32) -> f32 {
    size * LEADING
}

impl Layout {
    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` more fits on this one (or this one is still empty).
    fn ensure(&mut self, height: f32) {
        if self.y + height > BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    fn text(&mut self, x: f32, top: f32, size: f32, bold: bool, grey: u8, text: &str) {
        if text.is_empty() {
            return;
        }
        // The baseline sits about one ascent below the top of the line box.
        let baseline = top + size * 0.95;
        self.ops().push(Op::Text { x, baseline, size, bold, grey, text: text.to_owned() });
    }

    /// A wrapped paragraph from the current position, `indent` from the left margin.
    fn paragraph(&mut self, text: &str, size: f32, bold: bool, grey: u8, indent: f32) {
        let lh = line_height(size);
        for line in self.measure.wrap(text, size, bold, RIGHT - LEFT - indent) {
            self.ensure(lh);
            let y = self.y;
            self.text(LEFT + indent, y, size, bold, grey, &line);
            self.y += lh;
        }
    }

    fn heading(&mut self, text: &str) {
        let lh = line_height(HEADING_SIZE);
        // Keep a heading with at least three lines of what follows.
        self.ensure(10.0 + lh + 4.0 + 3.0 * line_height(BODY_SIZE));
        self.y += 10.0;
        let y = self.y;
        self.text(LEFT, y, HEADING_SIZE, true, BLACK, text);
        self.y += lh;
        let y = self.y;
        self.ops().push(Op::Line { x1: LEFT, y1: y, x2: RIGHT, y2: y });
        self.y += 5.0;
    }

    fn fields(&mut self, items: &[(&str, String)]) {
        let label_width = items
            .iter()
            .map(|(label, _)| self.measure.width(label, BODY_SIZE, true))
            .fold(0.0_f32, f32::max)
            .min((RIGHT - LEFT) * 0.4)
            + 12.0;
        let lh = line_height(BODY_SIZE);
        for (label, value) in items {
            let lines = self.measure.wrap(value, BODY_SIZE, false, RIGHT - LEFT - label_width);
            self.ensure(lh);
            let y = self.y;
            self.text(LEFT, y, BODY_SIZE, true, BLACK, label);
            for line in lines {
                self.ensure(lh);
                let y = self.y;
                self.text(LEFT + label_width, y, BODY_SIZE, false, BLACK, &line);
                self.y += lh;
            }
            self.y += 1.5;
        }
    }

    fn list(&mut self, items: &[String]) {
        let lh = line_height(BODY_SIZE);
        for item in items {
            self.ensure(lh);
            let y = self.y;
            self.text(LEFT + 4.0, y, BODY_SIZE, false, BLACK, "•");
            self.paragraph(item, BODY_SIZE, false, BLACK, 16.0);
            self.y += 1.5;
        }
    }

    /// The lines of a cell: (text, size, grey).
    fn cell_lines(&mut self, cell: &Cell, width: f32, bold: bool) -> Vec<(String, f32, u8)> {
        let mut lines: Vec<(String, f32, u8)> = Vec::new();
        if !cell.main.is_empty() {
            for l in self.measure.wrap(&cell.main, CELL_SIZE, bold, width) {
                lines.push((l, CELL_SIZE, BLACK));
            }
        }
        for extra in &cell.extra {
            for l in self.measure.wrap(extra, SMALL_SIZE, false, width) {
                lines.push((l, SMALL_SIZE, GREY));
            }
        }
        lines
    }

    fn row_height(lines: &[Vec<(String, f32, u8)>]) -> f32 {
        let content = lines
            .iter()
            .map(|cell| cell.iter().map(|(_, size, _)| line_height(*size)).sum::<f32>())
            .fold(line_height(CELL_SIZE), f32::max);
        content + 2.0 * CELL_PAD
    }

    /// Draws one row of cells at the current position, with its rules.
    fn draw_row(&mut self, xs: &[f32], lines: Vec<Vec<(String, f32, u8)>>, height: f32, shaded: bool) {
        let top = self.y;
        let (left, right) = (xs.first().copied().unwrap_or(LEFT), xs.last().copied().unwrap_or(RIGHT));
        if shaded {
            self.ops().push(Op::Shade { x: left, y: top, w: right - left, h: height });
        }
        for (i, cell) in lines.into_iter().enumerate() {
            let x = xs.get(i).copied().unwrap_or(left) + CELL_PAD;
            let mut y = top + CELL_PAD;
            for (text, size, grey) in cell {
                self.text(x, y, size, shaded, grey, &text);
                y += line_height(size);
            }
        }
        let bottom = top + height;
        let ops = self.ops();
        ops.push(Op::Line { x1: left, y1: top, x2: right, y2: top });
        ops.push(Op::Line { x1: left, y1: bottom, x2: right, y2: bottom });
        for x in xs {
            ops.push(Op::Line { x1: *x, y1: top, x2: *x, y2: bottom });
        }
        self.y = bottom;
    }

    fn table(&mut self, columns: &[&str], widths: &[f32], rows: &[Vec<Cell>]) {
        let total: f32 = widths.iter().sum::<f32>().max(f32::EPSILON);
        let mut xs = vec![LEFT];
        for w in widths {
            let next = xs.last().copied().unwrap_or(LEFT) + w / total * (RIGHT - LEFT);
            xs.push(next);
        }
        let inner: Vec<f32> = xs.windows(2).map(|w| w[1] - w[0] - 2.0 * CELL_PAD).collect();
        let header: Vec<Vec<(String, f32, u8)>> = columns
            .iter()
            .zip(&inner)
            .map(|(c, w)| self.cell_lines(&Cell { main: (*c).to_owned(), extra: Vec::new() }, *w, true))
            .collect();
        let header_height = Self::row_height(&header);
        let mut need_header = true;
        for row in rows {
            let lines: Vec<Vec<(String, f32, u8)>> =
                row.iter().zip(&inner).map(|(c, w)| self.cell_lines(c, *w, false)).collect();
            let height = Self::row_height(&lines);
            if self.y + height + if need_header { header_height } else { 0.0 } > BOTTOM && self.y > TOP {
                self.new_page();
                need_header = true;
            }
            if need_header {
                self.draw_row(&xs, header.clone(), header_height, true);
                need_header = false;
            }
            self.draw_row(&xs, lines, height, false);
        }
        self.y += 4.0;
    }
}

/// Writes the document as a PDF.
pub fn render(doc: &Document, fonts: &PdfFonts) -> Result<Vec<u8>, ClientError> {
    let measure = Measure { regular: fonts.regular.clone(), bold: fonts.bold.clone(), cache: HashMap::new() };
    let mut l = Layout { measure, pages: Vec::new(), y: TOP };
    l.paragraph(doc.title, TITLE_SIZE, true, BLACK, 0.0);
    l.y += 6.0;
    l.fields(&doc.summary);
    for section in &doc.sections {
        l.heading(section.heading);
        for block in &section.blocks {
            match block {
                Block::Fields(items) => l.fields(items),
                Block::Paragraph(text) => {
                    l.paragraph(text, BODY_SIZE, false, BLACK, 0.0);
                    l.y += 3.0;
                }
                Block::Subheading(text) => {
                    l.ensure(line_height(SUBHEADING_SIZE) + 2.0 * line_height(BODY_SIZE));
                    l.y += 3.0;
                    l.paragraph(text, SUBHEADING_SIZE, true, BLACK, 0.0);
                }
                Block::List(items) => l.list(items),
                Block::Table { columns, widths, rows } => l.table(columns, widths, rows),
            }
        }
    }
    l.y += 14.0;
    l.paragraph(doc.closing, SMALL_SIZE, false, GREY, 0.0);

    // The foot of every page.
    let count = l.pages.len();
    let mut pages = std::mem::take(&mut l.pages);
    for (i, ops) in pages.iter_mut().enumerate() {
        let page_no = format!("Sida {} av {count}", i + 1);
        let width = l.measure.width(&page_no, SMALL_SIZE, false);
        ops.push(Op::Line { x1: LEFT, y1: FOOTER_Y - 12.0, x2: RIGHT, y2: FOOTER_Y - 12.0 });
        ops.push(Op::Text {
            x: LEFT,
            baseline: FOOTER_Y,
            size: SMALL_SIZE,
            bold: false,
            grey: GREY,
            text: doc.running_footer.clone(),
        });
        ops.push(Op::Text {
            x: RIGHT - width,
            baseline: FOOTER_Y,
            size: SMALL_SIZE,
            bold: false,
            grey: GREY,
            text: page_no,
        });
    }
    draw(doc, fonts, &pages)
}

fn fill(grey: u8) -> Fill {
    Fill {
        paint: rgb::Color::new(grey, grey, grey).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

fn draw(doc: &Document, fonts: &PdfFonts, pages: &[Vec<Op>]) -> Result<Vec<u8>, ClientError> {
    let fail = |what: &str| ClientError::Internal(format!("the PDF could not be made: {what}"));
    let mut pdf = PdfDocument::new();
    pdf.set_metadata(
        Metadata::new()
            .title(format!("{} – {}", doc.title, doc.running_footer))
            .language("sv".into())
            .creator("Samordna".into()),
    );
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| fail("page size"))?;
    for ops in pages {
        let mut page = pdf.start_page_with(settings.clone());
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text { x, baseline, size, bold, grey, text } => {
                    surface.set_stroke(None);
                    surface.set_fill(Some(fill(*grey)));
                    let font = if *bold { &fonts.bold.font } else { &fonts.regular.font };
                    surface.draw_text(
                        Point::from_xy(*x, *baseline),
                        font.clone(),
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Line { x1, y1, x2, y2 } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y1);
                    pb.line_to(*x2, *y2);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            paint: rgb::Color::new(RULE, RULE, RULE).into(),
                            width: 0.6,
                            ..Default::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
                Op::Shade { x, y, w, h } => {
                    let mut pb = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(rect);
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_stroke(None);
                        surface.set_fill(Some(fill(HEADER_FILL)));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    pdf.finish().map_err(|e| fail(&e.to_string()))
}
