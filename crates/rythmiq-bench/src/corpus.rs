//! A benchmark corpus: a directory of documents (images, multi-page TIFFs,
//! PDFs), each with an optional `<stem>.gt.txt` ground truth beside it (pages separated by a form feed
//! for multi-page documents), and optionally a `MANIFEST.tsv` that gives every document its kind and split.
//!
//! Invariants: a manifest row names an image that exists, has its ground-truth file (unless `has_gt` says `no`),
//! a kind from [`KINDS`] and a split of `tune` or `holdout`; a bad manifest is a typed error, never a silent skip.
//! With a manifest, documents are ordered so that any prefix of the corpus holds the kinds in the corpus's own
//! proportions (the bench cycles the corpus and a short run takes a prefix).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File endings taken as documents.
const IMAGE_ENDINGS: [&str; 10] = ["jpg", "jpeg", "png", "tif", "tiff", "bmp", "pnm", "webp", "gif", "pdf"];

/// The manifest's file name inside a corpus directory.
pub const MANIFEST: &str = "MANIFEST.tsv";

/// The fixed vocabulary of document kinds, in the order the bench reports them.
pub const KINDS: [&str; 6] = ["receipt", "form", "printed_page", "typewritten", "photo", "degraded_scan"];

/// Which half of the corpus a document belongs to: tuning decisions look only at `Tune`; the product reports on
/// `Holdout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Tune,
    Holdout,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Tune => "tune",
            Split::Holdout => "holdout",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "tune" => Some(Split::Tune),
            "holdout" => Some(Split::Holdout),
            _ => None,
        }
    }
}

/// The documents a bench run takes: all of them, or one split (which needs a manifest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitFilter {
    #[default]
    All,
    Tune,
    Holdout,
}

impl SplitFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitFilter::All => "all",
            SplitFilter::Tune => "tune",
            SplitFilter::Holdout => "holdout",
        }
    }

    fn admits(self, split: Option<Split>) -> bool {
        match self {
            SplitFilter::All => true,
            SplitFilter::Tune => split == Some(Split::Tune),
            SplitFilter::Holdout => split == Some(Split::Holdout),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CorpusDoc {
    /// File name, also the key in the corpus store.
    pub name: String,
    pub path: PathBuf,
    pub ground_truth: Option<String>,
    /// From the manifest; `None` without one (or for an image the manifest does not list).
    pub kind: Option<String>,
    pub split: Option<Split>,
}

/// One row of `MANIFEST.tsv`, the columns the bench uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    pub file: String,
    pub kind: Option<String>,
    pub split: Option<Split>,
    pub licence: Option<String>,
}

/// A manifest that cannot be trusted; `line` counts from 1 with the header as line 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    Empty,
    MissingColumn(&'static str),
    ShortRow { line: usize, columns: usize, expected: usize },
    DuplicateFile { line: usize, file: String },
    MissingImage { line: usize, file: String },
    MissingGroundTruth { line: usize, file: String, expected: String },
    UnknownKind { line: usize, file: String, kind: String },
    UnknownSplit { line: usize, file: String, split: String },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Empty => write!(f, "{MANIFEST} is empty (it needs a header row)"),
            ManifestError::MissingColumn(c) => write!(f, "{MANIFEST} has no `{c}` column"),
            ManifestError::ShortRow { line, columns, expected } => {
                write!(f, "{MANIFEST} line {line}: {columns} columns, the header has {expected}")
            }
            ManifestError::DuplicateFile { line, file } => write!(f, "{MANIFEST} line {line}: {file} is listed twice"),
            ManifestError::MissingImage { line, file } => {
                write!(f, "{MANIFEST} line {line}: {file} is not in the corpus directory")
            }
            ManifestError::MissingGroundTruth { line, file, expected } => {
                write!(f, "{MANIFEST} line {line}: {file} has no ground truth {expected}")
            }
            ManifestError::UnknownKind { line, file, kind } => {
                write!(f, "{MANIFEST} line {line}: {file} has kind {kind:?}, not one of {}", KINDS.join(", "))
            }
            ManifestError::UnknownSplit { line, file, split } => {
                write!(f, "{MANIFEST} line {line}: {file} has split {split:?}, not tune or holdout")
            }
        }
    }
}

impl std::error::Error for ManifestError {}

fn gt_name(file: &str) -> String {
    let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
    format!("{stem}.gt.txt")
}

/// Parses a manifest and checks each row against the files of `dir`. `file` is required; `kind`, `split` and
/// `licence` are read when the header has them.
pub fn parse_manifest(text: &str, dir: &Path) -> Result<Vec<ManifestEntry>, ManifestError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or(ManifestError::Empty)?;
    let header: Vec<&str> = header.split('\t').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let file_col = col("file").ok_or(ManifestError::MissingColumn("file"))?;
    let (kind_col, split_col, licence_col, has_gt_col) = (col("kind"), col("split"), col("licence"), col("has_gt"));
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for (i, row) in lines {
        let line = i + 1;
        let cells: Vec<&str> = row.split('\t').map(str::trim).collect();
        if cells.len() < header.len() {
            return Err(ManifestError::ShortRow { line, columns: cells.len(), expected: header.len() });
        }
        let file = cells[file_col].to_string();
        if !seen.insert(file.clone()) {
            return Err(ManifestError::DuplicateFile { line, file });
        }
        if !dir.join(&file).is_file() {
            return Err(ManifestError::MissingImage { line, file });
        }
        let gt_optional = has_gt_col.is_some_and(|c| cells[c] == "no");
        if !gt_optional && !dir.join(gt_name(&file)).is_file() {
            return Err(ManifestError::MissingGroundTruth { line, expected: gt_name(&file), file });
        }
        let kind = match kind_col.map(|c| cells[c]) {
            Some(k) if KINDS.contains(&k) => Some(k.to_string()),
            Some(k) => return Err(ManifestError::UnknownKind { line, file, kind: k.to_string() }),
            None => None,
        };
        let split = match split_col.map(|c| cells[c]) {
            Some(s) => Some(Split::parse(s).ok_or_else(|| ManifestError::UnknownSplit {
                line,
                file: file.clone(),
                split: s.to_string(),
            })?),
            None => None,
        };
        let licence = licence_col.map(|c| cells[c].to_string()).filter(|l| !l.is_empty());
        entries.push(ManifestEntry { file, kind, split, licence });
    }
    Ok(entries)
}

/// Reads `dir/MANIFEST.tsv` when there is one.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Option<Vec<ManifestEntry>>> {
    let path = dir.join(MANIFEST);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(Some(parse_manifest(&text, dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?))
}

/// The documents of `dir`, sorted by name.
pub fn load_corpus(dir: &Path) -> anyhow::Result<Vec<CorpusDoc>> {
    load_corpus_split(dir, SplitFilter::All)
}

/// The documents of `dir` in `filter`'s split. Without a manifest they are sorted by name (and only `All` is
/// possible); with one they are interleaved by kind (see the module invariants).
pub fn load_corpus_split(dir: &Path, filter: SplitFilter) -> anyhow::Result<Vec<CorpusDoc>> {
    let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("cannot read corpus {}: {e}", dir.display()))?;
    let manifest = read_manifest(dir)?;
    if filter != SplitFilter::All && !manifest.as_ref().is_some_and(|m| m.iter().any(|e| e.split.is_some())) {
        anyhow::bail!("--split {} needs a {MANIFEST} with a split column in {}", filter.as_str(), dir.display());
    }
    let listed: BTreeMap<&str, &ManifestEntry> = manifest.iter().flatten().map(|e| (e.file.as_str(), e)).collect();
    let mut docs = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else { continue };
        if !path.is_file() || !IMAGE_ENDINGS.contains(&ext.to_ascii_lowercase().as_str()) {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let ground_truth = std::fs::read_to_string(dir.join(format!("{stem}.gt.txt"))).ok();
        let row = listed.get(name.as_str());
        let (kind, split) = (row.and_then(|r| r.kind.clone()), row.and_then(|r| r.split));
        if filter.admits(split) {
            docs.push(CorpusDoc { name, path, ground_truth, kind, split });
        }
    }
    docs.sort_by(|a, b| a.name.cmp(&b.name));
    if manifest.is_some() {
        docs = interleave_by_kind(docs);
    }
    if docs.is_empty() {
        anyhow::bail!("no images in corpus {} (split {})", dir.display(), filter.as_str());
    }
    Ok(docs)
}

/// Spreads each kind evenly over the order: the j-th of a kind's n documents (by name) sits at j/n, ties broken
/// by kind order. Every prefix then holds each kind in about its corpus share, and each kind's first document
/// comes within the first few positions.
pub fn interleave_by_kind(docs: Vec<CorpusDoc>) -> Vec<CorpusDoc> {
    let rank =
        |k: &Option<String>| k.as_deref().and_then(|k| KINDS.iter().position(|x| *x == k)).unwrap_or(KINDS.len());
    let mut groups: BTreeMap<usize, Vec<CorpusDoc>> = BTreeMap::new();
    for d in docs {
        groups.entry(rank(&d.kind)).or_default().push(d);
    }
    let mut keyed: Vec<(f64, usize, CorpusDoc)> = Vec::new();
    for (r, members) in groups {
        let n = members.len() as f64;
        keyed.extend(members.into_iter().enumerate().map(|(j, d)| (j as f64 / n, r, d)));
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, _, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "split\tfile\tkind\tlicence\thas_gt\n";

    fn corpus_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        dir
    }

    #[test]
    fn a_good_manifest_parses_every_column() {
        let dir = corpus_with(&["a.png", "a.gt.txt", "b.jpg"]);
        let text = format!("{HEADER}holdout\ta.png\treceipt\tCC-BY-4.0\tyes\ntune\tb.jpg\tphoto\tMIT\tno\n");
        let rows = parse_manifest(&text, dir.path()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].split, Some(Split::Holdout));
        assert_eq!(rows[1].kind.as_deref(), Some("photo"));
        assert_eq!(rows[1].licence.as_deref(), Some("MIT"));
    }

    #[test]
    fn a_row_without_its_ground_truth_is_rejected() {
        let dir = corpus_with(&["a.png"]);
        let text = format!("{HEADER}holdout\ta.png\treceipt\tMIT\tyes\n");
        let err = parse_manifest(&text, dir.path()).unwrap_err();
        assert_eq!(
            err,
            ManifestError::MissingGroundTruth { line: 2, file: "a.png".into(), expected: "a.gt.txt".into() }
        );
    }

    #[test]
    fn an_unknown_kind_or_split_is_rejected() {
        let dir = corpus_with(&["a.png", "a.gt.txt"]);
        let kind = format!("{HEADER}holdout\ta.png\tinvoice\tMIT\tyes\n");
        assert!(
            matches!(parse_manifest(&kind, dir.path()), Err(ManifestError::UnknownKind { kind, .. }) if kind == "invoice")
        );
        let split = format!("{HEADER}dev\ta.png\treceipt\tMIT\tyes\n");
        assert!(
            matches!(parse_manifest(&split, dir.path()), Err(ManifestError::UnknownSplit { split, .. }) if split == "dev")
        );
    }

    #[test]
    fn missing_images_duplicates_and_short_rows_are_rejected() {
        let dir = corpus_with(&["a.png", "a.gt.txt"]);
        let missing = format!("{HEADER}tune\tz.png\treceipt\tMIT\tyes\n");
        assert!(matches!(parse_manifest(&missing, dir.path()), Err(ManifestError::MissingImage { .. })));
        let twice = format!("{HEADER}tune\ta.png\treceipt\tMIT\tyes\ntune\ta.png\treceipt\tMIT\tyes\n");
        assert!(matches!(parse_manifest(&twice, dir.path()), Err(ManifestError::DuplicateFile { line: 3, .. })));
        let short = format!("{HEADER}tune\ta.png\n");
        assert!(matches!(parse_manifest(&short, dir.path()), Err(ManifestError::ShortRow { .. })));
        assert_eq!(parse_manifest("kind\n", dir.path()), Err(ManifestError::MissingColumn("file")));
    }

    #[test]
    fn a_split_filter_takes_only_its_half_and_needs_a_manifest() {
        let dir = corpus_with(&["a.png", "a.gt.txt", "b.png", "b.gt.txt", "c.png", "c.gt.txt"]);
        assert!(load_corpus_split(dir.path(), SplitFilter::Holdout).is_err(), "no manifest, no split");
        let text = format!(
            "{HEADER}holdout\ta.png\treceipt\tMIT\tyes\ntune\tb.png\treceipt\tMIT\tyes\nholdout\tc.png\tform\tMIT\tyes\n"
        );
        std::fs::write(dir.path().join(MANIFEST), text).unwrap();
        let names = |f| load_corpus_split(dir.path(), f).unwrap().into_iter().map(|d| d.name).collect::<Vec<_>>();
        assert_eq!(names(SplitFilter::Holdout), ["a.png", "c.png"]);
        assert_eq!(names(SplitFilter::Tune), ["b.png"]);
        assert_eq!(names(SplitFilter::All).len(), 3);
    }

    #[test]
    fn interleaving_spreads_kinds_over_every_prefix() {
        let doc = |name: &str, kind: &str| CorpusDoc {
            name: name.into(),
            path: PathBuf::from(name),
            ground_truth: None,
            kind: Some(kind.into()),
            split: None,
        };
        let mut docs: Vec<CorpusDoc> = (0..6).map(|i| doc(&format!("r{i}"), "receipt")).collect();
        docs.extend((0..3).map(|i| doc(&format!("f{i}"), "form")));
        docs.push(doc("t0", "typewritten"));
        let order: Vec<String> = interleave_by_kind(docs).into_iter().map(|d| d.name).collect();
        assert_eq!(order, ["r0", "f0", "t0", "r1", "r2", "f1", "r3", "r4", "f2", "r5"]);
    }
}
