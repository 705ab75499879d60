//! The log viewer. It opens on the log's last screen, fetching only that window of lines; lines
//! elsewhere are fetched by number when the reader scrolls to them (or follows a `#L123` link),
//! and new lines arrive over server-sent events as they are printed. The lines are kept in a
//! `LogModel` outside the reactive graph; only the rows on screen are in the DOM, so a log of
//! ten million lines opens and scrolls like a short one. It follows the end while the reader is
//! at the bottom, stops when they scroll up, and "Follow" resumes. Search runs on the server
//! over the whole log; phases fold; times since the start can be shown; the raw log downloads.

use leptos::html;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use super::log_feeds::{fetch_window, hash_line, open_search, open_stream, watch_size};
use super::log_geometry::{ROW_HEIGHT, scroll_for_row, window};
use super::log_row::{LogRow, Row};
use crate::log_model::LogModel;
#[cfg(feature = "hydrate")]
use sicuro_types::LogLine;
use sicuro_types::routes::{fill, path};
use sicuro_types::{LineKind, LogEnd, LogFailure};

/// Lines fetched when the viewer opens (more than a screen, so a first scroll up finds lines).
#[cfg(feature = "hydrate")]
const FIRST_WINDOW: u64 = 300;

/// The search as the viewer knows it: hits (line numbers) so far and how many in all.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct Search {
    pub(crate) query: String,
    pub(crate) hits: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) done: bool,
    pub(crate) error: Option<String>,
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
