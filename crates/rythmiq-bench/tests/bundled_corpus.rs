//! The bundled corpus (`corpus/` at the repository root) against its manifest: every document listed with
//! provenance and a licence, the split being the rule stated in corpus/README.md, and the kinds the issue asks for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rythmiq_bench::corpus::{parse_manifest, MANIFEST};
use rythmiq_bench::{load_corpus, load_corpus_split, Split, SplitFilter, KINDS};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// The manifest as header-keyed rows.
fn rows() -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(corpus().join(MANIFEST)).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split('\t').map(String::from).collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| header.iter().cloned().zip(l.split('\t').map(String::from)).collect())
        .collect()
}

#[test]
fn the_manifest_parses_and_lists_every_image_with_provenance_and_a_licence() {
    let entries = parse_manifest(&std::fs::read_to_string(corpus().join(MANIFEST)).unwrap(), &corpus()).unwrap();
    let listed: BTreeSet<String> = entries.iter().map(|e| e.file.clone()).collect();
    let docs = load_corpus(&corpus()).unwrap();
    for d in &docs {
        assert!(listed.contains(&d.name), "{} is in corpus/ but not in {MANIFEST}", d.name);
        assert!(d.ground_truth.as_deref().is_some_and(|g| !g.trim().is_empty()), "{} has empty ground truth", d.name);
    }
    assert_eq!(docs.len(), entries.len());
    for row in rows() {
        for column in ["source_repo", "source_path", "commit", "licence", "kind", "split"] {
            assert!(!row[column].trim().is_empty(), "{} has no {column}", row["file"]);
        }
        assert_eq!(row["commit"].len(), 40, "{}: commit is a full hash", row["file"]);
    }
}

#[test]
fn the_split_is_the_stated_rule() {
    // Within each kind, order the file names by their SHA-256 hex digest; the first ceil(n/2) are holdout.
    let entries = parse_manifest(&std::fs::read_to_string(corpus().join(MANIFEST)).unwrap(), &corpus()).unwrap();
    let mut by_kind: BTreeMap<String, Vec<(String, Split)>> = BTreeMap::new();
    for e in entries {
        let key = rythmiq_types::sha256_hex(e.file.as_bytes());
        by_kind.entry(e.kind.unwrap()).or_default().push((key, e.split.unwrap()));
    }
    for (kind, mut members) in by_kind {
        members.sort();
        let cut = members.len().div_ceil(2);
        for (i, (_, split)) in members.iter().enumerate() {
            let expected = if i < cut { Split::Holdout } else { Split::Tune };
            assert_eq!(*split, expected, "{kind}: member {i} of {} by hash", members.len());
        }
    }
}

#[test]
fn the_corpus_has_the_size_and_kinds_the_issue_asks_for() {
    let rows = rows();
    assert!(rows.len() >= 100, "{} documents", rows.len());
    let mut kinds: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in &rows {
        kinds.entry(row["kind"].as_str()).or_default().insert(row["split"].as_str());
    }
    assert!(kinds.len() >= 5, "kinds: {:?}", kinds.keys());
    for (kind, splits) in &kinds {
        assert!(KINDS.contains(kind));
        let n = rows.iter().filter(|r| r["kind"] == *kind).count();
        if n >= 2 {
            assert_eq!(splits.len(), 2, "{kind} ({n} documents) has documents in both splits");
        }
    }
    // Real documents first: derived ones (made by scripts/corpus/build.py) stay a minority.
    let derived = rows.iter().filter(|r| r["derived_from"].starts_with("DERIVED")).count();
    assert!(derived * 2 < rows.len(), "{derived} of {} derived", rows.len());
    for row in rows.iter().filter(|r| r["kind"] == "photo" || r["kind"] == "degraded_scan") {
        assert!(row["derived_from"].starts_with("DERIVED"), "{} says what it was derived from", row["file"]);
    }
}

#[test]
fn the_main_jobs_first_fifty_documents_cover_every_kind_and_the_splits_partition_the_corpus() {
    let all = load_corpus(&corpus()).unwrap();
    let first: BTreeSet<&str> = all.iter().take(50).filter_map(|d| d.kind.as_deref()).collect();
    let every: BTreeSet<&str> = all.iter().filter_map(|d| d.kind.as_deref()).collect();
    assert_eq!(first, every);
    let tune = load_corpus_split(&corpus(), SplitFilter::Tune).unwrap();
    let holdout = load_corpus_split(&corpus(), SplitFilter::Holdout).unwrap();
    assert_eq!(tune.len() + holdout.len(), all.len());
    assert!(tune.iter().all(|d| d.split == Some(Split::Tune)));
    assert!(holdout.iter().all(|d| d.split == Some(Split::Holdout)));
    let diff = tune.len().abs_diff(holdout.len());
    assert!(diff <= KINDS.len(), "roughly 50/50: {} tune, {} holdout", tune.len(), holdout.len());
}
