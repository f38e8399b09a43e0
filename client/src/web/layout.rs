//! The page frame every page shares, and small pieces pages reuse: flash boxes, field errors, times.

use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;

use super::AppState;
use crate::invite::tz;

/// Which navigation entry is the current page's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    Inbox,
    Cases,
    NewCase,
    Audit,
    /// None of them (error pages, documents).
    Other,
}

/// The kind of a message box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlashKind {
    Info,
    Success,
    Warning,
    Error,
}

/// A whole page: the header with who is acting, the navigation, and `body` in `<main>`. `body`
/// holds the page's one `<h1>`.
pub(crate) fn page(state: &AppState, title: &str, active: Nav, body: Markup) -> Markup {
    let id = state.session().profile().identity();
    let entries: &[(Nav, &str, &str)] = &[
        (Nav::Inbox, "/inkorg", "Inkorg"),
        (Nav::Cases, "/arenden", "Ärenden"),
        (Nav::NewCase, "/arende/ny", "Nytt ärende"),
        (Nav::Audit, "/granskning", "Granskning"),
    ];
    html! {
        (DOCTYPE)
        html lang="sv" {
            (head(title))
            body {
                a.hoppa href="#innehall" { "Till innehållet" }
                header.sidhuvud {
                    div.varumarke { a href="/inkorg" { "Samordna" } }
                    p.inloggad {
                        span.person { (id.name) }
                        ", "
                        span.organisation { (id.organisation) }
                        " "
                        span.hsa { "(HSA-id " (id.hsa_id) ")" }
                    }
                    nav aria-label="Huvudmeny" {
                        ul {
                            @for (nav, href, label) in entries {
                                @if *nav != Nav::Audit || state.is_auditor() {
                                    li {
                                        @if *nav == active {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                main id="innehall" tabindex="-1" { (body) }
                footer.sidfot {
                    p { "Samordna web körs på den här datorn och agerar som " (id.name) ", " (id.organisation) "." }
                }
                script src="/static/app.js" defer {}
            }
        }
    }
}

/// A page without the header's identity, for answers before access is granted.
pub(crate) fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="sv" {
            (head(title))
            body {
                header.sidhuvud { div.varumarke { "Samordna" } }
                main id="innehall" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " – Samordna" }
            link rel="stylesheet" href="/static/app.css";
        }
    }
}

/// A message box. The text starts with a word that says what kind it is, so colour is not the only
/// signal; errors and warnings are announced at once (`role="alert"`), the rest politely.
pub(crate) fn flash(kind: FlashKind, text: &str) -> Markup {
    let (class, prefix, role) = match kind {
        FlashKind::Info => ("meddelande info", "Information:", "status"),
        FlashKind::Success => ("meddelande klart", "Klart:", "status"),
        FlashKind::Warning => ("meddelande varning", "Observera:", "alert"),
        FlashKind::Error => ("meddelande fel", "Fel:", "alert"),
    };
    html! {
        div class=(class) role=(role) {
            p { strong { (prefix) } " " (text) }
        }
    }
}

/// The error text of field `id`, as `<p id="{id}-fel">`, for the field's `aria-describedby`.
/// Nothing when there is no error.
pub(crate) fn field_error(id: &str, msg: Option<&str>) -> Markup {
    html! {
        @if let Some(msg) = msg {
            p id=(format!("{id}-fel")) class="fel" { strong { "Fel:" } " " (msg) }
        }
    }
}

/// `t` as Swedish wall-clock time, "2026-11-29 14:05".
pub(crate) fn time(t: OffsetDateTime) -> String {
    let l = tz::to_local(t);
    format!("{:04}-{:02}-{:02} {:02}:{:02}", l.year(), u8::from(l.month()), l.day(), l.hour(), l.minute())
}

/// `t` as RFC 3339 in UTC, for `<time datetime>`.
pub(crate) fn iso(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `t`'s date in Sweden, "2026-11-29".
pub(crate) fn date(t: OffsetDateTime) -> String {
    let l = tz::to_local(t);
    format!("{:04}-{:02}-{:02}", l.year(), u8::from(l.month()), l.day())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_are_stockholm_wall_clock() {
        assert_eq!(time(datetime!(2026-11-29 13:05 UTC)), "2026-11-29 14:05");
        assert_eq!(time(datetime!(2026-07-01 22:30 UTC)), "2026-07-02 00:30");
        assert_eq!(date(datetime!(2026-07-01 22:30 UTC)), "2026-07-02");
    }

    #[test]
    fn flashes_say_their_kind_in_words() {
        let s = flash(FlashKind::Error, "x").into_string();
        assert!(s.contains("role=\"alert\"") && s.contains("Fel:"));
        assert!(field_error("a", Some("m")).into_string().contains("id=\"a-fel\""));
        assert!(field_error("a", None).into_string().is_empty());
    }
}
