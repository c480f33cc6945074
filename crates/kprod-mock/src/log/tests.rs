use super::*;
use crate::protocol::ErrorCode;
use crate::record::{BatchBuilder, Compression, set_producer_state};

/// A closed batch of `n` records "v0".."v{n-1}" with the given producer state.
fn batch(n: i32, pid: i64, epoch: i16, seq: i32, compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(BytesMut::new(), compression, 1_000);
    for i in 0..n {
        let v = format!("v{i}");
        b.append(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), &[]);
    }
    let mut closed = b.close().unwrap().bytes;
    if pid >= 0 {
        set_producer_state(&mut closed, pid, epoch, seq, false);
    }
    closed.freeze()
}

fn append(
    log: &mut PartitionLog,
    set: &Bytes,
    mode: StorageMode,
    retained: &AtomicU64,
) -> Result<Appended, AppendError> {
    let batches = validate_record_set(set, Validation::Full)?;
    log.append(&batches, mode, retained)
}

const RETAIN: StorageMode = StorageMode::Retain { max_bytes: 1 << 20 };

#[test]
fn offsets_are_assigned_and_written_into_stored_batches() {
    let mut log = PartitionLog::default();
    let retained = AtomicU64::new(0);
    let a = append(&mut log, &batch(3, -1, -1, -1, Compression::None), RETAIN, &retained).unwrap();
    let b = append(&mut log, &batch(2, -1, -1, -1, Compression::Zstd { level: 3 }), RETAIN, &retained).unwrap();
    assert_eq!((a.base_offset, b.base_offset), (0, 3));
    assert_eq!(log.next_offset, 5);
    assert_eq!(log.batches.len(), 2);
    let parsed = log.batches[1].parse().unwrap();
    assert_eq!(parsed.base_offset(), 3);
    parsed.validate_full().unwrap();
    assert_eq!(retained.load(Ordering::Relaxed), (log.batches[0].bytes.len() + log.batches[1].bytes.len()) as u64);
    assert_eq!(log.batch_index_for(4), 1);
    assert_eq!(log.batch_index_for(2), 0);
    assert_eq!(log.batch_index_for(5), 2);
}

#[test]
fn sink_mode_counts_but_keeps_nothing() {
    let mut log = PartitionLog::default();
    let retained = AtomicU64::new(0);
    let a = append(&mut log, &batch(4, -1, -1, -1, Compression::None), StorageMode::Sink, &retained).unwrap();
    assert_eq!(a.records, 4);
    assert!(log.batches.is_empty());
    assert_eq!((log.next_offset, log.log_start_offset), (4, 4));
    assert_eq!(retained.load(Ordering::Relaxed), 0);
}

#[test]
fn corrupt_batches_are_refused_and_nothing_is_stored() {
    let good = batch(2, -1, -1, -1, Compression::None);
    let mut bad = BytesMut::from(&good[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    let mut two = BytesMut::from(&good[..]);
    two.extend_from_slice(&bad);
    let e = validate_record_set(&two.freeze(), Validation::Crc).unwrap_err();
    assert!(matches!(e, AppendError::Corrupt { index: 1, error: RecordError::CrcMismatch { .. } }), "{e}");
    assert_eq!(e.error_code(), ErrorCode::CorruptMessage);
    // Truncated, bad magic, empty set.
    assert!(validate_record_set(&good.slice(..good.len() - 3), Validation::Crc).is_err());
    let mut magic = BytesMut::from(&good[..]);
    magic[16] = 1;
    assert!(matches!(validate_record_set(&magic.freeze(), Validation::Crc), Err(AppendError::Corrupt { .. })));
    assert_eq!(validate_record_set(&Bytes::new(), Validation::Crc).unwrap_err().error_code(), ErrorCode::InvalidRecord);
}

#[test]
fn full_validation_catches_a_record_count_lie_that_crc_cannot() {
    // A batch claiming 3 records but holding 2, with a correct CRC.
    let good = batch(2, -1, -1, -1, Compression::None);
    let mut lie = BytesMut::from(&good[..]);
    lie[57..61].copy_from_slice(&3i32.to_be_bytes());
    lie[23..27].copy_from_slice(&2i32.to_be_bytes());
    let crc = crc32c::crc32c(&lie[21..]);
    lie[17..21].copy_from_slice(&crc.to_be_bytes());
    let lie = lie.freeze();
    assert!(validate_record_set(&lie, Validation::Crc).is_ok());
    let e = validate_record_set(&lie, Validation::Full).unwrap_err();
    assert!(
        matches!(e, AppendError::Corrupt { error: RecordError::CountMismatch { header: 3, actual: 2 }, .. }),
        "{e}"
    );
}

#[test]
fn idempotent_duplicates_are_answered_with_the_original_offset_and_stored_once() {
    let mut log = PartitionLog::default();
    let retained = AtomicU64::new(0);
    let first = batch(5, 42, 0, 0, Compression::None);
    append(&mut log, &batch(1, -1, -1, -1, Compression::None), RETAIN, &retained).unwrap();
    let a = append(&mut log, &first, RETAIN, &retained).unwrap();
    let b = append(&mut log, &batch(5, 42, 0, 5, Compression::None), RETAIN, &retained).unwrap();
    let dup = append(&mut log, &first, RETAIN, &retained).unwrap();
    assert_eq!((a.base_offset, b.base_offset), (1, 6));
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, 1);
    assert_eq!(log.batches.len(), 3, "the duplicate was not stored");
    assert_eq!(log.next_offset, 11);
    // Out of order (gap) and a stale epoch.
    let e = append(&mut log, &batch(1, 42, 0, 11, Compression::None), RETAIN, &retained).unwrap_err();
    assert_eq!(e.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    append(&mut log, &batch(1, 42, 1, 0, Compression::None), RETAIN, &retained).unwrap();
    let e = append(&mut log, &batch(1, 42, 0, 10, Compression::None), RETAIN, &retained).unwrap_err();
    assert_eq!(e.error_code(), ErrorCode::InvalidProducerEpoch);
    assert_eq!(log.producer(42).unwrap().epoch, 1);
    assert_eq!(log.next_offset, 12);
}

#[test]
fn a_failed_multi_batch_set_changes_no_producer_state() {
    let mut log = PartitionLog::default();
    let retained = AtomicU64::new(0);
    append(&mut log, &batch(1, 9, 0, 0, Compression::None), RETAIN, &retained).unwrap();
    let before = log.producer(9).cloned();
    let mut set = BytesMut::from(&batch(2, 9, 0, 1, Compression::None)[..]);
    set.extend_from_slice(&batch(2, 9, 0, 5, Compression::None)); // gap: 3 expected
    let e = append(&mut log, &set.freeze(), RETAIN, &retained).unwrap_err();
    assert_eq!(e.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(log.producer(9).cloned(), before, "the first, valid batch left no trace");
    assert_eq!(log.next_offset, 1);
    // The in-order pair in one set is fine, and sequences continue across the batches.
    let mut set = BytesMut::from(&batch(2, 9, 0, 1, Compression::None)[..]);
    set.extend_from_slice(&batch(2, 9, 0, 3, Compression::None));
    let a = append(&mut log, &set.freeze(), RETAIN, &retained).unwrap();
    assert_eq!((a.base_offset, a.records), (1, 4));
    assert_eq!(log.producer(9).unwrap().last_seq(), 4);
}

#[test]
fn retain_cap_refuses_instead_of_evicting() {
    let one = batch(3, -1, -1, -1, Compression::None);
    let cap = StorageMode::Retain { max_bytes: one.len() as u64 + 10 };
    let mut log = PartitionLog::default();
    let retained = AtomicU64::new(0);
    append(&mut log, &one, cap, &retained).unwrap();
    let e = append(&mut log, &one, cap, &retained).unwrap_err();
    assert_eq!(e.error_code(), ErrorCode::PolicyViolation);
    assert!(e.to_string().contains("retain limit"), "{e}");
    assert_eq!(log.batches.len(), 1);
    assert_eq!(log.next_offset, 3);
}
