//! The log viewer. It opens on the log's last screen, fetching only that window of lines; lines
//! elsewhere are fetched by number when the reader scrolls to them (or follows a `#L123` link),
//! and new lines arrive over server-sent events as they are printed. The lines are kept in a
//! `LogModel` outside the reactive graph; only the rows on screen are in the DOM, so a log of
//! ten million lines opens and scrolls like a short one. It follows the end while the reader is
//! at the bottom, stops when they scroll up, and "Follow" resumes. Search runs on the server
//! over the whole log; phases fold; times since the start can be shown; the raw log downloads.

use leptos::html;
use leptos::prelude::*;

use crate::ansi::{self, Color, Segment};
use crate::log_model::LogModel;
#[cfg(feature = "hydrate")]
use sicuro_types::routes::event;
use sicuro_types::routes::{fill, path};
use sicuro_types::{LineKind, LogEnd, LogFailure, LogLine, format_duration};

/// Height of one row in pixels; `style/main.css` uses the same value.
pub const ROW_HEIGHT: f64 = 20.0;
/// Browsers cap element heights (Firefox near 17.9M px); beyond this the scroll range is scaled.
const MAX_SCROLL_PX: f64 = 8_000_000.0;
const OVERSCAN: usize = 10;
/// Lines fetched when the viewer opens (more than a screen, so a first scroll up finds lines).
#[cfg(feature = "hydrate")]
const FIRST_WINDOW: u64 = 300;

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
    let first = (first_f.floor() as usize).min(rows.saturating_sub(1));
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
    number: u64,
    /// `None` while its lines are being fetched.
    line: Option<LogLine>,
    section: Option<(usize, bool, Option<i64>)>,
}

/// The search as the viewer knows it: hits (line numbers) so far and how many in all.
#[derive(Clone, Default, PartialEq)]
struct Search {
    query: String,
    hits: Vec<u64>,
    count: u64,
    done: bool,
    error: Option<String>,
}

#[component]
pub fn LogViewer(
    build_id: i64,
    /// Called once when the server says the log is complete.
    on_end: Callback<LogEnd>,
    /// Called when the log says which command a failed build failed on.
    on_failure: Callback<LogFailure>,
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
    let started_at = RwSignal::new(None::<i64>);
    let show_times = RwSignal::new(false);
    let query = RwSignal::new(String::new());
    let use_regex = RwSignal::new(false);
    let match_case = RwSignal::new(false);
    let search = RwSignal::new(Search::default());
    let current = RwSignal::new(None::<usize>);
    let scroller: NodeRef<html::Div> = NodeRef::new();
    let clock = crate::time::use_clock();

    let rows_total = Memo::new(move |_| {
        version.track();
        model.with_value(|m| m.row_count() as usize)
    });
    let win = Memo::new(move |_| window(rows_total.get(), scroll_top.get(), viewport.get(), follow.get()));
    let rows = move || {
        let w = win.get();
        version.track();
        // The last section runs until the build's end, or now while it runs (ms since the start).
        let end = end_ts
            .get()
            .or_else(|| (!ended.get()).then(|| clock.get()))
            .zip(started_at.get())
            .map(|(end, start)| end - start);
        model
            .try_update_value(|m| {
                (w.first_row..w.first_row + w.count)
                    .filter_map(|r| {
                        let number = m.row_to_number(r as u64)?;
                        let line = m.line(number).cloned();
                        let section = line.as_ref().filter(|l| l.kind() == LineKind::Section).map(|_| {
                            let s = m.section_of(number).unwrap_or(0);
                            (s, m.is_collapsed(s), m.section_duration(s, end))
                        });
                        Some(Row { number, line, section })
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
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
        if follow.get()
            && let Some(el) = scroller.get_untracked()
        {
            request_animation_frame(move || {
                el.set_scroll_top(el.scroll_height());
                own_scroll.set_value(Some(el.scroll_top()));
            });
        }
    });

    let jump_to_number = move |number: u64| {
        follow.set(false);
        model.update_value(|m| m.reveal(number));
        version.update(|v| *v += 1);
        let (row, rows) = model.with_value(|m| (m.number_to_row(number), m.row_count()));
        highlight.set(Some(number));
        scroll_to(scroll_for_row(rows as usize, row as usize, viewport.get_untracked()));
    };

    #[cfg(feature = "hydrate")]
    {
        let pending = StoredValue::new(std::collections::HashSet::<u64>::new());
        // Fetch what the rows on screen need and is not loaded yet.
        Effect::new(move |_| {
            let w = win.get();
            version.track();
            let (first, last) = model.with_value(|m| {
                (
                    m.row_to_number(w.first_row as u64),
                    m.row_to_number((w.first_row + w.count).saturating_sub(1) as u64),
                )
            });
            let (Some(first), Some(last)) = (first, last) else {
                return;
            };
            for (from, count) in model.with_value(|m| m.missing(first, last)) {
                if !pending.with_value(|p| p.contains(&from)) {
                    pending.update_value(|p| {
                        p.insert(from);
                    });
                    let url = format!("{}?from={from}&limit={count}", fill(path::BUILD_LOG, &[&build_id]));
                    leptos::task::spawn_local(async move {
                        if let Ok(w) = fetch_window(&url).await {
                            let covered = (from, (from + count - 1).min(w.last));
                            model.update_value(|m| {
                                m.set_shape(w.last, w.gaps, w.sections);
                                m.insert(w.lines, Some(covered));
                                m.evict(first..=last);
                            });
                            version.update(|v| *v += 1);
                        }
                        pending.update_value(|p| {
                            p.remove(&from);
                        });
                    });
                }
            }
        });

        // Open on the last screen (or around a `#L123` line), then stream what comes next.
        let hash = hash_line();
        if hash.is_some() {
            follow.set(false);
        }
        leptos::task::spawn_local(async move {
            let base = fill(path::BUILD_LOG, &[&build_id]);
            let url = match hash {
                Some(n) => format!(
                    "{base}?from={}&limit={FIRST_WINDOW}",
                    n.saturating_sub(FIRST_WINDOW / 2).max(1)
                ),
                None => format!("{base}?tail={FIRST_WINDOW}"),
            };
            let Ok(w) = fetch_window(&url).await else { return };
            let covered = w
                .lines
                .first()
                .map(|l| (l.number(), w.lines.last().map_or(0, LogLine::number)));
            started_at.set(w.started_at);
            let (last, done, status, failure) = (w.last, w.done, w.status, w.failure.clone());
            model.update_value(|m| {
                m.set_shape(w.last, w.gaps, w.sections);
                m.insert(w.lines, covered);
            });
            version.update(|v| *v += 1);
            if let Some(n) = hash {
                jump_to_number(n);
            }
            if let Some(f) = failure {
                on_failure.run(f);
            }
            if done {
                ended.set(true);
                if let Some(status) = status {
                    on_end.run(LogEnd { status, lines: last });
                }
            } else {
                open_stream(build_id, last, model, version, ended, on_end, on_failure);
            }
        });

        // `#L123` in the address: jump there (also when the reader clicks a line number).
        let on_hash = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
            if let Some(n) = hash_line() {
                jump_to_number(n);
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
        // The router handles clicks on `#L123` links itself (no `hashchange`): follow its location.
        let location = leptos_router::hooks::use_location();
        Effect::new(move |previous: Option<String>| {
            let hash = location.hash.get();
            if previous.is_some_and(|p| p != hash)
                && let Some(n) = hash.strip_prefix("#L").and_then(|n| n.parse().ok())
            {
                jump_to_number(n);
            }
            hash
        });

        // Measure the panel whenever its size changes: when it is laid out after a client-side
        // navigation, when the window resizes, when the page around it changes.
        watch_size(scroller, viewport);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (build_id, on_end, on_failure, started_at);

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

    // Next and previous hit; a new query starts a search of the whole log on the server.
    #[cfg(feature = "hydrate")]
    let search_stream = StoredValue::new_local(None::<super::sse::Stream>);
    let run_search = move |step: i64| {
        let q = query.get_untracked();
        if q.is_empty() {
            search.set(Search::default());
            current.set(None);
            return;
        }
        let same = search.with_untracked(|s| s.query == q);
        if !same {
            current.set(None);
            search.set(Search {
                query: q.clone(),
                ..Search::default()
            });
            #[cfg(feature = "hydrate")]
            {
                let url = format!(
                    "{}?q={}&regex={}&case={}",
                    fill(path::BUILD_LOG_SEARCH, &[&build_id]),
                    js_sys::encode_uri_component(&q),
                    u8::from(use_regex.get_untracked()),
                    u8::from(match_case.get_untracked()),
                );
                let stream = open_search(&url, search, current, jump_to_number);
                if stream.is_none() {
                    search.update(|s| s.error = Some("the search could not start".into()));
                }
                search_stream.set_value(stream);
            }
            return;
        }
        let n = search.with_untracked(|s| s.hits.len());
        if n == 0 {
            return;
        }
        let next = match current.get_untracked() {
            Some(c) => (c as i64 + step).rem_euclid(n as i64) as usize,
            None if step < 0 => n - 1,
            None => 0,
        };
        current.set(Some(next));
        if let Some(number) = search.with_untracked(|s| s.hits.get(next).copied()) {
            jump_to_number(number);
        }
    };

    let toggle = move |section: usize| {
        model.update_value(|m| m.toggle(section));
        version.update(|v| *v += 1);
    };
    let current_hit = Memo::new(move |_| current.get().and_then(|c| search.with(|s| s.hits.get(c).copied())));
    let download = move || {
        let base = fill(path::BUILD_LOG_TEXT, &[&build_id]);
        if show_times.get() {
            format!("{base}?timestamps=1")
        } else {
            base
        }
    };

    view! {
        <section class="log-panel" aria-label="Build log">
            <div class="log-tools" role="toolbar" aria-label="Log tools">
                <form class="log-search" role="search" on:submit=move |ev| { ev.prevent_default(); run_search(1); }>
                    <label class="visually-hidden" for="log-search">"Search the whole log"</label>
                    <input id="log-search" type="search" placeholder="Search the whole log"
                        prop:value=move || query.get()
                        on:input=move |ev| { query.set(event_target_value(&ev)); }
                        on:keydown=move |ev| if ev.key() == "Enter" && ev.shift_key() { ev.prevent_default(); run_search(-1); }
                    />
                    <label class="check" title="Regular expression">
                        <input type="checkbox" prop:checked=move || use_regex.get()
                            on:change=move |ev| { use_regex.set(event_target_checked(&ev)); search.set(Search::default()); }/>
                        ".*"
                    </label>
                    <label class="check" title="Match case">
                        <input type="checkbox" prop:checked=move || match_case.get()
                            on:change=move |ev| { match_case.set(event_target_checked(&ev)); search.set(Search::default()); }/>
                        "Aa"
                    </label>
                    <button type="button" on:click=move |_| run_search(-1) aria-label="Previous match">"↑"</button>
                    <button type="submit" aria-label="Next match">"↓"</button>
                    <span class="match-count" aria-live="polite" data-testid="match-count">
                        {move || search.with(|s| match (&s.error, current.get(), s.count, s.done, s.query.is_empty()) {
                            (Some(e), ..) => e.clone(),
                            (_, _, _, _, true) => String::new(),
                            (_, Some(c), n, true, _) => format!("{} of {n}", c + 1),
                            (_, Some(c), n, false, _) => format!("{} of {n}…", c + 1),
                            (_, None, 0, true, _) => "no matches".to_string(),
                            (_, None, n, true, _) => format!("{n} matches"),
                            (_, None, n, false, _) => format!("searching… {n}"),
                        })}
                    </span>
                </form>
                <label class="check">
                    <input type="checkbox" data-testid="show-times" prop:checked=move || show_times.get()
                        on:change=move |ev| show_times.set(event_target_checked(&ev))/>
                    "Times"
                </label>
                <span class="log-count" data-testid="log-count">{move || { version.track(); format!("{} lines", model.with_value(|m| m.len())) }}</span>
                <button type="button" class="follow" aria-pressed=move || follow.get().to_string()
                    on:click=move |_| follow.set(true)>
                    {move || if follow.get() { "Following" } else { "Follow" }}
                </button>
                <a class="button" href=download download="">"Download"</a>
            </div>
            <div class="log" class:timed=move || show_times.get() node_ref=scroller tabindex="0" role="log" aria-live="off" aria-label="Log lines"
                data-testid="log" on:scroll=on_scroll>
                <div class="log-spacer" style=move || format!("height:{}px", win.get().spacer_px)>
                    <div class="log-window" style=move || format!("transform:translateY({}px)", win.get().top_px)>
                        {move || rows().into_iter().map(|row| view! {
                            <LogRow row=row highlight=highlight toggle=toggle current_hit=current_hit show_times=show_times/>
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

/// A window of the log from the API.
#[cfg(feature = "hydrate")]
async fn fetch_window(url: &str) -> Result<sicuro_types::LogWindow, String> {
    let response = gloo_net::http::Request::get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// The live end: lines after `after` as they are printed, then `end`.
#[cfg(feature = "hydrate")]
fn open_stream(
    build_id: i64,
    after: u64,
    model: StoredValue<LogModel>,
    version: RwSignal<u64>,
    ended: RwSignal<bool>,
    on_end: Callback<LogEnd>,
    on_failure: Callback<LogFailure>,
) {
    let url = format!("{}?after={after}", fill(path::BUILD_LOG_STREAM, &[&build_id]));
    let stream = super::sse::Stream::open(
        &url,
        &[event::LINES, event::END],
        move |name, data, closer| match name {
            event::LINES => {
                if let Ok(batch) = serde_json::from_str::<Vec<LogLine>>(&data) {
                    let added = model.try_update_value(|m| m.insert(batch, None)).unwrap_or(0);
                    if added > 0 {
                        version.update(|v| *v += 1);
                    }
                }
            }
            event::END => {
                closer.close();
                ended.set(true);
                if let Ok(end) = serde_json::from_str::<LogEnd>(&data) {
                    model.update_value(|m| m.set_shape(end.lines, Vec::new(), Vec::new()));
                    on_end.run(end.clone());
                    if end.status == sicuro_types::BuildStatus::Failure {
                        // The failing command, now that the log says how it ended.
                        let url = format!("{}?tail=1", fill(path::BUILD_LOG, &[&build_id]));
                        leptos::task::spawn_local(async move {
                            if let Ok(w) = fetch_window(&url).await
                                && let Some(f) = w.failure
                            {
                                on_failure.run(f);
                            }
                        });
                    }
                }
            }
            _ => {}
        },
    );
    super::sse::keep_for_component(stream);
}

/// A search of the whole log on the server: hits as they are found, then the count.
#[cfg(feature = "hydrate")]
fn open_search(
    url: &str,
    search: RwSignal<Search>,
    current: RwSignal<Option<usize>>,
    jump_to_number: impl Fn(u64) + 'static,
) -> Option<super::sse::Stream> {
    super::sse::Stream::open(url, &[event::HITS, event::END], move |name, data, closer| {
        let Ok(hits) = serde_json::from_str::<sicuro_types::SearchHits>(&data) else {
            return;
        };
        search.update(|s| {
            s.hits.extend(hits.lines);
            s.count = hits.count;
            if name == event::END {
                s.done = true;
            }
        });
        if name == event::END {
            closer.close();
        }
        // The first hit is shown as soon as it is found.
        if current.get_untracked().is_none()
            && let Some(first) = search.with_untracked(|s| s.hits.first().copied())
        {
            current.set(Some(0));
            jump_to_number(first);
        }
    })
}

/// Keeps `viewport` equal to the element's height, measured whenever its size changes.
#[cfg(feature = "hydrate")]
fn watch_size(scroller: NodeRef<html::Div>, viewport: RwSignal<f64>) {
    use wasm_bindgen::JsCast;
    let measure = move || {
        if let Some(el) = scroller.get_untracked() {
            let h = f64::from(el.client_height());
            if h > 0.0 {
                viewport.set(h.max(ROW_HEIGHT));
            }
        }
    };
    let callback = wasm_bindgen::closure::Closure::<dyn FnMut(js_sys::Array)>::new(move |_: js_sys::Array| measure());
    let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) else {
        return;
    };
    let observer = send_wrapper::SendWrapper::new(observer);
    let callback = send_wrapper::SendWrapper::new(callback);
    let observing = StoredValue::new_local(None::<web_sys::Element>);
    let observer_for_effect = observer.clone();
    Effect::new(move |_| {
        if let Some(el) = scroller.get() {
            let el: web_sys::Element = el.into();
            observer_for_effect.observe(&el);
            observing.set_value(Some(el));
            measure();
        }
    });
    on_cleanup(move || {
        observer.disconnect();
        drop(callback);
    });
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
    fn ten_million_rows_fit_in_a_capped_spacer_and_reach_the_end() {
        for rows in [1_000_000, 10_000_000] {
            let w = window(rows, MAX_SCROLL_PX - 400.0, 400.0, false);
            assert_eq!(w.spacer_px, MAX_SCROLL_PX);
            assert_eq!(w.first_row + w.count, rows, "{w:?}");
            let top = window(rows, 0.0, 400.0, false);
            assert_eq!(top.first_row, 0);
            let s = scroll_for_row(rows, rows / 2, 400.0);
            let mid = window(rows, s, 400.0, false);
            assert!(
                (mid.first_row..mid.first_row + mid.count).contains(&(rows / 2)),
                "{mid:?}"
            );
        }
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
