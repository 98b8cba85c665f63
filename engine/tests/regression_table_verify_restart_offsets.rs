//! Regression (found by the `table` fuzz target): `Table::verify` accepted a table whose
//! block restart array points into the middle of an entry, behind a valid CRC. A scan walks
//! entries from offset 0 and never reads the restart array, so `verify` passed; `get` and
//! `seek` binary-search the restart points and then failed (or could land on garbage).
//! `verify` must reject such a table, for data blocks and for the index block alike.

use std::path::PathBuf;

use bytes::Bytes;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::table::block::Block;
use strata_engine::table::{BlockHandle, Table, TableBuilder, TableOptions, FOOTER_BYTES};
use strata_engine::Error;

/// Bytes after a block's restart array: restart count and CRC.
const BLOCK_TRAILER_BYTES: usize = 8;

/// A table of 12 records in several blocks with a restart point every 2 entries.
fn table_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let opts = TableOptions {
        block_bytes: 96,
        restart_interval: 2,
        bloom_bits_per_key: 10,
    };
    let mut builder = TableBuilder::new(RealFs.create(&path).unwrap(), opts);
    for i in 0..12u64 {
        builder
            .add(&Record {
                key: Bytes::from(format!("key-{i:03}")),
                seqno: 100 - i,
                kind: Kind::Put,
                expires_at: 0,
                value: Bytes::from(format!("value-{i}")),
            })
            .unwrap();
    }
    builder.finish().unwrap();
    std::fs::read(&path).unwrap()
}

fn handle(file: &[u8], at: usize) -> BlockHandle {
    BlockHandle::decode(&file[at..at + 12]).unwrap()
}

fn range(h: BlockHandle) -> std::ops::Range<usize> {
    h.offset as usize..h.end() as usize
}

/// Moves the second restart offset of `block` one byte forward (into the middle of the
/// entry it pointed at: still increasing and in range, so `Block::decode` accepts it) and
/// recomputes the block's CRC.
fn shift_second_restart(block: &mut [u8]) {
    let len = block.len();
    let count = u32::from_le_bytes(block[len - 8..len - 4].try_into().unwrap()) as usize;
    assert!(count >= 2, "the block has a second restart point");
    let restarts_at = len - BLOCK_TRAILER_BYTES - 4 * count;
    let at = restarts_at + 4;
    let offset = u32::from_le_bytes(block[at..at + 4].try_into().unwrap());
    block[at..at + 4].copy_from_slice(&(offset + 1).to_le_bytes());
    let crc = crc32fast::hash(&block[..len - 4]);
    block[len - 4..].copy_from_slice(&crc.to_le_bytes());
}

fn verify(file: Vec<u8>) -> Result<u64, Error> {
    Table::from_bytes(PathBuf::from("t.sst"), Bytes::from(file))?.verify()
}

#[test]
fn verify_rejects_a_data_block_restart_inside_an_entry() {
    let mut file = table_bytes();
    assert_eq!(verify(file.clone()).unwrap(), 12);
    let footer_at = file.len() - FOOTER_BYTES;
    let index = handle(&file, footer_at);
    let index_block = Block::decode(Bytes::copy_from_slice(&file[range(index)])).unwrap();
    let mut it = index_block.iter();
    it.seek_to_first().unwrap();
    let first_data = BlockHandle::decode(it.value()).unwrap();
    shift_second_restart(&mut file[range(first_data)]);

    let err = verify(file).unwrap_err();
    assert!(
        matches!(&err, Error::Corruption { offset, .. } if *offset >= first_data.offset && *offset < first_data.end()),
        "{err:?}"
    );
}

#[test]
fn verify_rejects_an_index_block_restart_inside_an_entry() {
    let mut file = table_bytes();
    let footer_at = file.len() - FOOTER_BYTES;
    let index = handle(&file, footer_at);
    shift_second_restart(&mut file[range(index)]);
    // The index is checked by a walk at open; the restart array only by verify.
    let err = verify(file).unwrap_err();
    assert!(
        matches!(&err, Error::Corruption { offset, .. } if *offset >= index.offset && *offset < index.end()),
        "{err:?}"
    );
}
