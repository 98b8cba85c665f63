//! Helpers for the criterion micro-benchmarks: records, in-memory tables, and a file
//! system whose files discard their bytes (so WAL benchmarks measure framing, not I/O).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{RealFsExcept, WritableFile};
use strata_engine::table::{Table, TableBuilder, TableOptions};
use strata_engine::Result;

use crate::workload::{key, ValueGen};

/// A put of key number `n` with the given seqno and value.
pub fn record(n: u64, seqno: u64, value: &[u8]) -> Record {
    Record {
        key: Bytes::copy_from_slice(&key(n)),
        seqno,
        kind: Kind::Put,
        expires_at: 0,
        value: Bytes::copy_from_slice(value),
    }
}

/// Puts of key numbers `numbers` (in the given order), seqnos from 1, values of
/// `value_bytes` random bytes.
pub fn records(numbers: impl IntoIterator<Item = u64>, value_bytes: usize) -> Vec<Record> {
    let mut values = ValueGen::new(value_bytes, 1);
    numbers
        .into_iter()
        .zip(1u64..)
        .map(|(n, seqno)| record(n, seqno, values.next_value()))
        .collect()
}

/// A writable file appending into shared memory.
#[derive(Clone, Default)]
pub struct MemFile {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl MemFile {
    pub fn contents(&self) -> Vec<u8> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl WritableFile for MemFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
    fn len(&self) -> u64 {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len() as u64
    }
}

/// A table of `records` (which must be in internal-key order), built in memory with the
/// default table options.
pub fn table_in_memory(records: &[Record]) -> Result<Arc<Table>> {
    let file = MemFile::default();
    let mut builder = TableBuilder::new(Box::new(file.clone()), TableOptions::default());
    for r in records {
        builder.add(r)?;
    }
    builder.finish()?;
    let table = Table::from_bytes(PathBuf::from("in-memory.sst"), Bytes::from(file.contents()))?;
    Ok(Arc::new(table))
}

/// A file that counts the bytes appended to it and keeps none.
#[derive(Debug, Default)]
pub struct SinkFile {
    len: u64,
}

impl WritableFile for SinkFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        self.len += buf.len() as u64;
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
    fn len(&self) -> u64 {
        self.len
    }
}

/// The real file system, except that created files are [`SinkFile`]s: use it as
/// `Patched(SinkFs)`.
#[derive(Debug, Default)]
pub struct SinkFs;

impl RealFsExcept for SinkFs {
    fn create(&self, _path: &Path) -> Result<Box<dyn WritableFile>> {
        Ok(Box::new(SinkFile::default()))
    }
    fn open_append(&self, _path: &Path) -> Result<Box<dyn WritableFile>> {
        Ok(Box::new(SinkFile::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::fs::{FileSystem, Patched, RealFs};
    use strata_engine::wal::WalWriter;

    #[test]
    fn in_memory_table_holds_its_records() {
        let recs = records(0..500, 100);
        let table = table_in_memory(&recs).unwrap();
        assert_eq!(table.meta().entries, 500);
        assert_eq!(table.verify().unwrap(), 500);
        let got = table.get(&key(321), u64::MAX).unwrap().unwrap();
        assert_eq!(got, recs[321]);
        let mut it = table.iter();
        let mut n = 0;
        while let Some(r) = it.next_record().unwrap() {
            assert_eq!(r, recs[n]);
            n += 1;
        }
        assert_eq!(n, 500);
    }

    #[test]
    fn sink_fs_wal_counts_bytes_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(Patched(SinkFs));
        let mut wal = WalWriter::create(&fs, dir.path(), 1).unwrap();
        let before = wal.len();
        let mut payload = Vec::new();
        strata_engine::wal::encode_batch(&records(0..1, 100), &mut payload);
        wal.append_many(&[&payload, &payload]).unwrap();
        wal.sync().unwrap();
        // Two frames: an 8-byte header each plus the payload.
        assert_eq!(wal.len() - before, 2 * (8 + payload.len() as u64));
        assert!(RealFs.list(dir.path()).unwrap().is_empty());
    }
}
