//! A version: the immutable set of live tables, swapped atomically as an `Arc`.
//!
//! Readers clone the `Arc<Version>` under a short lock and then read without any lock;
//! a new version is built by [`Version::apply`] from the current one plus a manifest edit.

use std::sync::Arc;

use crate::batch::Record;
use crate::error::Result;
use crate::table::bloom::Bloom;
use crate::table::{Table, TableMeta};

/// One live table and where it sits in the tree.
pub struct TableHandle {
    pub id: u64,
    pub level: usize,
    pub meta: TableMeta,
    pub table: Arc<Table>,
}

impl TableHandle {
    /// True if `key` lies within the table's key range.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.meta.smallest_key.as_ref() <= key && key <= self.meta.largest_key.as_ref()
    }
}

/// The live tables. `levels[0]` may overlap and is ordered newest first; every deeper
/// level is sorted by key and non-overlapping.
#[derive(Clone, Default)]
pub struct Version {
    pub levels: Vec<Vec<Arc<TableHandle>>>,
}

/// L0 order: newest data first. Flushed tables hold disjoint seqno ranges, so the largest
/// seqno orders them; the id breaks ties deterministically.
fn l0_order(a: &Arc<TableHandle>, b: &Arc<TableHandle>) -> std::cmp::Ordering {
    b.meta
        .max_seqno
        .cmp(&a.meta.max_seqno)
        .then(b.id.cmp(&a.id))
}

impl Version {
    /// An empty version with `levels` levels (L0 included).
    pub fn new(levels: usize) -> Version {
        Version {
            levels: vec![Vec::new(); levels.max(1)],
        }
    }

    /// Builds a version from tables in any order, sorting each level. Does not check the
    /// level invariants: see [`Version::check`].
    pub fn from_tables(levels: usize, tables: Vec<Arc<TableHandle>>) -> Version {
        let mut v = Version::new(levels);
        v.insert_sorted(tables);
        v
    }

    fn insert_sorted(&mut self, tables: Vec<Arc<TableHandle>>) {
        for t in tables {
            if self.levels.len() <= t.level {
                self.levels.resize(t.level + 1, Vec::new());
            }
            self.levels[t.level].push(t);
        }
        for (level, tables) in self.levels.iter_mut().enumerate() {
            if level == 0 {
                tables.sort_by(l0_order);
            } else {
                tables.sort_by(|a, b| a.meta.smallest_key.cmp(&b.meta.smallest_key));
            }
        }
    }

    /// The version after removing the tables `removed` and adding `added`.
    ///
    /// Panics if a removed id is not live or the result breaks a level invariant: the
    /// caller built the edit from a stale or wrong view, a bug.
    pub fn apply(&self, added: Vec<Arc<TableHandle>>, removed: &[u64]) -> Version {
        let mut next = self.clone();
        for id in removed {
            let before = next.table_count();
            for level in &mut next.levels {
                level.retain(|t| t.id != *id);
            }
            assert_eq!(
                next.table_count() + 1,
                before,
                "version edit removes table {id}, which is not live"
            );
        }
        next.insert_sorted(added);
        if let Err(reason) = next.check() {
            panic!("version edit breaks an invariant: {reason}");
        }
        next
    }

    /// Checks the level invariants: ids unique, each table's range ordered, deeper levels
    /// sorted and non-overlapping.
    pub fn check(&self) -> std::result::Result<(), String> {
        let mut ids: Vec<u64> = self.tables().map(|t| t.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("table {} appears twice", w[0]));
        }
        for (level, tables) in self.levels.iter().enumerate() {
            for t in tables {
                if t.level != level {
                    return Err(format!("table {} at level {level} says {}", t.id, t.level));
                }
                if t.meta.smallest_key > t.meta.largest_key {
                    return Err(format!("table {} has an inverted key range", t.id));
                }
            }
            if level == 0 {
                continue;
            }
            for pair in tables.windows(2) {
                if pair[0].meta.largest_key >= pair[1].meta.smallest_key {
                    return Err(format!(
                        "tables {} and {} overlap at level {level}",
                        pair[0].id, pair[1].id
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every live table, level by level.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableHandle>> {
        self.levels.iter().flatten()
    }

    /// The live table `id`, if any.
    pub fn table(&self, id: u64) -> Option<&Arc<TableHandle>> {
        self.tables().find(|t| t.id == id)
    }

    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Sum of the table file sizes at `level`, in bytes.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.levels
            .get(level)
            .map_or(0, |ts| ts.iter().map(|t| t.meta.file_bytes).sum())
    }

    /// The newest record for `key` with seqno <= `snapshot_seqno` in any table (put or
    /// tombstone, expired or not).
    ///
    /// L0 tables may overlap, so every L0 table whose seqnos could beat the best hit so far
    /// is consulted. Deeper levels hold strictly older data than the levels above them,
    /// so the first hit there decides; each level has at most one candidate table.
    pub fn get(&self, key: &[u8], snapshot_seqno: u64) -> Result<Option<Record>> {
        self.get_hashed(key, Bloom::hash(key), snapshot_seqno)
    }

    /// [`Version::get`] for a key already hashed with [`Bloom::hash`].
    pub fn get_hashed(&self, key: &[u8], hash: u64, snapshot_seqno: u64) -> Result<Option<Record>> {
        let mut best: Option<Record> = None;
        if let Some(l0) = self.levels.first() {
            for t in l0 {
                if let Some(b) = &best {
                    // Sorted by max_seqno descending: nothing further can be newer.
                    if t.meta.max_seqno < b.seqno {
                        break;
                    }
                }
                if !t.may_contain(key) || t.meta.min_seqno > snapshot_seqno {
                    continue;
                }
                if let Some(r) = t.table.get_hashed(key, hash, snapshot_seqno)? {
                    if best.as_ref().is_none_or(|b| r.seqno > b.seqno) {
                        best = Some(r);
                    }
                }
            }
        }
        if best.is_some() {
            return Ok(best);
        }
        for tables in self.levels.iter().skip(1) {
            // The first table whose largest key is >= key is the only candidate.
            let i = tables.partition_point(|t| t.meta.largest_key.as_ref() < key);
            if let Some(t) = tables.get(i) {
                if t.may_contain(key) {
                    if let Some(r) = t.table.get_hashed(key, hash, snapshot_seqno)? {
                        return Ok(Some(r));
                    }
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Kind;
    use crate::fs::{FileSystem, RealFs};
    use crate::table::{table_path, TableBuilder, TableOptions};
    use bytes::Bytes;

    /// Writes a table of `(key, seqno, value)` records (given in table order) and returns
    /// its handle at `level`.
    fn table(
        dir: &std::path::Path,
        id: u64,
        level: usize,
        records: &[(&str, u64, &str)],
    ) -> Arc<TableHandle> {
        let path = table_path(dir, id);
        let mut builder = TableBuilder::new(RealFs.create(&path).unwrap(), TableOptions::default());
        for &(key, seqno, value) in records {
            builder
                .add(&Record {
                    key: Bytes::copy_from_slice(key.as_bytes()),
                    seqno,
                    kind: if value.is_empty() {
                        Kind::Delete
                    } else {
                        Kind::Put
                    },
                    expires_at: 0,
                    value: Bytes::copy_from_slice(value.as_bytes()),
                })
                .unwrap();
        }
        let meta = builder.finish().unwrap();
        Arc::new(TableHandle {
            id,
            level,
            meta,
            table: Arc::new(Table::open(&RealFs, &path).unwrap()),
        })
    }

    fn value(v: &Version, key: &str, seqno: u64) -> Option<(u64, String)> {
        v.get(key.as_bytes(), seqno)
            .unwrap()
            .map(|r| (r.seqno, String::from_utf8(r.value.to_vec()).unwrap()))
    }

    #[test]
    fn apply_orders_levels_and_removes_tables() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let v = Version::new(3).apply(
            vec![
                table(d, 1, 0, &[("a", 1, "x")]),
                table(d, 2, 0, &[("a", 5, "x")]),
                table(d, 3, 1, &[("m", 1, "x")]),
                table(d, 4, 1, &[("c", 1, "x")]),
            ],
            &[],
        );
        let ids = |level: usize| v.levels[level].iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(0), vec![2, 1], "L0 newest first");
        assert_eq!(ids(1), vec![4, 3], "L1 by key");
        assert_eq!(v.table_count(), 4);
        assert!(v.table(3).is_some());
        let v2 = v.apply(vec![], &[2, 3]);
        assert_eq!(v2.table_count(), 2);
        assert!(v2.table(2).is_none());
        assert_eq!(v.table_count(), 4, "the old version is untouched");
        assert_eq!(v2.level_bytes(1), v.table(4).unwrap().meta.file_bytes);
    }

    #[test]
    #[should_panic(expected = "not live")]
    fn removing_an_unknown_table_is_a_bug() {
        Version::new(2).apply(vec![], &[9]);
    }

    #[test]
    fn check_rejects_overlap_below_l0() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let overlapping = Version::from_tables(
            2,
            vec![
                table(d, 1, 1, &[("a", 1, "x"), ("m", 1, "x")]),
                table(d, 2, 1, &[("k", 2, "x")]),
            ],
        );
        assert!(overlapping.check().unwrap_err().contains("overlap"));
        let l0_overlap_is_fine = Version::from_tables(
            2,
            vec![
                table(d, 3, 0, &[("a", 1, "x"), ("m", 1, "x")]),
                table(d, 4, 0, &[("k", 2, "x")]),
            ],
        );
        assert!(l0_overlap_is_fine.check().is_ok());
    }

    #[test]
    fn get_takes_the_newest_version_across_overlapping_l0() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let v = Version::from_tables(
            3,
            vec![
                // An L0 table with a high max_seqno but an old version of "k".
                table(d, 1, 0, &[("k", 3, "old"), ("z", 9, "z")]),
                table(d, 2, 0, &[("k", 6, "new")]),
                table(d, 3, 1, &[("k", 1, "l1"), ("q", 1, "q1")]),
                table(d, 4, 2, &[("q", 0, "q2"), ("r", 0, "r2")]),
            ],
        );
        assert_eq!(value(&v, "k", 100), Some((6, "new".into())));
        assert_eq!(value(&v, "k", 5), Some((3, "old".into())));
        assert_eq!(value(&v, "k", 2), Some((1, "l1".into())));
        assert_eq!(
            value(&v, "q", 100),
            Some((1, "q1".into())),
            "shallower level wins"
        );
        assert_eq!(value(&v, "r", 100), Some((0, "r2".into())));
        assert_eq!(value(&v, "nope", 100), None);
    }

    #[test]
    fn get_returns_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let v = Version::from_tables(
            2,
            vec![
                table(d, 1, 0, &[("k", 5, "")]),
                table(d, 2, 1, &[("k", 1, "v")]),
            ],
        );
        let r = v.get(b"k", 10).unwrap().unwrap();
        assert_eq!((r.kind, r.seqno), (Kind::Delete, 5));
    }
}
