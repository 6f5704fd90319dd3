//! Accuracy against ground truth: character error rate and bag-of-words F1.
//!
//! Both compare case-folded text with whitespace collapsed (the SROIE transcripts are upper case and their
//! spacing normalised). CER is order-sensitive; bag-of-words F1 is not, which matters where the ground truth's
//! line order was rebuilt from boxes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Lower-cases and collapses every run of whitespace into one space.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().map(|w| w.to_lowercase()).collect::<Vec<_>>().join(" ")
}

/// Levenshtein distance over Unicode scalar values, in O(len(a) * len(b)) time and O(len(b)) memory.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() {
        return b.len();
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The counts behind CER and bag-of-words F1 for one document; they add up across documents (micro-average).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccuracyCounts {
    pub edits: u64,
    pub reference_chars: u64,
    pub matched_words: u64,
    pub hypothesis_words: u64,
    pub reference_words: u64,
}

impl AccuracyCounts {
    pub fn measure(hypothesis: &str, reference: &str) -> AccuracyCounts {
        let (hyp, reference) = (normalise(hypothesis), normalise(reference));
        let mut bag: HashMap<&str, i64> = HashMap::new();
        for w in reference.split(' ').filter(|w| !w.is_empty()) {
            *bag.entry(w).or_default() += 1;
        }
        let mut matched = 0;
        let mut hyp_words = 0;
        for w in hyp.split(' ').filter(|w| !w.is_empty()) {
            hyp_words += 1;
            if let Some(n) = bag.get_mut(w) {
                if *n > 0 {
                    *n -= 1;
                    matched += 1;
                }
            }
        }
        AccuracyCounts {
            edits: edit_distance(&hyp, &reference) as u64,
            reference_chars: reference.chars().count() as u64,
            matched_words: matched,
            hypothesis_words: hyp_words,
            reference_words: reference.split(' ').filter(|w| !w.is_empty()).count() as u64,
        }
    }

    pub fn add(&mut self, other: &AccuracyCounts) {
        self.edits += other.edits;
        self.reference_chars += other.reference_chars;
        self.matched_words += other.matched_words;
        self.hypothesis_words += other.hypothesis_words;
        self.reference_words += other.reference_words;
    }

    /// Edits per reference character (can exceed 1 when the output is mostly garbage).
    pub fn cer(&self) -> f64 {
        if self.reference_chars == 0 {
            return 0.0;
        }
        self.edits as f64 / self.reference_chars as f64
    }

    pub fn bow_f1(&self) -> f64 {
        if self.hypothesis_words == 0 || self.reference_words == 0 {
            return 0.0;
        }
        let precision = self.matched_words as f64 / self.hypothesis_words as f64;
        let recall = self.matched_words as f64 / self.reference_words as f64;
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_matches_hand_counts() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
        assert_eq!(edit_distance("héllo", "hello"), 1);
    }

    #[test]
    fn cer_folds_case_and_whitespace() {
        let c = AccuracyCounts::measure("TOTAL   35.00\n", "total 35.00");
        assert_eq!(c.edits, 0);
        assert_eq!(c.cer(), 0.0);
        let c = AccuracyCounts::measure("totel 35.00", "total 35.00");
        assert_eq!((c.edits, c.reference_chars), (1, 11));
    }

    #[test]
    fn bag_of_words_ignores_order_and_counts_multiplicity() {
        let c = AccuracyCounts::measure("b a a", "a b");
        // precision 2/3, recall 2/2, F1 = 0.8
        assert_eq!((c.matched_words, c.hypothesis_words, c.reference_words), (2, 3, 2));
        assert!((c.bow_f1() - 0.8).abs() < 1e-12);
        assert_eq!(AccuracyCounts::measure("", "a").bow_f1(), 0.0);
    }

    #[test]
    fn counts_add_up_as_a_micro_average() {
        let mut total = AccuracyCounts::measure("abcd", "abce");
        total.add(&AccuracyCounts::measure("xy", "xy"));
        assert_eq!(total.cer(), 1.0 / 6.0);
    }
}
