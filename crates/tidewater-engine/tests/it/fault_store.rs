//! `FaultStore`: an `ObjectStore` wrapper that injects failures and latency and counts calls.
//!
//! A trap fails the n-th call of one kind (put, get or delete) whose path contains a substring,
//! counted from when the trap is armed. It fires once, either *before* the call reaches the inner
//! store (nothing happened) or *after* it succeeded there (the write or delete landed but the
//! caller is told it failed: "outcome unknown").
//!
//! A crash point ([`FaultStore::crash_after_put`]) simulates the process dying right after a put
//! landed: from then on no put, get or delete reaches the inner store, so nothing the "dead"
//! process still runs (background tasks, cleanup) changes the warehouse.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use tokio::sync::Notify;

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
    Delete,
}

#[derive(Debug)]
struct Trap {
    call: Call,
    path_contains: String,
    nth: usize,
    seen: usize,
    fault: Fault,
}

/// The put after which the process "dies".
#[derive(Debug)]
struct CrashPoint {
    path_contains: String,
    nth: usize,
    seen: usize,
}

#[derive(Debug, Default)]
struct State {
    traps: Vec<Trap>,
    delays: Vec<(String, Duration)>,
    puts: Vec<String>,
    deletes: Vec<String>,
    fired: Vec<(Call, Fault, String)>,
    crash_point: Option<CrashPoint>,
    /// The crash point was reached: every later call fails without reaching the store.
    down: bool,
}

/// What one call does.
#[derive(Debug, Default)]
struct Decision {
    fault: Option<Fault>,
    delay: Option<Duration>,
    /// This put is the crash point: it lands, then the store is down.
    crash: bool,
    /// The store is down: the call fails without reaching it.
    dead: bool,
}

#[derive(Debug)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    // Shared with the `'static` streams `delete_stream` returns.
    state: Arc<Mutex<State>>,
    crashed: Arc<Notify>,
    /// Puts and deletes running in the inner store.
    in_flight: Arc<AtomicUsize>,
}

/// Counts one call running in the inner store while alive.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn start(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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

fn dead(call: Call, path: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("{call:?} of '{path}' after the simulated crash").into(),
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap()
}

/// Counts the call and decides what happens to it: a trap firing, a delay, the crash point.
fn on_call(state: &Mutex<State>, call: Call, path: &Path) -> Decision {
    let p = path.to_string();
    let mut s = lock(state);
    if s.down {
        return Decision {
            dead: true,
            ..Decision::default()
        };
    }
    match call {
        Call::Put => s.puts.push(p.clone()),
        Call::Delete => s.deletes.push(p.clone()),
        Call::Get => {}
    }
    let delay = match call {
        Call::Put => s
            .delays
            .iter()
            .find(|(sub, _)| p.contains(sub.as_str()))
            .map(|(_, d)| *d),
        Call::Get | Call::Delete => None,
    };
    let mut crash = false;
    if call == Call::Put
        && let Some(c) = s.crash_point.as_mut()
        && p.contains(c.path_contains.as_str())
    {
        c.seen += 1;
        if c.seen == c.nth {
            crash = true;
            s.crash_point = None;
            s.down = true;
        }
    }
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
    Decision {
        fault,
        delay,
        crash,
        dead: false,
    }
}

impl FaultStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<FaultStore> {
        Arc::new(FaultStore {
            inner,
            state: Arc::new(Mutex::new(State::default())),
            crashed: Arc::new(Notify::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
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

    /// Simulates a crash right after the `nth` put from now on whose path contains
    /// `path_contains` landed: that put and every later call fail without reaching the store
    /// (the process is gone), and [`FaultStore::until_crashed`] returns.
    pub fn crash_after_put(&self, nth: usize, path_contains: &str) {
        assert!(nth >= 1);
        self.state().crash_point = Some(CrashPoint {
            path_contains: path_contains.to_string(),
            nth,
            seen: 0,
        });
    }

    /// Waits until the crash point was reached (its put has landed).
    pub async fn until_crashed(&self) {
        self.crashed.notified().await;
    }

    /// Whether the crash point was reached.
    pub fn is_down(&self) -> bool {
        self.state().down
    }

    /// Waits until no put or delete is running in the inner store: after a crash, what was
    /// already on its way has landed, and nothing more will.
    pub async fn settled(&self) {
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
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

    /// Paths of every delete so far (each path of a `delete_stream`), in call order.
    pub fn deletes(&self) -> Vec<String> {
        self.state().deletes.clone()
    }

    pub fn delete_count(&self) -> usize {
        self.state().deletes.len()
    }

    /// The faults injected so far: (call, fault, path).
    pub fn fired(&self) -> Vec<(Call, Fault, String)> {
        self.state().fired.clone()
    }

    /// Traps armed but not fired yet.
    pub fn pending_traps(&self) -> usize {
        self.state().traps.len()
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
        let _running = InFlight::start(&self.in_flight);
        let d = on_call(&self.state, Call::Put, location);
        if d.dead {
            return Err(dead(Call::Put, location));
        }
        if let Some(d) = d.delay {
            tokio::time::sleep(d).await;
        }
        if d.crash {
            // The put lands; its caller never hears back, as the process is gone.
            let landed = self.inner.put_opts(location, payload, opts).await;
            self.crashed.notify_one();
            landed?;
            return Err(dead(Call::Put, location));
        }
        match d.fault {
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
        let d = on_call(&self.state, Call::Get, location);
        if d.dead {
            return Err(dead(Call::Get, location));
        }
        match d.fault {
            Some(Fault::Before) => Err(injected(Call::Get, Fault::Before, location)),
            Some(Fault::After) => {
                self.inner.get_opts(location, options).await?;
                Err(injected(Call::Get, Fault::After, location))
            }
            None => self.inner.get_opts(location, options).await,
        }
    }

    /// Deletes one path at a time through the inner store, each through the traps.
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let inner = self.inner.clone();
        let state = self.state.clone();
        let in_flight = self.in_flight.clone();
        locations
            .then(move |location| {
                let inner = inner.clone();
                let state = state.clone();
                let in_flight = in_flight.clone();
                async move {
                    let location = location?;
                    let _running = InFlight::start(&in_flight);
                    let d = on_call(&state, Call::Delete, &location);
                    if d.dead {
                        return Err(dead(Call::Delete, &location));
                    }
                    match d.fault {
                        Some(Fault::Before) => {
                            Err(injected(Call::Delete, Fault::Before, &location))
                        }
                        Some(Fault::After) => match inner.delete(&location).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                                Err(injected(Call::Delete, Fault::After, &location))
                            }
                            Err(e) => Err(e),
                        },
                        None => inner.delete(&location).await.map(|()| location),
                    }
                }
            })
            .boxed()
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
