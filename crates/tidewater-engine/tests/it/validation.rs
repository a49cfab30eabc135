//! Bad input gets a precise error (what, which column, which row) with the right kind, and the
//! session stays usable: a following valid write commits, and nothing of the bad batch shows.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use tidewater_engine::{Error, ErrorKind, Session, SessionKind, Table};
use tidewater_format::{Column, DataType, TableProperties, TableSchema};

use crate::env::{
    Person, Row, TestEnv, delta_props, ids, people, persons_batch, scan_rows, with_partitions,
};

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn good_row() -> Person {
    Person::new(100, Some("ok"), Some(1), Some(true))
}

fn row(dd: &str, hh: &str, p: Person) -> Row {
    Row {
        dd: dd.into(),
        hh: hh.into(),
        person: p,
    }
}

/// Writes one valid row, commits, and checks that it is all the table holds.
async fn commit_good_row_only(s: &mut Session, table: &Table) {
    s.upsert(&persons_batch(&[good_row()])).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(scan_rows(table.scan()).await, vec![row("", "", good_row())]);
}

fn assert_err(err: &Error, kind: ErrorKind, needles: &[&str]) {
    let msg = err.to_string();
    assert_eq!(err.kind(), kind, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "'{msg}' does not mention {n}");
    }
}

#[tokio::test]
async fn wrong_arrow_type_names_the_column_the_expected_and_the_actual_type() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let bad = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2]))),
        ("name", Arc::new(StringArray::from(vec!["a", "b"]))),
        ("age", Arc::new(StringArray::from(vec!["1", "2"]))),
        ("status", Arc::new(BooleanArray::from(vec![true, false]))),
    ]);
    let err = s.upsert(&bad).await.unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err:?}");
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["'age'", "INT", "Int32", "Utf8"],
    );
    commit_good_row_only(&mut s, &t).await;
}

#[tokio::test]
async fn missing_column_on_upsert_is_named_with_the_expected_columns() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let bad = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1]))),
        ("name", Arc::new(StringArray::from(vec!["a"]))),
        ("status", Arc::new(BooleanArray::from(vec![true]))),
    ]);
    let err = s.upsert(&bad).await.unwrap_err();
    assert!(matches!(err, Error::MissingColumn { .. }), "{err:?}");
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["'age'", "id, name, age, status"],
    );
    commit_good_row_only(&mut s, &t).await;
}

#[tokio::test]
async fn unknown_column_is_named_with_the_table() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let good = persons_batch(&[Person::new(1, Some("a"), Some(1), None)]);
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("id", good.column(0).clone()),
        ("name", good.column(1).clone()),
        ("age", good.column(2).clone()),
        ("status", good.column(3).clone()),
    ];
    columns.push(("nickname", Arc::new(StringArray::from(vec!["x"]))));
    let err = s.upsert(&batch(columns)).await.unwrap_err();
    assert!(matches!(err, Error::UnknownColumn { .. }), "{err:?}");
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["'nickname'", "default.t"],
    );
    commit_good_row_only(&mut s, &t).await;
}

#[tokio::test]
async fn columns_are_matched_by_name_in_any_order_and_case() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let b = batch(vec![
        ("STATUS", Arc::new(BooleanArray::from(vec![Some(false)]))),
        ("Age", Arc::new(Int32Array::from(vec![7]))),
        ("id", Arc::new(Int64Array::from(vec![5]))),
        ("name", Arc::new(StringArray::from(vec!["e"]))),
    ]);
    s.upsert(&b).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        scan_rows(t.scan()).await,
        vec![row("", "", Person::new(5, Some("e"), Some(7), Some(false)))]
    );
}

#[tokio::test]
async fn null_primary_key_names_the_column_and_the_row_and_rejects_the_whole_batch() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let bad = batch(vec![
        (
            "id",
            Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
        ),
        ("name", Arc::new(StringArray::from(vec!["a", "b", "c"]))),
        ("age", Arc::new(Int32Array::from(vec![1, 2, 3]))),
        (
            "status",
            Arc::new(BooleanArray::from(vec![true, true, true])),
        ),
    ]);
    let err = s.upsert(&bad).await.unwrap_err();
    assert!(
        matches!(&err, Error::NullKey { column, row: 2 } if column == "id"),
        "{err:?}"
    );
    assert_err(&err, ErrorKind::InvalidArgument, &["row 2", "'id'"]);
    // Deletes check keys too.
    let bad_delete = batch(vec![(
        "id",
        Arc::new(Int64Array::from(vec![None, Some(1)])),
    )]);
    let err = s.delete(&bad_delete).await.unwrap_err();
    assert_err(&err, ErrorKind::InvalidArgument, &["row 0", "'id'"]);
    // Rows 0 and 1 of the bad batch are not visible.
    commit_good_row_only(&mut s, &t).await;
}

async fn code_table(env: &TestEnv) -> Table {
    let schema = TableSchema::new(
        vec![
            Column::new("id", DataType::BigInt),
            Column::new("code", DataType::Varchar(5)),
            Column::new("label", DataType::String).not_null(),
        ],
        vec!["id".into()],
        vec![],
    )
    .unwrap();
    env.warehouse
        .create_table("default", "codes", schema, delta_props(2), false)
        .await
        .unwrap()
}

fn codes(rows: &[(i64, Option<&str>, Option<&str>)]) -> RecordBatch {
    batch(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        ),
        (
            "code",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
        ),
        (
            "label",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))),
        ),
    ])
}

async fn code_rows(t: &Table) -> Vec<(i64, Option<String>, String)> {
    let mut out = Vec::new();
    for b in t.scan().collect().await.unwrap() {
        let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let code = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let label = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            out.push((
                id.value(i),
                (!arrow::array::Array::is_null(code, i)).then(|| code.value(i).to_string()),
                label.value(i).to_string(),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn varchar_length_is_counted_in_characters_and_too_long_values_name_column_and_row() {
    let env = TestEnv::new().await;
    let t = code_table(&env).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let err = s
        .upsert(&codes(&[
            (1, Some("abcde"), Some("x")),
            (2, Some("abcdef"), Some("y")),
        ]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ValueTooLong { column, row: 1, chars: 6, .. } if column == "code"),
        "{err:?}"
    );
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["row 1", "'code'", "VARCHAR(5)", "6 characters"],
    );
    // Six 3-byte characters: 18 bytes, 6 characters, too long.
    let err = s
        .upsert(&codes(&[(3, Some("日本語日本語"), Some("z"))]))
        .await
        .unwrap_err();
    assert_err(&err, ErrorKind::InvalidArgument, &["row 0", "6 characters"]);
    // Five 3-byte characters: 15 bytes but 5 characters, accepted.
    s.upsert(&codes(&[
        (4, Some("日本語日本"), Some("ok")),
        (5, None, Some("no code")),
    ]))
    .await
    .unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        code_rows(&t).await,
        vec![
            (4, Some("日本語日本".to_string()), "ok".to_string()),
            (5, None, "no code".to_string()),
        ]
    );
}

#[tokio::test]
async fn null_in_a_not_null_column_names_the_column_and_the_row() {
    let env = TestEnv::new().await;
    let t = code_table(&env).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    let err = s
        .upsert(&codes(&[(1, Some("a"), Some("x")), (2, Some("b"), None)]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NullValue { column, row: 1 } if column == "label"),
        "{err:?}"
    );
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["row 1", "'label'", "NOT NULL"],
    );
    // A delete needs only the key: NOT NULL does not apply to the columns it leaves out.
    s.delete(&ids(&[1])).await.unwrap();
    s.upsert(&codes(&[(3, Some("c"), Some("z"))]))
        .await
        .unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        code_rows(&t).await,
        vec![(3, Some("c".to_string()), "z".to_string())]
    );
}

#[tokio::test]
async fn upsert_session_on_a_standard_table_is_refused_at_open() {
    let env = TestEnv::new().await;
    let t = env.standard_people("plain", false).await;
    let err = t.session(SessionKind::Upsert).open().await.unwrap_err();
    assert!(matches!(err, Error::NotDeltaTable { .. }), "{err:?}");
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["default.plain", "standard table", "upsert session"],
    );
    // An insert session works.
    let mut s = t.session(SessionKind::Insert).open().await.unwrap();
    s.insert(&people(&[(1, "a", 1, true)])).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(scan_rows(t.scan()).await.len(), 1);
}

#[tokio::test]
async fn inserts_into_an_upsert_session_and_deletes_into_an_insert_session_are_refused() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut up = t.session(SessionKind::Upsert).open().await.unwrap();
    let err = up.insert(&people(&[(1, "a", 1, true)])).await.unwrap_err();
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["Insert", "Upsert session"],
    );
    commit_good_row_only(&mut up, &t).await;

    let plain = env.standard_people("plain", false).await;
    let mut ins = plain.session(SessionKind::Insert).open().await.unwrap();
    let err = ins.delete(&ids(&[1])).await.unwrap_err();
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["Delete", "Insert session"],
    );
    let err = ins.upsert(&people(&[(1, "a", 1, true)])).await.unwrap_err();
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["Upsert", "Insert session"],
    );
    ins.insert(&persons_batch(&[good_row()])).await.unwrap();
    ins.commit().await.unwrap();
    assert_eq!(scan_rows(plain.scan()).await, vec![row("", "", good_row())]);
}

#[tokio::test]
async fn bad_static_partition_specs_are_refused_at_open_naming_the_column() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, true).await;
    for (spec, needles) in [
        ("dd=01", vec!["'hh'", "no value"]),
        ("dd=01/hh=02/mm=03", vec!["'mm'", "not a partition column"]),
        ("dd=/hh=02", vec!["'dd'", "empty"]),
        ("dd=01/dd=02/hh=1", vec!["'dd'", "more than once"]),
    ] {
        let err = t
            .session(SessionKind::Upsert)
            .partition(spec)
            .open()
            .await
            .unwrap_err();
        assert_err(&err, ErrorKind::InvalidArgument, &needles);
    }
    // No partition and no dynamic partitions: the error says how to give one.
    let err = t.session(SessionKind::Upsert).open().await.unwrap_err();
    assert_err(&err, ErrorKind::InvalidArgument, &["dd=.../hh=..."]);
    // An unpartitioned table refuses a partition.
    let flat = env.people("flat", 2, false).await;
    let err = flat
        .session(SessionKind::Upsert)
        .partition("dd=01")
        .open()
        .await
        .unwrap_err();
    assert_err(&err, ErrorKind::InvalidArgument, &["not partitioned"]);
}

#[tokio::test]
async fn dynamic_partition_with_a_null_value_names_the_column_and_the_row() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, true).await;
    let mut s = t
        .session(SessionKind::Upsert)
        .dynamic_partitions()
        .open()
        .await
        .unwrap();
    let rows = people(&[(1, "a", 1, true), (2, "b", 2, true)]);
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("id", rows.column(0).clone()),
        ("name", rows.column(1).clone()),
        ("age", rows.column(2).clone()),
        ("status", rows.column(3).clone()),
    ];
    columns.push((
        "dd",
        Arc::new(StringArray::from(vec![Some("01"), Some("01")])),
    ));
    columns.push(("hh", Arc::new(StringArray::from(vec![Some("01"), None]))));
    let err = s.upsert(&batch(columns)).await.unwrap_err();
    assert!(
        matches!(&err, Error::BadPartitionValue { column, row: 1, .. } if column == "hh"),
        "{err:?}"
    );
    assert_err(&err, ErrorKind::InvalidArgument, &["row 1", "'hh'", "NULL"]);
    // Missing partition columns, and an empty value, are refused too.
    let err = s.upsert(&rows).await.unwrap_err();
    assert_err(&err, ErrorKind::InvalidArgument, &["'dd'"]);
    let err = s
        .upsert(&with_partitions(&rows, &[("01", "01"), ("", "02")]))
        .await
        .unwrap_err();
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["row 1", "'dd'", "empty"],
    );

    s.upsert(&with_partitions(&rows, &[("01", "01"), ("02", "03")]))
        .await
        .unwrap();
    s.delete(&with_partitions(&ids(&[1]), &[("01", "01")]))
        .await
        .unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        scan_rows(t.scan()).await,
        vec![row(
            "02",
            "03",
            Person::new(2, Some("b"), Some(2), Some(true))
        )]
    );
}

#[tokio::test]
async fn partition_columns_sent_to_a_static_partition_session_are_refused() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, true).await;
    let mut s = t
        .session(SessionKind::Upsert)
        .partition("dd='01',hh='02'")
        .open()
        .await
        .unwrap();
    let rows = people(&[(1, "a", 1, true)]);
    let err = s
        .upsert(&with_partitions(&rows, &[("01", "02")]))
        .await
        .unwrap_err();
    assert_err(
        &err,
        ErrorKind::InvalidArgument,
        &["'dd'", "partition column", "static partition"],
    );
    s.upsert(&rows).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        scan_rows(t.scan()).await,
        vec![row(
            "01",
            "02",
            Person::new(1, Some("a"), Some(1), Some(true))
        )]
    );
}

#[tokio::test]
async fn deletes_with_only_key_columns_remove_rows_of_their_partition_only() {
    let env = TestEnv::new().await;
    let t = env.people("t", 3, true).await;
    for part in ["dd=a/hh=1", "dd=b/hh=1"] {
        let mut s = t
            .session(SessionKind::Upsert)
            .partition(part)
            .open()
            .await
            .unwrap();
        s.upsert(&people(&[(1, "x", 1, true), (2, "y", 2, false)]))
            .await
            .unwrap();
        s.commit().await.unwrap();
    }
    let mut s = t
        .session(SessionKind::Upsert)
        .partition("dd=a/hh=1")
        .open()
        .await
        .unwrap();
    s.delete(&ids(&[1, 3])).await.unwrap();
    s.commit().await.unwrap();
    let x = Person::new(1, Some("x"), Some(1), Some(true));
    let y = Person::new(2, Some("y"), Some(2), Some(false));
    assert_eq!(
        scan_rows(t.scan()).await,
        vec![row("a", "1", y.clone()), row("b", "1", x), row("b", "1", y)]
    );
}

#[tokio::test]
async fn insert_session_on_a_standard_table_appends_duplicates() {
    let env = TestEnv::new().await;
    let t = env.standard_people("plain", false).await;
    for _ in 0..2 {
        let mut s = t.session(SessionKind::Insert).open().await.unwrap();
        s.insert(&people(&[(1, "a", 1, true)])).await.unwrap();
        s.commit().await.unwrap();
    }
    let a = row("", "", Person::new(1, Some("a"), Some(1), Some(true)));
    assert_eq!(scan_rows(t.scan()).await, vec![a.clone(), a.clone()]);
    // Also within one session.
    let mut s = t.session(SessionKind::Insert).open().await.unwrap();
    s.insert(&people(&[(1, "a", 1, true), (1, "a", 1, true)]))
        .await
        .unwrap();
    s.commit().await.unwrap();
    assert_eq!(scan_rows(t.scan()).await, vec![a; 4]);
}

#[tokio::test]
async fn invalid_project_and_table_names_are_refused() {
    let env = TestEnv::new().await;
    let w = &env.warehouse;
    let schema = TableSchema::new(crate::env::people_columns(), vec![], vec![]).unwrap();
    for name in ["../x", "a/b", "..", "", "a b", "a\\b", "1abc"] {
        let err = w
            .create_table(
                "default",
                name,
                schema.clone(),
                TableProperties::default(),
                false,
            )
            .await
            .unwrap_err();
        assert_err(&err, ErrorKind::InvalidArgument, &["invalid table name"]);
        let err = w.table("default", name).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        let err = w.create_project(name, false).await.unwrap_err();
        assert_err(&err, ErrorKind::InvalidArgument, &["invalid project name"]);
        let err = w
            .create_table(name, "t", schema.clone(), TableProperties::default(), false)
            .await
            .unwrap_err();
        assert_err(&err, ErrorKind::InvalidArgument, &["invalid project name"]);
    }
    // Nothing escaped the warehouse directory.
    let parent = env.dir.path().parent().unwrap();
    assert!(!parent.join("x").exists());
    assert_eq!(
        w.list_tables("default").await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn unknown_and_out_of_range_table_properties_name_the_property() {
    let props = |pairs: &[(&str, &str)]| {
        TableProperties::from_map(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    for (pairs, needles) in [
        (
            vec![("colour", "red")],
            vec!["'colour'", "unknown property"],
        ),
        (
            vec![("transactional", "true"), ("write.bucket.num", "0")],
            vec!["'write.bucket.num'", "out of range"],
        ),
        (
            vec![("transactional", "true"), ("write.bucket.num", "4097")],
            vec!["'write.bucket.num'", "out of range"],
        ),
        (
            vec![("transactional", "true"), ("write.bucket.num", "-1")],
            vec!["'write.bucket.num'"],
        ),
    ] {
        let err = props(&pairs).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let msg = err.to_string();
        for n in needles {
            assert!(msg.contains(n), "'{msg}' does not mention {n}");
        }
        // The engine error keeps the kind.
        let err = Error::from(err);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
    assert_eq!(
        props(&[("transactional", "true"), ("write.bucket.num", "4096")])
            .unwrap()
            .bucket_num,
        4096
    );
}

#[tokio::test]
async fn creating_a_table_twice_fails_unless_if_not_exists() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let schema = TableSchema::new(crate::env::people_columns(), vec!["id".into()], vec![]).unwrap();
    let err = env
        .warehouse
        .create_table("default", "t", schema.clone(), delta_props(2), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TableExists { .. }), "{err:?}");
    assert_err(&err, ErrorKind::AlreadyExists, &["default.t"]);
    let again = env
        .warehouse
        .create_table("default", "t", schema, delta_props(2), true)
        .await
        .unwrap();
    assert_eq!(again.metadata().table_id, t.metadata().table_id);
}

#[tokio::test]
async fn dropped_table_is_not_found_and_a_recreated_one_starts_empty() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(&[(1, "a", 1, true)])).await.unwrap();
    s.commit().await.unwrap();
    env.warehouse
        .drop_table("default", "t", false)
        .await
        .unwrap();

    let err = env.warehouse.table("default", "t").await.unwrap_err();
    assert!(matches!(err, Error::TableNotFound { .. }), "{err:?}");
    assert_err(&err, ErrorKind::NotFound, &["default.t"]);
    let err = env.reopen().await.table("default", "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = env
        .warehouse
        .drop_table("default", "t", false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    env.warehouse
        .drop_table("default", "t", true)
        .await
        .unwrap();
    let err = env.warehouse.table("nope", "t").await.unwrap_err();
    assert!(matches!(err, Error::ProjectNotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // A scan through a handle from before the drop must not return the dropped rows as if
    // nothing happened; an error must say NotFound.
    match t.scan().collect().await {
        Ok(batches) => assert_eq!(crate::env::num_rows(&batches), 0),
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
    }

    let t2 = env.people("t", 2, false).await;
    assert_ne!(t2.metadata().table_id, t.metadata().table_id);
    assert!(t2.latest_snapshot().await.unwrap().is_none());
    assert!(scan_rows(t2.scan()).await.is_empty());
}

#[tokio::test]
async fn session_and_snapshot_errors_have_the_right_kinds() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let err = t.snapshot(1).await.unwrap_err();
    assert!(matches!(err, Error::SnapshotNotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = t.scan().snapshot_id(7).collect().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = t
        .open_session("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SessionNotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = t.open_session("../../etc").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(&[(1, "a", 1, true)])).await.unwrap();
    s.flush().await.unwrap(); // durable, so it can be reopened below
    s.abort().await.unwrap();
    s.abort().await.unwrap(); // aborting twice is fine
    let err = s.commit().await.unwrap_err();
    assert!(matches!(err, Error::SessionAborted { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = s.upsert(&people(&[(1, "a", 1, true)])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // Reopened elsewhere, it is still aborted.
    let id = s.id().to_string();
    let other = env.reopen().await.table("default", "t").await.unwrap();
    let mut again = other.open_session(&id).await.unwrap();
    assert_eq!(
        again.commit().await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert!(t.snapshot_ids().await.unwrap().is_empty());
    // A session that never flushed left nothing durable: another process cannot find it.
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(&[(1, "a", 1, true)])).await.unwrap();
    let err = t.open_session(s.id()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    s.abort().await.unwrap();

    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(&[(1, "a", 1, true)])).await.unwrap();
    s.commit().await.unwrap();
    let err = s.abort().await.unwrap_err();
    assert!(
        matches!(err, Error::SessionCommitted { snapshot: 1, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = s.flush().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // Unknown scan columns and non-partition filters.
    let err = t.scan().project(&["nope"]).collect().await.unwrap_err();
    assert!(matches!(err, Error::UnknownColumn { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = t
        .scan()
        .partition_eq("name", "a")
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(scan_rows(t.scan()).await.len(), 1);
}
