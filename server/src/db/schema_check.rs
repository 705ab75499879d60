//! `schemas_match`: the SQLite and PostgreSQL migrations define the same files, tables,
//! columns and indexes (their types differ by design: BLOB/BYTEA, INTEGER/IDENTITY keys).

use std::collections::BTreeMap;
use std::path::Path;

/// Table → column names, plus index names, from every migration of one directory, in order.
fn schema(dir: &Path) -> (Vec<String>, BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    files.sort();
    let (mut tables, mut indexes) = (BTreeMap::<String, Vec<String>>::new(), Vec::new());
    for file in &files {
        let sql = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut current: Option<String> = None;
        for line in sql.lines().map(|l| l.split("--").next().unwrap_or("").trim()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match (&current, words.as_slice()) {
                (None, ["CREATE", "TABLE", name, ..]) => current = Some(name.trim_end_matches('(').to_string()),
                (None, ["CREATE", "INDEX", name, ..] | ["CREATE", "UNIQUE", "INDEX", name, ..]) => {
                    indexes.push(name.to_string())
                }
                (None, ["ALTER", "TABLE", table, "ADD", "COLUMN", column, ..]) => {
                    tables.entry(table.to_string()).or_default().push(column.to_string())
                }
                (Some(_), [")" | ");", ..]) => current = None,
                (Some(t), [first, ..]) if !["PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT"].contains(first) => {
                    tables.entry(t.clone()).or_default().push(first.to_string())
                }
                _ => {}
            }
        }
    }
    for columns in tables.values_mut() {
        columns.sort();
    }
    indexes.sort();
    (files, tables, indexes)
}

#[test]
fn schemas_match() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let (sqlite, postgres) = (schema(&root.join("sqlite")), schema(&root.join("postgres")));
    assert!(
        sqlite.1.contains_key("repo_secrets"),
        "the parser reads tables: {:?}",
        sqlite.1
    );
    assert!(sqlite.1["builds"].contains(&"commit_sha".to_string()));
    assert_eq!(sqlite.0, postgres.0, "the same migration files");
    assert_eq!(sqlite.1, postgres.1, "the same tables and columns");
    assert_eq!(sqlite.2, postgres.2, "the same indexes");
}
