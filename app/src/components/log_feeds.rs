//! Where the log viewer's lines come from in the browser: windows of lines by number, the live
//! end and the server's search over server-sent events, the panel's measured height, `#L` links.

use leptos::html;
use leptos::prelude::*;

use super::log_geometry::ROW_HEIGHT;
use super::log_viewer::Search;
use crate::log_model::LogModel;
use sicuro_types::routes::{event, fill, path};
use sicuro_types::{LogEnd, LogFailure, LogLine};

/// A window of the log from the API.
pub(crate) async fn fetch_window(url: &str) -> Result<sicuro_types::LogWindow, String> {
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
pub(crate) fn open_stream(
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
pub(crate) fn open_search(
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
pub(crate) fn watch_size(scroller: NodeRef<html::Div>, viewport: RwSignal<f64>) {
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

pub(crate) fn hash_line() -> Option<u64> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.strip_prefix("#L")?.parse().ok()
}
