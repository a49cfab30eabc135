//! Crash points inside maintenance (issue #5): compaction, snapshot expiry and vacuum.
//!
//! Each sweep builds one table once (a template directory) and copies it for every run: a clean
//! run counts the maintenance job's puts (and deletes), then one run per call index fails that
//! call — before it reached the store, or after it landed ("outcome unknown") — or lets the
//! process die right after it. After each, through a fresh fault-free warehouse:
//! - every stored snapshot reads exactly as the model says (latest and time travel), expired
//!   ones fail naming `acid.data.retain.hours`;
//! - no data file a stored snapshot or an open session references is missing;
//! - the job re-run without faults succeeds and converges to the clean end state;
//! - vacuum with no safety window leaves the data and manifest directories holding exactly what
//!   stored snapshots (and open sessions) reference: orphans collected, nothing live deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, Int64Array};
use tidewater_engine::compact::MAX_LEVEL;
use tidewater_engine::{
    CompactMode, CompactReport, ErrorKind, Result, SessionKind, Table, Warehouse, now_ms,
};
use tidewater_format::hash::bucket_columns;
use tidewater_format::{SnapshotKind, TableProperties, TableSchema};

use crate::env::{Person, Row, TestEnv, ids, people_columns, persons_batch, scan_rows};
use crate::fault_store::{Call, Fault, FaultStore};
use crate::faults::{expected, persons};

const HOUR: i64 = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// Expected rows of every snapshot, by id.
type Model = BTreeMap<u64, Vec<Row>>;

/// A warehouse directory built once; every run of a sweep works on a copy of it.
struct Template {
    env: TestEnv,
    model: Model,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of a template warehouse, with the table opened through a fault store.
struct Run {
    env: TestEnv,
    store: Arc<FaultStore>,
    table: Table,
}

impl Run {
    async fn of(template: &TestEnv) -> Run {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(template.dir.path(), dir.path());
        let warehouse = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let env = TestEnv { dir, warehouse };
        let store = FaultStore::new(env.local_store());
        let w = Warehouse::with_store(env.location(), store.clone())
            .await
            .unwrap();
        let table = w.table("default", "t").await.unwrap();
        Run { env, store, table }
    }

    /// The table through a fresh, fault-free warehouse (another process).
    async fn fresh_table(&self) -> Table {
        self.env.reopen().await.table("default", "t").await.unwrap()
    }

    /// Table-relative paths of every object below `sub` (`data`, `manifest`, `session`).
    fn files(&self, sub: &str) -> BTreeSet<String> {
        table_files(self.env.dir.path(), sub)
    }
}

/// Table-relative paths of every object below `sub` of table `default.t` in a warehouse
/// directory.
fn table_files(warehouse: &Path, sub: &str) -> BTreeSet<String> {
    let root = warehouse.join("default/t");
    let mut out = BTreeSet::new();
    let mut dirs = vec![root.join(sub)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p.strip_prefix(&root).unwrap();
                out.insert(rel.to_str().unwrap().to_string());
            }
        }
    }
    out
}

/// The live data files (table-relative) and the manifests of every stored snapshot.
async fn referenced(t: &Table) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut data = BTreeSet::new();
    let mut manifests = BTreeSet::new();
    for id in t.snapshot_ids().await.unwrap() {
        let s = t.snapshot(id).await.unwrap();
        manifests.extend(s.manifests.iter().map(|m| format!("manifest/{}", m.name)));
        data.extend(t.files(&s).await.unwrap().into_iter().map(|f| f.path));
    }
    (data, manifests)
}

/// Adds the snapshots maintenance created (compact, expire) to the model: same rows as their
/// parent.
async fn extend_model(t: &Table, model: &mut Model, what: &str) {
    let last = *model.keys().last().unwrap();
    for id in t.snapshot_ids().await.unwrap() {
        if id > last && !model.contains_key(&id) {
            let s = t.snapshot(id).await.unwrap();
            assert!(
                matches!(s.kind, SnapshotKind::Compact | SnapshotKind::Expire),
                "{what}: unexpected snapshot {id} of kind {:?}",
                s.kind
            );
            let parent = model[&(id - 1)].clone();
            model.insert(id, parent);
        }
    }
}

/// Stored snapshot ids are gap-free and end at the latest; each stored snapshot reads as the
/// model says; older ones fail naming the retention window; every data file a stored snapshot
/// references exists.
async fn check_reads(run: &Run, t: &Table, model: &Model, what: &str) {
    let ids = t.snapshot_ids().await.unwrap();
    let (first, last) = (ids[0], *ids.last().unwrap());
    assert_eq!(ids, (first..=last).collect::<Vec<_>>(), "{what}");
    assert_eq!(*model.keys().last().unwrap(), last, "{what}");
    assert_eq!(
        t.latest_snapshot().await.unwrap().unwrap().id,
        last,
        "{what}"
    );
    assert_eq!(scan_rows(t.scan()).await, model[&last], "{what}: latest");
    for id in &ids {
        let got = scan_rows(t.scan().snapshot_id(*id)).await;
        assert_eq!(got, model[id], "{what}: snapshot {id}");
    }
    for id in model.keys().filter(|id| **id < first) {
        let err = t.scan().snapshot_id(*id).plan().await.err().unwrap();
        assert!(
            err.to_string().contains("acid.data.retain.hours"),
            "{what}: snapshot {id}: {err}"
        );
    }
    let on_disk = run.files("data");
    let (data, _) = referenced(t).await;
    let missing: Vec<&String> = data.difference(&on_disk).collect();
    assert!(
        missing.is_empty(),
        "{what}: live files missing: {missing:?}"
    );
}

/// One committed session: `upserts`, flushed (in two halves when there are more than 20, so
/// those leave two files per bucket), then `deletes` and the commit.
async fn commit_session(
    t: &Table,
    state: &mut BTreeMap<i64, Person>,
    upserts: &[Person],
    deletes: &[i64],
) -> u64 {
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let half = if upserts.len() > 20 {
        upserts.len() / 2
    } else {
        0
    };
    let (a, b) = upserts.split_at(half);
    for part in [a, b] {
        if !part.is_empty() {
            s.upsert(&persons_batch(part)).await.unwrap();
            s.flush().await.unwrap();
        }
    }
    if !deletes.is_empty() {
        s.delete(&ids(deletes)).await.unwrap();
    }
    let id = s.commit().await.unwrap().id;
    for p in upserts {
        state.insert(p.id, p.clone());
    }
    for k in deletes {
        state.remove(k);
    }
    id
}

/// Properties of a Delta table with `buckets` buckets and `extra` properties.
fn table_props(buckets: u32, extra: &[(&str, &str)]) -> TableProperties {
    let mut m = BTreeMap::from([
        ("transactional".to_string(), "true".to_string()),
        ("write.bucket.num".to_string(), buckets.to_string()),
    ]);
    for (k, v) in extra {
        m.insert(k.to_string(), v.to_string());
    }
    TableProperties::from_map(&m).unwrap()
}

fn bucket_of(id: i64, buckets: u32) -> u32 {
    let keys = Int64Array::from(vec![id]);
    bucket_columns(&[&keys as &dyn Array], buckets).unwrap()[0]
}

// ---------------------------------------------------------------------------------------------
// Compaction.

const BUCKETS: u32 = 3;

/// Rows whose names do not compress: a base run much larger than a few small commits.
fn wide_persons(ids: std::ops::Range<i64>, v: i32) -> Vec<Person> {
    let mix = |x: u64| {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    ids.map(|id| {
        let name: String = (0..16)
            .map(|i| format!("{:016x}", mix((id as u64) << 3 | i)))
            .collect();
        Person::new(id, Some(&name), Some(v), Some(id % 3 == 0))
    })
    .collect()
}

/// A table of three buckets: two ingest commits, a major compaction (a large base run per
/// bucket), then three small commits of upserts and deletes (level-0 runs above the base). With
/// `compaction.size-ratio` 10 a minor compaction merges the small runs above the base and keeps
/// their deletes; a major one rewrites everything.
async fn compaction_template() -> Template {
    let env = TestEnv::new().await;
    let schema = TableSchema::new(people_columns(), vec!["id".into()], vec![]).unwrap();
    let props = table_props(BUCKETS, &[("compaction.size-ratio", "10")]);
    let t = env
        .warehouse
        .create_table("default", "t", schema, props, false)
        .await
        .unwrap();
    let mut state = BTreeMap::new();
    let mut model = Model::new();
    let id = commit_session(&t, &mut state, &wide_persons(0..900, 1), &[]).await;
    model.insert(id, expected(&state));
    let id = commit_session(&t, &mut state, &wide_persons(300..600, 2), &[0, 1, 2, 3]).await;
    model.insert(id, expected(&state));
    let id = t.compact(CompactMode::Major).run().await.unwrap();
    model.insert(id.snapshot.unwrap(), expected(&state));
    for (ups, v, dels) in [
        (10..22, 3, vec![150, 151, 152, 700]),
        (200..212, 4, vec![12, 13, 14, 800]),
        (0..12, 5, vec![20, 21, 22, 900]),
    ] {
        let id = commit_session(&t, &mut state, &persons(ups, v), &dels).await;
        model.insert(id, expected(&state));
    }
    Template { env, model }
}

/// What a retry of the same compaction must reproduce (file names and sizes aside).
fn shape(r: &CompactReport) -> (Option<u64>, bool, u64, u64, u64, u64, u64) {
    (
        r.snapshot,
        r.major,
        r.buckets,
        r.files_in,
        r.files_out,
        r.rows_in,
        r.rows_out,
    )
}

/// The puts of a clean compaction on a copy of the template, and its report.
async fn clean_compaction(tpl: &Template, mode: CompactMode) -> (Vec<String>, CompactReport) {
    let run = Run::of(&tpl.env).await;
    let before = run.store.put_count();
    let report = run.table.compact(mode).run().await.unwrap();
    let puts = run.store.puts()[before..].to_vec();
    let last = *tpl.model.keys().last().unwrap();
    assert_eq!(report.snapshot, Some(last + 1), "{mode:?}");
    assert_eq!(report.buckets, BUCKETS as u64, "{mode:?}: {report:?}");
    assert!(
        report.files_in >= 2 * report.buckets,
        "{mode:?}: several files per bucket: {report:?}"
    );
    let t = run.fresh_table().await;
    let files = t
        .files(&t.latest_snapshot().await.unwrap().unwrap())
        .await
        .unwrap();
    let levels: BTreeSet<u32> = files.iter().map(|f| f.level).collect();
    if mode == CompactMode::Major {
        assert!(report.major);
        assert_eq!(levels, BTreeSet::from([MAX_LEVEL]));
        assert!(files.iter().all(|f| f.delete_count == 0));
    } else {
        // The small runs merged above the base, keeping their deletes.
        assert_eq!(
            levels,
            BTreeSet::from([MAX_LEVEL - 1, MAX_LEVEL]),
            "{report:?}"
        );
        assert!(files.iter().any(|f| f.delete_count > 0), "{report:?}");
    }
    let data = puts.iter().filter(|p| p.contains("/data/")).count();
    assert_eq!(data as u64, report.files_out, "{puts:?}");
    assert!(puts[data].contains("/manifest/"), "{puts:?}");
    assert!(puts[data + 1].contains("/snapshot/"), "{puts:?}");
    assert_eq!(puts.len(), data + 2, "{puts:?}");
    (puts, report)
}

/// After a compaction failed or its process died: reads are exact, live files exist, the
/// compaction re-run succeeds (nothing to do for a major one that landed), and vacuum collects
/// every orphan it left without touching a live file. Returns how many orphans (data files and
/// manifests) vacuum collected.
async fn check_after_failed_compaction(
    run: &Run,
    tpl: &Template,
    mode: CompactMode,
    landed: bool,
    clean: &CompactReport,
    what: &str,
) -> usize {
    let t = run.fresh_table().await;
    let mut model = tpl.model.clone();
    let last = *model.keys().last().unwrap();
    let latest = t.latest_snapshot().await.unwrap().unwrap().id;
    assert_eq!(latest, if landed { last + 1 } else { last }, "{what}");
    extend_model(&t, &mut model, what).await;
    check_reads(run, &t, &model, what).await;

    let again = t.compact(mode).run().await.unwrap();
    if !landed {
        assert_eq!(shape(&again), shape(clean), "{what}: the retry");
    } else if mode == CompactMode::Major {
        assert_eq!(
            again,
            CompactReport::default(),
            "{what}: nothing left to do"
        );
    } else {
        assert_eq!(again.snapshot, Some(last + 2), "{what}: {again:?}");
    }
    extend_model(&t, &mut model, what).await;
    check_reads(run, &t, &model, what).await;

    let (data, manifests) = referenced(&t).await;
    let orphans = run.files("data").difference(&data).count()
        + run.files("manifest").difference(&manifests).count();
    t.vacuum(now_ms() + 1_000, 0, false).await.unwrap();
    check_reads(run, &t, &model, what).await;
    assert_eq!(run.files("data"), data, "{what}: data files after vacuum");
    assert_eq!(
        run.files("manifest"),
        manifests,
        "{what}: manifests after vacuum"
    );
    orphans
}

/// Fails each put of a compaction in turn; returns how many fault points it covered and how
/// many orphans vacuum collected after them.
async fn compaction_put_sweep(tpl: &Template, mode: CompactMode, fault: Fault) -> (usize, usize) {
    let (puts, clean) = clean_compaction(tpl, mode).await;
    let mut orphans = 0;
    for n in 1..=puts.len() {
        let run = Run::of(&tpl.env).await;
        run.store.fail_put(n, "", fault);
        let err = run.table.compact(mode).run().await.unwrap_err();
        let fired = run.store.fired();
        assert_eq!(fired.len(), 1, "{mode:?} {fault:?} put #{n}: {fired:?}");
        let what = format!("{mode:?} {fault:?} put #{n} ({})", fired[0].2);
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{what}: {err}");
        let landed = fault == Fault::After && n == puts.len();
        assert_eq!(fired[0].2.contains("/snapshot/"), n == puts.len(), "{what}");
        orphans += check_after_failed_compaction(&run, tpl, mode, landed, &clean, &what).await;
    }
    (puts.len(), orphans)
}

/// Lets the process die right after each put of a compaction in turn (the compaction future is
/// dropped and nothing it still runs reaches the store); returns the number of crash points.
async fn compaction_crash_sweep(tpl: &Template, mode: CompactMode) -> usize {
    let (puts, clean) = clean_compaction(tpl, mode).await;
    for n in 1..=puts.len() {
        let what = format!("{mode:?} crash after put #{n}");
        let run = Run::of(&tpl.env).await;
        run.store.crash_after_put(n, "");
        let compaction = run.table.compact(mode).run();
        tokio::select! {
            biased;
            _ = run.store.until_crashed() => {}
            // The crash point was in the poll that finished it: its answer is never heard.
            r = compaction => assert!(run.store.is_down(), "{what}: ended before the crash: {r:?}"),
        }
        run.store.settled().await;
        let landed = n == puts.len();
        let orphans = check_after_failed_compaction(&run, tpl, mode, landed, &clean, &what).await;
        // Everything written before the crash point is garbage unless the snapshot landed.
        let expected_orphans = if landed { 0 } else { n };
        assert!(orphans >= expected_orphans, "{what}: {orphans} orphans");
    }
    puts.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_put_of_a_compaction_loses_nothing_and_vacuum_collects_its_outputs() {
    let tpl = compaction_template().await;
    let (mut points, mut orphans) = (0, 0);
    for mode in [CompactMode::Minor, CompactMode::Major] {
        for fault in [Fault::Before, Fault::After] {
            let (p, o) = compaction_put_sweep(&tpl, mode, fault).await;
            points += p;
            orphans += o;
        }
    }
    // 3 data files, a manifest and a snapshot; two modes, two faults.
    assert_eq!(points, 4 * 5, "fault points");
    assert!(orphans > 0, "no fault left anything to collect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_dying_inside_a_compaction_loses_nothing_and_vacuum_collects_its_outputs() {
    let tpl = compaction_template().await;
    let mut points = 0;
    for mode in [CompactMode::Minor, CompactMode::Major] {
        points += compaction_crash_sweep(&tpl, mode).await;
    }
    assert_eq!(points, 2 * 5, "crash points");
}

// ---------------------------------------------------------------------------------------------
// Expiry and vacuum.

/// How "now" relates to the template's writes, a few seconds old.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Clock {
    /// Default retention (24 h), now = real now + 48 h: every embedded session left open has
    /// outlived its lifetime (24 h); only a Tunnel session with a 72 h lifecycle is protected.
    TwoDaysLater,
    /// `acid.data.retain.hours` = 1, now = real now + 2 h: embedded sessions left open are still
    /// inside their lifetime and protected.
    TwoHoursLater,
}

impl Clock {
    fn offset_ms(self) -> i64 {
        match self {
            Clock::TwoDaysLater => 48 * HOUR,
            Clock::TwoHoursLater => 2 * HOUR,
        }
    }
}

/// An uncommitted session vacuum must leave alone, and the rows its commit adds.
#[derive(Debug, Clone)]
struct Pending {
    id: String,
    tunnel: bool,
    rows: Vec<Person>,
    /// Its data files (table-relative).
    files: BTreeSet<String>,
}

struct ExpiryTemplate {
    tpl: Template,
    protected: Vec<Pending>,
    /// Sessions that committed or aborted: vacuum removes their directories.
    finished: BTreeSet<String>,
}

/// Rows of `ids` that fall into `bucket` of a two-bucket table.
fn in_bucket(ids: std::ops::Range<i64>, v: i32, bucket: u32) -> Vec<Person> {
    let rows: Vec<Person> = persons(ids, v)
        .into_iter()
        .filter(|p| bucket_of(p.id, 2) == bucket)
        .collect();
    assert!(!rows.is_empty());
    rows
}

/// A two-bucket table: ingest commits, a major compaction (its inputs become dead files once
/// the snapshots before it expire), a commit whose commit marker was lost (the snapshot landed,
/// the process died before `commit.json`), another commit; then sessions vacuum must deal with:
/// an aborted one, one that crashed inside a flush (a data file with no block record), a Tunnel
/// session past its lifecycle, an embedded session left open after a flush, and a Tunnel session
/// whose lifecycle runs 72 h.
async fn expiry_template(clock: Clock) -> ExpiryTemplate {
    let env = TestEnv::new().await;
    let store = FaultStore::new(env.local_store());
    let w = Warehouse::with_store(env.location(), store.clone())
        .await
        .unwrap();
    let retain: &[(&str, &str)] = match clock {
        Clock::TwoDaysLater => &[],
        Clock::TwoHoursLater => &[("acid.data.retain.hours", "1")],
    };
    let schema = TableSchema::new(people_columns(), vec!["id".into()], vec![]).unwrap();
    let t = w
        .create_table("default", "t", schema, table_props(2, retain), false)
        .await
        .unwrap();
    let mut state = BTreeMap::new();
    let mut model = Model::new();
    let id = commit_session(&t, &mut state, &persons(0..24, 1), &[]).await;
    model.insert(id, expected(&state));
    let id = commit_session(&t, &mut state, &persons(10..30, 2), &[0, 1]).await;
    model.insert(id, expected(&state));
    let id = t.compact(CompactMode::Major).run().await.unwrap().snapshot;
    model.insert(id.unwrap(), expected(&state));
    // The commit marker is best effort: its failure does not fail the commit.
    store.fail_put(1, "/commit.json", Fault::Before);
    let id = commit_session(&t, &mut state, &persons(5..9, 3), &[]).await;
    assert_eq!(store.fired().len(), 1);
    model.insert(id, expected(&state));
    let id = commit_session(&t, &mut state, &persons(40..44, 4), &[10]).await;
    model.insert(id, expected(&state));

    let mut aborted = t.session(SessionKind::Upsert).open().await.unwrap();
    aborted
        .upsert(&persons_batch(&persons(100..105, 9)))
        .await
        .unwrap();
    aborted.flush().await.unwrap();
    aborted.abort().await.unwrap();
    let finished = session_ids(env.dir.path());
    assert_eq!(finished.len(), 5);

    let mut crashed = t.session(SessionKind::Upsert).open().await.unwrap();
    crashed
        .upsert(&persons_batch(&persons(200..205, 9)))
        .await
        .unwrap();
    store.fail_put(1, "/block/", Fault::Before);
    crashed.flush().await.unwrap_err();
    drop(crashed);

    let expired = t
        .create_tunnel_session(SessionKind::Upsert, None, false, 60_000)
        .await
        .unwrap();
    expired
        .write_block(0, 0, &persons_batch(&in_bucket(300..310, 9, 0)))
        .await
        .unwrap();

    let data_before = data_files(&env);
    let mut left_open = t.session(SessionKind::Upsert).open().await.unwrap();
    let left_open_rows = persons(400..405, 9);
    left_open
        .upsert(&persons_batch(&left_open_rows))
        .await
        .unwrap();
    left_open.flush().await.unwrap();
    let left_open_id = left_open.id().to_string();
    drop(left_open);
    let left_open_files: BTreeSet<String> =
        data_files(&env).difference(&data_before).cloned().collect();

    let data_before = data_files(&env);
    let tunnel = t
        .create_tunnel_session(SessionKind::Upsert, None, false, 72 * HOUR)
        .await
        .unwrap();
    let tunnel_rows = in_bucket(500..510, 9, 1);
    tunnel
        .write_block(1, 0, &persons_batch(&tunnel_rows))
        .await
        .unwrap();
    let tunnel_files: BTreeSet<String> =
        data_files(&env).difference(&data_before).cloned().collect();

    let mut protected = Vec::new();
    if clock == Clock::TwoHoursLater {
        protected.push(Pending {
            id: left_open_id,
            tunnel: false,
            rows: left_open_rows,
            files: left_open_files,
        });
    }
    protected.push(Pending {
        id: tunnel.id().to_string(),
        tunnel: true,
        rows: tunnel_rows,
        files: tunnel_files,
    });
    for p in &protected {
        assert!(!p.files.is_empty(), "{p:?}");
    }
    ExpiryTemplate {
        tpl: Template { env, model },
        protected,
        finished,
    }
}

/// Table-relative data files of a warehouse directory.
fn data_files(env: &TestEnv) -> BTreeSet<String> {
    table_files(env.dir.path(), "data")
}

/// Ids of the sessions with a directory in a warehouse directory.
fn session_ids(warehouse: &Path) -> BTreeSet<String> {
    table_files(warehouse, "session")
        .iter()
        .filter_map(|p| p.split('/').nth(1).map(str::to_string))
        .collect()
}

/// Expiry, then vacuum with no safety window, as a maintenance job runs them: it stops at the
/// first error.
async fn expire_and_vacuum(t: &Table, now: i64) -> Result<()> {
    t.expire_snapshots(now, false).await?;
    t.vacuum(now, 0, false).await?;
    Ok(())
}

/// Checks the state after expire + vacuum finished without faults and returns the stored
/// snapshot ids and the data files: reads are exact; the data directory holds exactly the live
/// files of the stored snapshots and the files of the protected sessions; the manifest
/// directory exactly what stored snapshots reference; finished sessions are removed, protected
/// ones are not.
async fn check_end_state(
    run: &Run,
    e: &ExpiryTemplate,
    t: &Table,
    model: &Model,
    what: &str,
) -> (Vec<u64>, BTreeSet<String>) {
    check_reads(run, t, model, what).await;
    let (data, manifests) = referenced(t).await;
    let mut expected_files = data;
    for p in &e.protected {
        expected_files.extend(p.files.iter().cloned());
    }
    let on_disk = run.files("data");
    assert_eq!(on_disk, expected_files, "{what}: data files");
    assert_eq!(run.files("manifest"), manifests, "{what}: manifests");
    let sessions = session_ids(run.env.dir.path());
    for p in &e.protected {
        assert!(
            sessions.contains(&p.id),
            "{what}: protected session {}",
            p.id
        );
    }
    let kept: Vec<&String> = e.finished.intersection(&sessions).collect();
    assert!(kept.is_empty(), "{what}: finished sessions kept: {kept:?}");
    (t.snapshot_ids().await.unwrap(), on_disk)
}

/// The protected sessions commit (each in a new snapshot) and their rows appear.
async fn commit_protected(e: &ExpiryTemplate, t: &Table, model: &mut Model, what: &str) {
    let mut rows = model.values().last().unwrap().clone();
    for p in &e.protected {
        let snapshot = if p.tunnel {
            let s = t.load_tunnel_session(&p.id).await.unwrap();
            s.commit().await.unwrap()
        } else {
            let mut s = t.open_session(&p.id).await.unwrap();
            s.commit().await.unwrap()
        };
        assert_eq!(
            snapshot.id,
            *model.keys().last().unwrap() + 1,
            "{what}: {}",
            p.id
        );
        rows.extend(p.rows.iter().map(|person| Row {
            dd: String::new(),
            hh: String::new(),
            person: person.clone(),
        }));
        rows.sort();
        model.insert(snapshot.id, rows.clone());
    }
    assert_eq!(scan_rows(t.scan()).await, rows, "{what}: protected rows");
}

/// Fails each put and each delete of expire + vacuum in turn, before and after it reached the
/// store; returns the number of puts and deletes of a clean run.
async fn expiry_sweep(clock: Clock) -> (usize, usize) {
    let e = expiry_template(clock).await;
    let now = now_ms() + clock.offset_ms();
    let last = *e.tpl.model.keys().last().unwrap();

    // The clean run: the newest data snapshot and its expire snapshot stay.
    let run = Run::of(&e.tpl.env).await;
    let (p0, d0) = (run.store.put_count(), run.store.delete_count());
    expire_and_vacuum(&run.table, now).await.unwrap();
    let puts = run.store.puts()[p0..].to_vec();
    let deletes = run.store.deletes()[d0..].to_vec();
    let t = run.fresh_table().await;
    let mut model = e.tpl.model.clone();
    extend_model(&t, &mut model, "clean").await;
    let (clean_ids, clean_data) = check_end_state(&run, &e, &t, &model, "clean").await;
    assert_eq!(clean_ids, [last, last + 1], "{clock:?}");
    commit_protected(&e, &t, &mut model, "clean").await;
    for kind in ["/snapshot/", "/abort.json"] {
        assert!(
            puts.iter().any(|p| p.contains(kind)),
            "no {kind} put: {puts:?}"
        );
    }
    for kind in ["/snapshot/", "/data/", "/session/"] {
        assert!(deletes.iter().any(|p| p.contains(kind)), "no {kind} delete");
    }

    for (call, count) in [(Call::Put, puts.len()), (Call::Delete, deletes.len())] {
        for fault in [Fault::Before, Fault::After] {
            for n in 1..=count {
                let run = Run::of(&e.tpl.env).await;
                run.store.fail(call, n, "", fault);
                let err = expire_and_vacuum(&run.table, now).await.unwrap_err();
                let fired = run.store.fired();
                assert_eq!(
                    fired.len(),
                    1,
                    "{clock:?} {call:?} #{n} {fault:?}: {fired:?}"
                );
                let what = format!(
                    "{clock:?} {fault:?} fault on {call:?} #{n} ({})",
                    fired[0].2
                );
                assert_eq!(err.kind(), ErrorKind::Unavailable, "{what}: {err}");

                let t = run.fresh_table().await;
                let mut model = e.tpl.model.clone();
                extend_model(&t, &mut model, &what).await;
                check_reads(&run, &t, &model, &what).await;
                let on_disk = run.files("data");
                for p in &e.protected {
                    let missing: Vec<&String> = p.files.difference(&on_disk).collect();
                    assert!(missing.is_empty(), "{what}: {} lost {missing:?}", p.id);
                }

                // The re-run converges: the same files; the newest data snapshot may have
                // expired too if the faulted run's expire snapshot landed.
                expire_and_vacuum(&t, now).await.unwrap();
                extend_model(&t, &mut model, &what).await;
                let (ids, data) = check_end_state(&run, &e, &t, &model, &what).await;
                assert!(
                    ids == clean_ids || ids == [last + 1, last + 2],
                    "{what}: stored snapshots {ids:?}, clean {clean_ids:?}"
                );
                assert_eq!(data, clean_data, "{what}");
                commit_protected(&e, &t, &mut model, &what).await;
            }
        }
    }
    (puts.len(), deletes.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_put_and_delete_of_expiry_and_vacuum_two_days_later_loses_nothing() {
    let (puts, deletes) = expiry_sweep(Clock::TwoDaysLater).await;
    // The expire snapshot, and an abort marker for each session that outlived its lifecycle.
    assert_eq!(puts, 4, "{puts} puts");
    assert!(deletes >= 30, "{deletes} deletes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_put_and_delete_of_expiry_and_vacuum_keeps_an_open_session_files() {
    let (puts, deletes) = expiry_sweep(Clock::TwoHoursLater).await;
    // The expire snapshot, and the abort marker of the Tunnel session past its lifecycle.
    assert_eq!(puts, 2, "{puts} puts");
    assert!(deletes >= 30, "{deletes} deletes");
}
