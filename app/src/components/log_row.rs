//! One row of the log viewer: its line number link, time, and text with its terminal colours
//! as styled spans (never as markup); section rows fold their phase.

use leptos::prelude::*;

use crate::ansi::{self, Color, Segment};
use sicuro_types::{LineKind, LogLine, format_duration};

#[derive(Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) number: u64,
    /// `None` while its lines are being fetched.
    pub(crate) line: Option<LogLine>,
    pub(crate) section: Option<(usize, bool, Option<i64>)>,
}

#[component]
pub(crate) fn LogRow(
    row: Row,
    highlight: RwSignal<Option<u64>>,
    toggle: impl Fn(usize) + Copy + Send + Sync + 'static,
    current_hit: Memo<Option<u64>>,
    show_times: RwSignal<bool>,
) -> impl IntoView {
    let n = row.number;
    let is_hl = move || highlight.get() == Some(n) || current_hit.get() == Some(n);
    let Some(line) = row.line else {
        return view! {
            <div class="row loading" id=format!("L{n}") data-line=n>
                <a class="ln" href=format!("#L{n}") aria-label=format!("Line {n}")>{n}</a>
                <span class="txt">"…"</span>
            </div>
        }
        .into_any();
    };
    let ts = sicuro_types::log::format_offset(line.ts());
    let content = match (line.kind(), row.section) {
        (LineKind::Section, Some((section, collapsed, duration))) => view! {
            <button type="button" class="section-toggle" aria-expanded=(!collapsed).to_string()
                on:click=move |_| toggle(section)>
                <span aria-hidden="true">{if collapsed { "▸ " } else { "▾ " }}</span>
                {line.text().to_string()}
            </button>
            <span class="section-duration">{duration.map(format_duration).unwrap_or_default()}</span>
        }
        .into_any(),
        (LineKind::Command, _) => view! { <span class="cmd">"$ "{line.text().to_string()}</span> }.into_any(),
        (LineKind::Notice, _) => view! { <span class="notice">{line.text().to_string()}</span> }.into_any(),
        _ => segments(ansi::render(line.text())).into_any(),
    };
    let kind = match line.kind() {
        LineKind::Section => "row section",
        LineKind::Command => "row command",
        LineKind::Notice => "row notice",
        LineKind::Output => "row",
    };
    view! {
        <div class=kind class:hl=is_hl id=format!("L{n}") data-line=n>
            <a class="ln" href=format!("#L{n}") aria-label=format!("Line {n}")>{n}</a>
            {move || show_times.get().then(|| view! { <span class="ts">{ts.clone()}</span> })}
            <span class="txt">{content}</span>
        </div>
    }
    .into_any()
}

/// Text with its terminal colours as styled spans (never as markup).
pub(crate) fn segments(segs: Vec<Segment>) -> impl IntoView {
    segs.into_iter()
        .map(|s| {
            let (class, style) = span_style(&s);
            if class.is_empty() && style.is_empty() {
                view! { <span>{s.text}</span> }.into_any()
            } else {
                view! { <span class=class style=style>{s.text}</span> }.into_any()
            }
        })
        .collect_view()
}

/// CSS classes for theme colours and styles, inline colours for 256/true colour.
fn span_style(s: &Segment) -> (String, String) {
    let st = s.style;
    let (fg, bg) = if st.inverse { (st.bg, st.fg) } else { (st.fg, st.bg) };
    let mut class = Vec::new();
    let mut style = String::new();
    match fg {
        Some(Color::Named(n)) => class.push(format!("fg{n}")),
        Some(Color::Rgb(r, g, b)) => style.push_str(&format!("color:rgb({r},{g},{b});")),
        None if st.inverse => class.push("fg-inv".into()),
        None => {}
    }
    match bg {
        Some(Color::Named(n)) => class.push(format!("bg{n}")),
        Some(Color::Rgb(r, g, b)) => style.push_str(&format!("background:rgb({r},{g},{b});")),
        None if st.inverse => class.push("bg-inv".into()),
        None => {}
    }
    for (on, name) in [
        (st.bold, "b"),
        (st.dim, "dim"),
        (st.italic, "i"),
        (st.underline, "u"),
        (st.strike, "s"),
    ] {
        if on {
            class.push(name.into());
        }
    }
    (class.join(" "), style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_swaps_colours() {
        let seg = ansi::render("\x1b[7;31mx").remove(0);
        let (class, _) = span_style(&seg);
        assert!(class.contains("bg1") && class.contains("fg-inv"), "{class}");
    }
}
