//! Server-sent events in the browser, through gloo-net's `EventSource`: the named events of one
//! stream go to one handler, and the stream is closed when the component that opened it goes
//! away, or when the handler asks (the server's end-of-stream event: the browser would otherwise
//! reconnect by itself). The browser reconnects after network errors, sending `Last-Event-ID`.

/// Lets a handler close its stream.
#[cfg(feature = "hydrate")]
#[derive(Clone, Default)]
pub struct Closer(std::rc::Rc<std::cell::Cell<bool>>);

#[cfg(feature = "hydrate")]
impl Closer {
    pub fn close(&self) {
        self.0.set(true);
    }
}

/// Handle to an open stream; dropping it closes the stream.
#[cfg(feature = "hydrate")]
pub struct Stream {
    source: std::rc::Rc<std::cell::RefCell<Option<gloo_net::eventsource::futures::EventSource>>>,
}

#[cfg(feature = "hydrate")]
impl Drop for Stream {
    fn drop(&mut self) {
        // Dropping gloo-net's EventSource closes it (and ends its subscriptions).
        self.source.borrow_mut().take();
    }
}

#[cfg(feature = "hydrate")]
impl Stream {
    /// Opens `url` and calls `on_event(event name, data, closer)` for each of `events`.
    pub fn open(
        url: &str,
        events: &[&'static str],
        on_event: impl Fn(&str, String, &Closer) + 'static,
    ) -> Option<Stream> {
        use futures::StreamExt;
        let mut source = gloo_net::eventsource::futures::EventSource::new(url).ok()?;
        let subscriptions: Vec<_> = events.iter().filter_map(|&name| source.subscribe(name).ok()).collect();
        let source = std::rc::Rc::new(std::cell::RefCell::new(Some(source)));
        let held = source.clone();
        leptos::task::spawn_local(async move {
            let mut messages = futures::stream::select_all(subscriptions);
            let closer = Closer::default();
            while let Some(message) = messages.next().await {
                // An error comes only once the stream is closed for good (gloo-net passes over
                // the ones after which the browser reconnects).
                let Ok((name, event)) = message else { break };
                let data = event.data().as_string().unwrap_or_default();
                on_event(&name, data, &closer);
                if closer.0.get() {
                    break;
                }
            }
            held.borrow_mut().take();
        });
        Some(Stream { source })
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
