//! A version: the immutable set of live tables, swapped atomically as an `Arc`.

use std::sync::Arc;

use crate::table::{Table, TableMeta};

/// One live table and where it sits in the tree.
pub struct TableHandle {
    pub id: u64,
    pub level: usize,
    pub meta: TableMeta,
    pub table: Arc<Table>,
}

/// The live tables. `levels[0]` may overlap and is ordered newest first; every deeper
/// level is sorted by key and non-overlapping.
#[derive(Clone, Default)]
pub struct Version {
    pub levels: Vec<Vec<Arc<TableHandle>>>,
}
