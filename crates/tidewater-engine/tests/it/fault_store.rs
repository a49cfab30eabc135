//! `FaultStore`: an `ObjectStore` wrapper that injects failures and latency and counts calls.
//!
//! A trap fails the n-th call of one kind (put or get) whose path contains a substring, counted
//! from when the trap is armed. It fires once, either *before* the call reaches the inner store
//! (nothing happened) or *after* it succeeded there (the write landed but the caller is told it
//! failed: "outcome unknown").

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// When an injected failure happens relative to the real call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails without reaching the store.
    Before,
    /// The call succeeds in the store, then the caller gets an error.
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Put,
    Get,
}

#[derive(Debug)]
struct Trap {
    call: Call,
    path_contains: String,
    nth: usize,
    seen: usize,
    fault: Fault,
}

#[derive(Debug, Default)]
struct State {
    traps: Vec<Trap>,
    delays: Vec<(String, Duration)>,
    puts: Vec<String>,
    fired: Vec<(Call, Fault, String)>,
}

#[derive(Debug)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    state: Mutex<State>,
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

fn injected(call: Call, fault: Fault, path: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("injected {fault:?} fault on {call:?} of '{path}'").into(),
    }
}

impl FaultStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<FaultStore> {
        Arc::new(FaultStore {
            inner,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Fails the `nth` (1-based) `call` from now on whose path contains `path_contains`.
    pub fn fail(&self, call: Call, nth: usize, path_contains: &str, fault: Fault) {
        assert!(nth >= 1);
        self.state().traps.push(Trap {
            call,
            path_contains: path_contains.to_string(),
            nth,
            seen: 0,
            fault,
        });
    }

    /// Fails the `nth` put from now on whose path contains `path_contains` ("" for any).
    pub fn fail_put(&self, nth: usize, path_contains: &str, fault: Fault) {
        self.fail(Call::Put, nth, path_contains, fault);
    }

    /// Delays every put whose path contains `path_contains`.
    pub fn delay_puts(&self, path_contains: &str, by: Duration) {
        self.state().delays.push((path_contains.to_string(), by));
    }

    /// Paths of every put so far, in call order.
    pub fn puts(&self) -> Vec<String> {
        self.state().puts.clone()
    }

    pub fn put_count(&self) -> usize {
        self.state().puts.len()
    }

    /// The faults injected so far: (call, fault, path).
    pub fn fired(&self) -> Vec<(Call, Fault, String)> {
        self.state().fired.clone()
    }

    /// Traps armed but not fired yet.
    pub fn pending_traps(&self) -> usize {
        self.state().traps.len()
    }

    /// Counts the call and returns the fault to inject, if a trap fires.
    fn on_call(&self, call: Call, path: &Path) -> (Option<Fault>, Option<Duration>) {
        let p = path.to_string();
        let mut s = self.state();
        match call {
            Call::Put => s.puts.push(p.clone()),
            Call::Get => {}
        }
        let delay = match call {
            Call::Put => s
                .delays
                .iter()
                .find(|(sub, _)| p.contains(sub.as_str()))
                .map(|(_, d)| *d),
            Call::Get => None,
        };
        let mut fire = None;
        for (i, t) in s.traps.iter_mut().enumerate() {
            if t.call == call && p.contains(t.path_contains.as_str()) {
                t.seen += 1;
                if t.seen == t.nth {
                    fire = Some((i, t.fault));
                    break;
                }
            }
        }
        let fault = fire.map(|(i, fault)| {
            s.traps.remove(i);
            s.fired.push((call, fault, p.clone()));
            fault
        });
        (fault, delay)
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let (fault, delay) = self.on_call(Call::Put, location);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        match fault {
            Some(Fault::Before) => Err(injected(Call::Put, Fault::Before, location)),
            Some(Fault::After) => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(injected(Call::Put, Fault::After, location))
            }
            None => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        match self.on_call(Call::Get, location).0 {
            Some(Fault::Before) => Err(injected(Call::Get, Fault::Before, location)),
            Some(Fault::After) => {
                self.inner.get_opts(location, options).await?;
                Err(injected(Call::Get, Fault::After, location))
            }
            None => self.inner.get_opts(location, options).await,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
