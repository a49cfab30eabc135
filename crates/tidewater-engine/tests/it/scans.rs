//! Scans: projection, partition pruning, key lookups, time travel, and a large multi-batch
//! merge of overlapping commits compared with a model.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use futures::StreamExt;
use tidewater_engine::{ErrorKind, SessionKind, Table};
use tidewater_format::{KeyValue, PartitionSpec};

use crate::env::{Person, Row, TestEnv, ids, num_rows, persons_batch, scan_rows, with_partitions};

fn person(id: i64, v: i32) -> Person {
    let name = format!("n{id}-{v}");
    Person::new(
        id,
        (id % 7 != 0).then_some(name.as_str()),
        Some(v),
        Some(id % 2 == 0),
    )
}

fn row(dd: &str, hh: &str, p: Person) -> Row {
    Row {
        dd: dd.into(),
        hh: hh.into(),
        person: p,
    }
}

fn field_names(b: &RecordBatch) -> Vec<String> {
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// A partitioned Delta table with two commits into `dd=a/hh=1` and `dd=b/hh=2`, the second
/// overlapping and deleting; returns the table and its expected rows.
async fn two_partitions(env: &TestEnv) -> (Table, Vec<Row>) {
    let t = env.people("t", 3, true).await;
    let mut s = t
        .session(SessionKind::Upsert)
        .dynamic_partitions()
        .open()
        .await
        .unwrap();
    let first: Vec<Person> = (0..20).map(|i| person(i, 1)).collect();
    let parts: Vec<(&str, &str)> = (0..20)
        .map(|i| if i % 2 == 0 { ("a", "1") } else { ("b", "2") })
        .collect();
    s.upsert(&with_partitions(&persons_batch(&first), &parts))
        .await
        .unwrap();
    s.commit().await.unwrap();
    let mut s = t
        .session(SessionKind::Upsert)
        .partition("dd=a/hh=1")
        .open()
        .await
        .unwrap();
    s.upsert(&persons_batch(&[
        person(0, 2),
        person(2, 2),
        person(100, 2),
    ]))
    .await
    .unwrap();
    s.delete(&ids(&[4, 6, 1])).await.unwrap(); // 1 lives in dd=b: untouched
    s.commit().await.unwrap();
    let mut expected = Vec::new();
    for i in 0..20 {
        let (dd, hh) = parts[i as usize];
        if [4, 6].contains(&i) {
            continue;
        }
        let p = if [0, 2].contains(&i) {
            person(i, 2)
        } else {
            person(i, 1)
        };
        expected.push(row(dd, hh, p));
    }
    expected.push(row("a", "1", person(100, 2)));
    expected.sort();
    (t, expected)
}

#[tokio::test]
async fn projection_returns_a_subset_of_columns_in_the_requested_order() {
    let env = TestEnv::new().await;
    let (t, expected) = two_partitions(&env).await;
    let batches = t.scan().project(&["age", "id"]).collect().await.unwrap();
    assert!(!batches.is_empty());
    for b in &batches {
        assert_eq!(field_names(b), ["age", "id"]);
    }
    let mut got: Vec<(i64, Option<i32>)> = Vec::new();
    for b in &batches {
        let age = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int32Array>()
            .unwrap();
        let id = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            got.push((id.value(i), (!age.is_null(i)).then(|| age.value(i))));
        }
    }
    got.sort();
    let mut want: Vec<(i64, Option<i32>)> = expected
        .iter()
        .map(|r| (r.person.id, r.person.age))
        .collect();
    want.sort();
    assert_eq!(got, want);

    // Reordered, mixing partition and data columns; the full row set is unchanged.
    let batches = t
        .scan()
        .project(&["hh", "status", "name", "dd", "id", "age"])
        .collect()
        .await
        .unwrap();
    for b in &batches {
        assert_eq!(field_names(b), ["hh", "status", "name", "dd", "id", "age"]);
    }
    assert_eq!(crate::env::scanned(&batches), expected);
    // Without projection: data columns then partition columns.
    let batches = t.scan().collect().await.unwrap();
    assert_eq!(
        field_names(&batches[0]),
        ["id", "name", "age", "status", "dd", "hh"]
    );
}

#[tokio::test]
async fn projection_of_partition_columns_only_gives_one_value_per_live_row() {
    let env = TestEnv::new().await;
    let (t, expected) = two_partitions(&env).await;
    let batches = t.scan().project(&["dd"]).collect().await.unwrap();
    let mut got: Vec<String> = Vec::new();
    for b in &batches {
        assert_eq!(field_names(b), ["dd"]);
        let dd = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        got.extend((0..b.num_rows()).map(|i| dd.value(i).to_string()));
    }
    got.sort();
    let want: Vec<String> = expected.iter().map(|r| r.dd.clone()).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn empty_projection_counts_live_rows() {
    let env = TestEnv::new().await;
    let (t, expected) = two_partitions(&env).await;
    let batches = t.scan().project::<&str>(&[]).collect().await.unwrap();
    for b in &batches {
        assert_eq!(b.num_columns(), 0);
    }
    assert_eq!(num_rows(&batches), expected.len());
    // Snapshot 1 had 20 rows.
    let batches = t
        .scan()
        .snapshot_id(1)
        .project::<&str>(&[])
        .collect()
        .await
        .unwrap();
    assert_eq!(num_rows(&batches), 20);

    // The same on a standard table (no key to read at all).
    let plain = env.standard_people("plain", true).await;
    for part in ["dd=a/hh=1", "dd=b/hh=1"] {
        let mut s = plain
            .session(SessionKind::Insert)
            .partition(part)
            .open()
            .await
            .unwrap();
        let rows: Vec<Person> = (0..7).map(|i| person(i, 0)).collect();
        s.insert(&persons_batch(&rows)).await.unwrap();
        s.commit().await.unwrap();
    }
    let batches = plain.scan().project::<&str>(&[]).collect().await.unwrap();
    assert_eq!(num_rows(&batches), 14);
    let batches = plain
        .scan()
        .project(&["hh"])
        .partition_eq("dd", "b")
        .collect()
        .await
        .unwrap();
    assert_eq!(num_rows(&batches), 7);
}

#[tokio::test]
async fn partition_eq_prunes_to_the_matching_partitions() {
    let env = TestEnv::new().await;
    let (t, expected) = two_partitions(&env).await;
    let only_a: Vec<Row> = expected.iter().filter(|r| r.dd == "a").cloned().collect();
    let plan = t.scan().partition_eq("dd", "a").plan().await.unwrap();
    assert!(!plan.splits.is_empty());
    for split in &plan.splits {
        assert_eq!(split.partition.0[0], ("dd".to_string(), "a".to_string()));
        for f in &split.files {
            assert_eq!(f.partition, split.partition);
            assert_eq!(f.bucket, split.bucket);
        }
    }
    assert_eq!(scan_rows(t.scan().partition_eq("dd", "a")).await, only_a);
    // Both columns; case-insensitive column names.
    assert_eq!(
        scan_rows(t.scan().partition_eq("DD", "b").partition_eq("hh", "2")).await,
        expected
            .iter()
            .filter(|r| r.dd == "b")
            .cloned()
            .collect::<Vec<_>>()
    );
    // No partition matches: no splits, no rows.
    let plan = t
        .scan()
        .partition_eq("dd", "a")
        .partition_eq("hh", "2")
        .plan()
        .await
        .unwrap();
    assert!(plan.splits.is_empty());
    assert!(
        scan_rows(t.scan().partition_eq("dd", "zz"))
            .await
            .is_empty()
    );
    // A filter function.
    let f: tidewater_engine::scan::PartitionFilter =
        Arc::new(|p: &PartitionSpec| p.values().any(|v| v == "2"));
    let got = scan_rows(t.scan().partition_filter(f)).await;
    assert_eq!(
        got,
        expected
            .iter()
            .filter(|r| r.hh == "2")
            .cloned()
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn key_eq_returns_exactly_the_row_or_nothing_for_deleted_and_absent_keys() {
    let env = TestEnv::new().await;
    let t = env.people("t", 4, false).await;
    let mut model: BTreeMap<i64, Person> = BTreeMap::new();
    // Three overlapping commits, one with two flushes (several files per bucket).
    for round in 0..3 {
        let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
        let ups: Vec<Person> = (0..60)
            .filter(|i| i % (round + 2) == 0)
            .map(|i| person(i, round as i32))
            .collect();
        s.upsert(&persons_batch(&ups)).await.unwrap();
        for p in &ups {
            model.insert(p.id, p.clone());
        }
        if round == 1 {
            s.flush().await.unwrap();
        }
        let dels: Vec<i64> = (0..60).filter(|i| i % 5 == round).collect();
        s.delete(&ids(&dels)).await.unwrap();
        for d in &dels {
            model.remove(d);
        }
        s.commit().await.unwrap();
    }
    for id in -2..65 {
        let key = vec![KeyValue::Int(id)];
        let plan = t.scan().key_eq(key.clone()).plan().await.unwrap();
        assert!(
            plan.splits.len() <= 1,
            "key {id}: {} splits",
            plan.splits.len()
        );
        let got = scan_rows(t.scan().key_eq(key.clone())).await;
        let want: Vec<Row> = model
            .get(&id)
            .map(|p| row("", "", p.clone()))
            .into_iter()
            .collect();
        assert_eq!(got, want, "key {id}");
        // With a projection that leaves the key out.
        let batches = t
            .scan()
            .key_eq(key)
            .project(&["age"])
            .collect()
            .await
            .unwrap();
        assert_eq!(num_rows(&batches), want.len(), "key {id}");
    }
    // An earlier snapshot still has what was deleted later.
    assert!(!model.contains_key(&6));
    let got = scan_rows(t.scan().snapshot_id(1).key_eq(vec![KeyValue::Int(6)])).await;
    assert_eq!(got, vec![row("", "", person(6, 0))]);
    // The wrong number of key values is refused.
    let err = t
        .scan()
        .key_eq(vec![KeyValue::Int(1), KeyValue::Int(2)])
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[tokio::test]
async fn key_eq_on_a_partitioned_table_finds_the_key_in_every_partition() {
    let env = TestEnv::new().await;
    let (t, expected) = two_partitions(&env).await;
    for id in [0i64, 1, 2, 4, 100, 101] {
        let want: Vec<Row> = expected
            .iter()
            .filter(|r| r.person.id == id)
            .cloned()
            .collect();
        assert_eq!(
            scan_rows(t.scan().key_eq(vec![KeyValue::Int(id)])).await,
            want,
            "key {id}"
        );
        let want_a: Vec<Row> = want.iter().filter(|r| r.dd == "a").cloned().collect();
        assert_eq!(
            scan_rows(
                t.scan()
                    .key_eq(vec![KeyValue::Int(id)])
                    .partition_eq("dd", "a")
            )
            .await,
            want_a,
            "key {id}"
        );
    }
}

#[tokio::test]
async fn as_of_ms_reads_the_newest_snapshot_committed_at_or_before_the_time() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut snaps = Vec::new();
    let mut states: Vec<Vec<Row>> = Vec::new();
    let mut model: BTreeMap<i64, Person> = BTreeMap::new();
    for v in 0..3 {
        let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
        let ups: Vec<Person> = (v..v + 5).map(|i| person(i as i64, v)).collect();
        s.upsert(&persons_batch(&ups)).await.unwrap();
        s.delete(&ids(&[v as i64 - 1])).await.unwrap();
        for p in ups {
            model.insert(p.id, p);
        }
        model.remove(&(v as i64 - 1));
        snaps.push(s.commit().await.unwrap());
        states.push(model.values().map(|p| row("", "", p.clone())).collect());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for w in snaps.windows(2) {
        assert!(w[0].commit_time_ms < w[1].commit_time_ms);
    }
    for (i, s) in snaps.iter().enumerate() {
        assert_eq!(
            scan_rows(t.scan().as_of_ms(s.commit_time_ms)).await,
            states[i]
        );
        if i + 1 < snaps.len() {
            assert_eq!(
                scan_rows(t.scan().as_of_ms(snaps[i + 1].commit_time_ms - 1)).await,
                states[i]
            );
        }
    }
    assert_eq!(
        scan_rows(t.scan().as_of_ms(tidewater_engine::now_ms() + 3_600_000)).await,
        states[2]
    );
    let err = t
        .scan()
        .as_of_ms(snaps[0].commit_time_ms - 1)
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("snapshot 1"), "{err}");
}

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_overlapping_commits_merge_into_the_model_across_small_batches() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut rng = Rng(42);
    let mut model: BTreeMap<i64, Person> = BTreeMap::new();
    let mut history: Vec<BTreeMap<i64, Person>> = Vec::new();
    for c in 0..20 {
        let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
        // Send 2,000 operations in chunks of runs of upserts or deletes; flush mid-way in some
        // commits so a commit has several files per bucket.
        let mut sent = 0;
        while sent < 2000 {
            let n = 1 + rng.below(200) as usize;
            let n = n.min(2000 - sent);
            let keys: Vec<i64> = (0..n).map(|_| rng.below(5000) as i64).collect();
            if rng.below(10) < 3 {
                s.delete(&ids(&keys)).await.unwrap();
                for k in &keys {
                    model.remove(k);
                }
            } else {
                let rows: Vec<Person> = keys
                    .iter()
                    .enumerate()
                    .map(|(j, k)| person(*k, (c * 10_000 + sent + j) as i32))
                    .collect();
                s.upsert(&persons_batch(&rows)).await.unwrap();
                for p in rows {
                    model.insert(p.id, p);
                }
            }
            sent += n;
            if c % 3 == 0 && rng.below(8) == 0 {
                s.flush().await.unwrap();
            }
        }
        assert_eq!(s.commit().await.unwrap().id, c as u64 + 1);
        history.push(model.clone());
    }
    let expect = |m: &BTreeMap<i64, Person>| -> Vec<Row> {
        m.values().map(|p| row("", "", p.clone())).collect()
    };

    let batches = t.scan().batch_size(100).collect().await.unwrap();
    assert!(
        batches
            .iter()
            .all(|b| b.num_rows() <= 100 && b.num_rows() > 0)
    );
    assert!(batches.len() >= model.len() / 100);
    assert_eq!(crate::env::scanned(&batches), expect(&model));

    // Each split's output is sorted by key without duplicates.
    let plan = t
        .scan()
        .batch_size(100)
        .project(&["id"])
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.splits.len(), 2);
    let mut total = 0;
    for i in 0..plan.splits.len() {
        assert!(plan.splits[i].files.len() >= 20);
        let mut stream = plan.execute_split(i);
        let mut last = i64::MIN;
        while let Some(b) = stream.next().await {
            let b = b.unwrap();
            let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for j in 0..b.num_rows() {
                assert!(
                    id.value(j) > last,
                    "split {i}: {} after {last}",
                    id.value(j)
                );
                last = id.value(j);
            }
            total += b.num_rows();
        }
    }
    assert_eq!(total, model.len());

    // Earlier snapshots, with small batches too.
    for sid in [1usize, 7, 13] {
        let got = scan_rows(t.scan().snapshot_id(sid as u64).batch_size(100)).await;
        assert_eq!(got, expect(&history[sid - 1]), "snapshot {sid}");
    }
    let count = num_rows(
        &t.scan()
            .project::<&str>(&[])
            .batch_size(100)
            .collect()
            .await
            .unwrap(),
    );
    assert_eq!(count, model.len());
    // Point lookups of a sample of keys.
    for _ in 0..40 {
        let k = rng.below(5000) as i64;
        let got = scan_rows(t.scan().key_eq(vec![KeyValue::Int(k)]).batch_size(100)).await;
        let want: Vec<Row> = model
            .get(&k)
            .map(|p| row("", "", p.clone()))
            .into_iter()
            .collect();
        assert_eq!(got, want, "key {k}");
    }
}
