//! The live log viewer. Lines arrive over server-sent events as they are printed and are kept
//! in a `LogModel` outside the reactive graph; only the rows on screen are in the DOM, so a
//! million-line log scrolls like a short one. It follows the end while the reader is at the
//! bottom, stops when they scroll up, and "Follow" resumes. Line numbers are `#L<n>` links;
//! phases fold; search steps through matches; the raw log downloads.

use leptos::html;
use leptos::prelude::*;

use crate::ansi::{self, Color, Segment};
use crate::log_model::LogModel;
#[cfg(feature = "hydrate")]
use sicuro_types::routes::event;
use sicuro_types::routes::{fill, path};
use sicuro_types::{LineKind, LogEnd, LogLine, format_duration};

/// Height of one row in pixels; `style/main.css` uses the same value.
pub const ROW_HEIGHT: f64 = 20.0;
/// Browsers cap element heights (Firefox near 17.9M px); beyond this the scroll range is scaled.
const MAX_SCROLL_PX: f64 = 8_000_000.0;
const OVERSCAN: usize = 10;

/// Where the window of rendered rows is, for a given scroll position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub first_row: usize,
    pub count: usize,
    /// Offset of the first rendered row from the top of the scroller's content.
    pub top_px: f64,
    pub spacer_px: f64,
}

/// Pure geometry: which rows to render for a scroll position (or at the bottom when following).
pub fn window(rows: usize, scroll_top: f64, viewport: f64, follow: bool) -> Window {
    let total = rows as f64 * ROW_HEIGHT;
    let spacer_px = total.min(MAX_SCROLL_PX);
    let visible = (viewport / ROW_HEIGHT).ceil() as usize + 1;
    let max_scroll = (spacer_px - viewport).max(0.0);
    let scroll = if follow {
        max_scroll
    } else {
        scroll_top.clamp(0.0, max_scroll)
    };
    let first_f = if total <= MAX_SCROLL_PX || max_scroll == 0.0 {
        scroll / ROW_HEIGHT
    } else {
        scroll / max_scroll * (rows.saturating_sub(visible.saturating_sub(1))) as f64
    };
    let first = (first_f.floor() as usize).min(rows.saturating_sub(1).max(0));
    let frac = (first_f - first as f64) * ROW_HEIGHT;
    let start = first.saturating_sub(OVERSCAN);
    let count = (visible + OVERSCAN + (first - start)).min(rows - start.min(rows));
    Window {
        first_row: start,
        count,
        top_px: (scroll - frac - (first - start) as f64 * ROW_HEIGHT).max(0.0),
        spacer_px,
    }
}

/// The scroll position that shows `row` near the top third of the viewport.
pub fn scroll_for_row(rows: usize, row: usize, viewport: f64) -> f64 {
    let total = rows as f64 * ROW_HEIGHT;
    let spacer = total.min(MAX_SCROLL_PX);
    let max_scroll = (spacer - viewport).max(0.0);
    let target = if total <= MAX_SCROLL_PX {
        row as f64 * ROW_HEIGHT - viewport / 3.0
    } else {
        let visible = (viewport / ROW_HEIGHT).ceil() as usize;
        row as f64 / (rows.saturating_sub(visible)).max(1) as f64 * max_scroll
    };
    target.clamp(0.0, max_scroll)
}

#[derive(Clone, PartialEq)]
struct Row {
    line: LogLine,
    index: usize,
    section: Option<(usize, bool, Option<i64>)>,
}

#[component]
pub fn LogViewer(
    build_id: i64,
    /// Called once when the server says the log is complete.
    on_end: Callback<LogEnd>,
    /// When the build ended (for the last section's duration); `None` while running.
    #[prop(into)]
    end_ts: Signal<Option<i64>>,
) -> impl IntoView {
    let model = StoredValue::new(LogModel::default());
    let version = RwSignal::new(0u64);
    let scroll_top = RwSignal::new(0.0f64);
    let viewport = RwSignal::new(600.0f64);
    let follow = RwSignal::new(true);
    let highlight = RwSignal::new(None::<u64>);
    let ended = RwSignal::new(false);
    let query = RwSignal::new(String::new());
    let matches = RwSignal::new(Vec::<usize>::new());
    let current = RwSignal::new(None::<usize>);
    let scroller: NodeRef<html::Div> = NodeRef::new();
    let clock = crate::time::use_clock();

    let rows_total = Memo::new(move |_| {
        version.track();
        model.with_value(|m| m.row_count())
    });
    let win = Memo::new(move |_| window(rows_total.get(), scroll_top.get(), viewport.get(), follow.get()));
    let rows = move || {
        let w = win.get();
        version.track();
        let end = end_ts.get().or_else(|| (!ended.get()).then(|| clock.get()));
        model.with_value(|m| {
            (w.first_row..w.first_row + w.count)
                .filter_map(|r| {
                    let index = m.row_to_line(r)?;
                    let line = m.line(index)?.clone();
                    let section = (line.kind() == LineKind::Section).then(|| {
                        let s = m.section_of_line(index).unwrap_or(0);
                        (s, m.is_collapsed(s), m.section_duration(s, end))
                    });
                    Some(Row { line, index, section })
                })
                .collect::<Vec<_>>()
        })
    };

    // Scroll the element to match `follow` and jumps; reading happens in the scroll handler.
    let scroll_to = move |px: f64| {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(px as i32);
        }
        scroll_top.set(px);
    };
    // While following, keep the scroller at the bottom once the new height is laid out. The
    // position set here is remembered so that the scroll event it causes is not taken for the
    // reader scrolling away.
    let own_scroll = StoredValue::new(None::<i32>);
    Effect::new(move |_| {
        win.track();
        if follow.get() {
            if let Some(el) = scroller.get_untracked() {
                request_animation_frame(move || {
                    el.set_scroll_top(el.scroll_height());
                    own_scroll.set_value(Some(el.scroll_top()));
                });
            }
        }
    });

    let jump_to_line = move |index: usize| {
        follow.set(false);
        model.update_value(|m| m.reveal(index));
        version.update(|v| *v += 1);
        let (row, rows, number) =
            model.with_value(|m| (m.line_to_row(index), m.row_count(), m.line(index).map(LogLine::number)));
        highlight.set(number);
        scroll_to(scroll_for_row(rows, row, viewport.get_untracked()));
    };

    // The stream: lines in batches, then `end`.
    #[cfg(feature = "hydrate")]
    {
        let pending_hash = RwSignal::new(hash_line());
        if pending_hash.get_untracked().is_some() {
            follow.set(false);
        }
        let url = fill(path::BUILD_LOG_STREAM, &[&build_id]);
        let stream = super::sse::Stream::open(
            &url,
            &[event::LINES, event::END],
            move |name, data, source| match name {
                event::LINES => {
                    if let Ok(batch) = serde_json::from_str::<Vec<LogLine>>(&data) {
                        let added = model.try_update_value(|m| m.append(batch)).unwrap_or(0);
                        if added > 0 {
                            version.update(|v| *v += 1);
                        }
                        if let Some(n) = pending_hash.get_untracked()
                            && let Some(i) = model.with_value(|m| m.index_of_number(n))
                        {
                            pending_hash.set(None);
                            jump_to_line(i);
                        }
                    }
                }
                event::END => {
                    source.close();
                    ended.set(true);
                    if let Ok(end) = serde_json::from_str::<LogEnd>(&data) {
                        on_end.run(end);
                    }
                }
                _ => {}
            },
        );
        super::sse::keep_for_component(stream);

        // `#L123` in the address: jump there (also when the reader clicks a line number).
        let on_hash = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
            if let Some(n) = hash_line() {
                match model.with_value(|m| m.index_of_number(n)) {
                    Some(i) => jump_to_line(i),
                    None => pending_hash.set(Some(n)),
                }
            }
        });
        if let Some(w) = web_sys::window() {
            use wasm_bindgen::JsCast;
            let _ = w.add_event_listener_with_callback("hashchange", on_hash.as_ref().unchecked_ref());
        }
        let on_hash = send_wrapper::SendWrapper::new(on_hash);
        on_cleanup(move || {
            use wasm_bindgen::JsCast;
            if let Some(w) = web_sys::window() {
                let _ = w.remove_event_listener_with_callback("hashchange", on_hash.as_ref().unchecked_ref());
            }
        });

        // Measure the viewport once mounted and whenever the window resizes.
        Effect::new(move |_| {
            if let Some(el) = scroller.get() {
                viewport.set(f64::from(el.client_height()).max(ROW_HEIGHT));
            }
        });
        let on_resize = leptos::prelude::window_event_listener(leptos::ev::resize, move |_| {
            if let Some(el) = scroller.get_untracked() {
                viewport.set(f64::from(el.client_height()).max(ROW_HEIGHT));
            }
        });
        on_cleanup(move || on_resize.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (build_id, on_end);

    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else { return };
        let top = el.scroll_top();
        if own_scroll.get_value() == Some(top) {
            return;
        }
        own_scroll.set_value(None);
        // The reader scrolled: follow again only when they are back at the bottom.
        let at_bottom = top + el.client_height() >= el.scroll_height() - (ROW_HEIGHT as i32) / 2;
        if follow.get_untracked() != at_bottom {
            follow.set(at_bottom);
        }
        scroll_top.set(f64::from(top));
    };

    let run_search = move |step: i64| {
        let q = query.get_untracked();
        if q.is_empty() {
            matches.set(Vec::new());
            current.set(None);
            return;
        }
        let found = model.with_value(|m| m.find_all(&q));
        if found.is_empty() {
            matches.set(found);
            current.set(None);
            return;
        }
        let next = match current.get_untracked() {
            Some(c) if matches.get_untracked() == found => (c as i64 + step).rem_euclid(found.len() as i64) as usize,
            _ if step < 0 => found.len() - 1,
            _ => 0,
        };
        let line = found[next];
        matches.set(found);
        current.set(Some(next));
        jump_to_line(line);
    };

    let toggle = move |section: usize| {
        model.update_value(|m| m.toggle(section));
        version.update(|v| *v += 1);
    };

    view! {
        <section class="log-panel" aria-label="Build log">
            <div class="log-tools" role="toolbar" aria-label="Log tools">
                <form class="log-search" role="search" on:submit=move |ev| { ev.prevent_default(); run_search(1); }>
                    <label class="visually-hidden" for="log-search">"Search the log"</label>
                    <input id="log-search" type="search" placeholder="Search the log"
                        prop:value=move || query.get()
                        on:input=move |ev| { query.set(event_target_value(&ev)); current.set(None); }
                        on:keydown=move |ev| if ev.key() == "Enter" && ev.shift_key() { ev.prevent_default(); run_search(-1); }
                    />
                    <button type="button" on:click=move |_| run_search(-1) aria-label="Previous match">"↑"</button>
                    <button type="submit" aria-label="Next match">"↓"</button>
                    <span class="match-count" aria-live="polite">
                        {move || match (current.get(), matches.get().len(), query.get().is_empty()) {
                            (_, _, true) => String::new(),
                            (Some(c), n, _) => format!("{} of {n}", c + 1),
                            (None, 0, _) if !matches.get().is_empty() || current.get().is_none() => String::new(),
                            (None, n, _) => format!("{n} matches"),
                        }}
                    </span>
                </form>
                <span class="log-count" data-testid="log-count">{move || { version.track(); format!("{} lines", model.with_value(|m| m.len())) }}</span>
                <button type="button" class="follow" aria-pressed=move || follow.get().to_string()
                    on:click=move |_| follow.set(true)>
                    {move || if follow.get() { "Following" } else { "Follow" }}
                </button>
                <a class="button" href=fill(path::BUILD_LOG_TEXT, &[&build_id]) download="">"Download"</a>
            </div>
            <div class="log" node_ref=scroller tabindex="0" role="log" aria-live="off" aria-label="Log lines"
                data-testid="log" on:scroll=on_scroll>
                <div class="log-spacer" style=move || format!("height:{}px", win.get().spacer_px)>
                    <div class="log-window" style=move || format!("transform:translateY({}px)", win.get().top_px)>
                        {move || rows().into_iter().map(|row| view! {
                            <LogRow row=row highlight=highlight toggle=toggle current_match=current matches=matches/>
                        }).collect_view()}
                    </div>
                </div>
                {move || (ended.get() && model.with_value(|m| m.is_empty())).then(|| view! { <p class="empty">"This build has no log."</p> })}
            </div>
        </section>
    }
}

#[component]
fn LogRow(
    row: Row,
    highlight: RwSignal<Option<u64>>,
    toggle: impl Fn(usize) + Copy + Send + Sync + 'static,
    current_match: RwSignal<Option<usize>>,
    matches: RwSignal<Vec<usize>>,
) -> impl IntoView {
    let n = row.line.number();
    let index = row.index;
    let is_hl = move || {
        highlight.get() == Some(n)
            || current_match.get().and_then(|c| matches.with(|m| m.get(c).copied())) == Some(index)
    };
    let content = match (row.line.kind(), row.section) {
        (LineKind::Section, Some((section, collapsed, duration))) => view! {
            <button type="button" class="section-toggle" aria-expanded=(!collapsed).to_string()
                on:click=move |_| toggle(section)>
                <span aria-hidden="true">{if collapsed { "▸ " } else { "▾ " }}</span>
                {row.line.text().to_string()}
            </button>
            <span class="section-duration">{duration.map(format_duration).unwrap_or_default()}</span>
        }
        .into_any(),
        (LineKind::Command, _) => view! { <span class="cmd">"$ "{row.line.text().to_string()}</span> }.into_any(),
        (LineKind::Notice, _) => view! { <span class="notice">{row.line.text().to_string()}</span> }.into_any(),
        _ => segments(ansi::render(row.line.text())).into_any(),
    };
    let kind = match row.line.kind() {
        LineKind::Section => "row section",
        LineKind::Command => "row command",
        LineKind::Notice => "row notice",
        LineKind::Output => "row",
    };
    view! {
        <div class=kind class:hl=is_hl id=format!("L{n}") data-line=n>
            <a class="ln" href=format!("#L{n}") aria-label=format!("Line {n}")>{n}</a>
            <span class="txt">{content}</span>
        </div>
    }
}

fn segments(segs: Vec<Segment>) -> impl IntoView {
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

#[cfg(feature = "hydrate")]
fn hash_line() -> Option<u64> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.strip_prefix("#L")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_viewport_plus_overscan() {
        let w = window(1000, 2000.0, 400.0, false);
        assert_eq!(w.first_row, 100 - OVERSCAN);
        assert!(w.count >= 21 + OVERSCAN);
        assert_eq!(w.spacer_px, 20_000.0);
        assert_eq!(w.top_px, (100 - OVERSCAN) as f64 * ROW_HEIGHT);
    }

    #[test]
    fn following_shows_the_last_rows_whatever_the_scroll_position() {
        let w = window(1000, 0.0, 400.0, true);
        assert_eq!(w.first_row + w.count, 1000);
    }

    #[test]
    fn a_million_rows_fit_in_a_capped_spacer_and_reach_the_end() {
        let rows = 1_000_000;
        let w = window(rows, MAX_SCROLL_PX - 400.0, 400.0, false);
        assert_eq!(w.spacer_px, MAX_SCROLL_PX);
        assert_eq!(w.first_row + w.count, rows, "{w:?}");
        let top = window(rows, 0.0, 400.0, false);
        assert_eq!(top.first_row, 0);
        let s = scroll_for_row(rows, 500_000, 400.0);
        let mid = window(rows, s, 400.0, false);
        assert!((mid.first_row..mid.first_row + mid.count).contains(&500_000), "{mid:?}");
    }

    #[test]
    fn small_logs_have_no_empty_window() {
        let w = window(3, 0.0, 400.0, false);
        assert_eq!((w.first_row, w.count), (0, 3));
        let w = window(0, 0.0, 400.0, true);
        assert_eq!(w.count, 0);
    }

    #[test]
    fn inverse_swaps_colours() {
        let seg = ansi::render("\x1b[7;31mx").remove(0);
        let (class, _) = span_style(&seg);
        assert!(class.contains("bg1") && class.contains("fg-inv"), "{class}");
    }
}
