//! The memtable: a crossbeam skiplist ordered by (key asc, seqno desc).
