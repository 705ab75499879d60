//! Server-sent events in the browser: an `EventSource` whose named events go to one handler,
//! closed when the component that opened it goes away (or when the handler asks).

/// Handle to an open stream; dropping it closes the stream.
#[cfg(feature = "hydrate")]
pub struct Stream {
    source: web_sys::EventSource,
    _listeners: Vec<wasm_bindgen::closure::Closure<dyn FnMut(web_sys::MessageEvent)>>,
}

#[cfg(feature = "hydrate")]
impl Drop for Stream {
    fn drop(&mut self) {
        self.source.close();
    }
}

#[cfg(feature = "hydrate")]
impl Stream {
    /// Opens `url` and calls `on_event(event name, data, source)` for each of `events`.
    /// The browser reconnects by itself after network errors, sending `Last-Event-ID`.
    pub fn open(
        url: &str,
        events: &[&'static str],
        on_event: impl Fn(&str, String, &web_sys::EventSource) + 'static,
    ) -> Option<Stream> {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let source = web_sys::EventSource::new(url).ok()?;
        let on_event = std::rc::Rc::new(on_event);
        let mut listeners = Vec::new();
        for &name in events {
            let on_event = on_event.clone();
            let source_for_handler = source.clone();
            let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let data = e.data().as_string().unwrap_or_default();
                on_event(name, data, &source_for_handler);
            });
            source
                .add_event_listener_with_callback(name, listener.as_ref().unchecked_ref())
                .ok()?;
            listeners.push(listener);
        }
        Some(Stream {
            source,
            _listeners: listeners,
        })
    }
}

/// Keeps a stream open for the life of the current component.
#[cfg(feature = "hydrate")]
pub fn keep_for_component(stream: Option<Stream>) {
    use leptos::prelude::on_cleanup;
    let holder = send_wrapper::SendWrapper::new(std::cell::RefCell::new(stream));
    on_cleanup(move || {
        holder.borrow_mut().take();
    });
}
