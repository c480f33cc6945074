//! Proves the append path does not allocate per record: a counting global allocator that counts only the
//! allocations of the thread that armed it (so other tests running in parallel do not disturb the count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use kprod::producer::accumulator::{AccumulatorConfig, AppendOutcome, AppendRecord, OpenGate, RecordAccumulator};
use kprod::producer::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
use kprod::record::{Compression, Header};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, COUNT.with(Cell::get))
}

fn cluster(topic: &str, partitions: i32) -> Cluster {
    let t = TopicInfo {
        name: topic.into(),
        partitions: (0..partitions).map(|p| PartitionInfo { partition: p, leader: 1, leader_epoch: 0 }).collect(),
        available: (0..partitions as u32).collect(),
        error: kprod::protocol::error::ErrorCode::None,
    };
    Cluster::new(vec![BrokerInfo { id: 1, host: "127.0.0.1".into(), port: 9 }], vec![t], None, None)
}

/// Appends `n` records (drained and released as batches fill) and returns (allocations, batches created).
fn run(acc: &RecordAccumulator, c: &Cluster, n: usize, key: Option<&[u8]>, headers: &[Header]) -> (u64, u64) {
    let t = acc.topic("t", 1);
    let value = [7u8; 100];
    let now = Instant::now();
    let mut batches = 0;
    let ((), allocs) = counted(|| {
        for i in 0..n {
            let rec = AppendRecord {
                timestamp_ms: 1_700_000_000_000 + i as i64,
                key,
                value: Some(&value),
                headers,
                user_data: i as u64,
            };
            match acc.append(&t, 0, &rec, &mut None, false, false, now) {
                AppendOutcome::Appended { new_batch, batch_full, .. } => {
                    batches += new_batch as u64;
                    if batch_full {
                        for mut b in acc.drain(c, 1, usize::MAX, &mut OpenGate, now) {
                            acc.deallocate(&mut b);
                        }
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    (allocs, batches)
}

#[test]
fn append_path_has_no_per_record_allocation() {
    // With every record's facts kept (a producer with hooks or ack interceptors) and without (issue 19).
    for infos in [true, false] {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            batch_size: 16384,
            linger: Duration::from_millis(5),
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            buffer_memory: 32 << 20,
        })
        .with_record_infos(infos);
        let c = cluster("t", 1);
        // Warm up: buffers go to the pool's free list, tables are built.
        run(&acc, &c, 20_000, None, &[]);
        let headers = [Header { key: "h".into(), value: Some(bytes::Bytes::from_static(b"v")) }];
        for (name, key, hdrs) in
            [("keyless", None, &[][..]), ("keyed", Some(&[1u8; 16][..]), &[][..]), ("headers", None, &headers[..])]
        {
            let n = 100_000;
            let (allocs, batches) = run(&acc, &c, n, key, hdrs);
            assert!(batches > 100, "{name}: the run must cross many batches");
            // A batch costs a few allocations (its completion slot, its record-info vector when kept,
            // bookkeeping); a record costs none: allocations stay bounded by batches, not records.
            let per_batch = allocs as f64 / batches as f64;
            eprintln!(
                "{name}, record infos {infos}: {allocs} allocations for {n} records in {batches} batches \
                 ({per_batch:.2}/batch)"
            );
            assert!(
                allocs <= batches * 4,
                "{name}: {allocs} allocations for {batches} batches — something allocates per record"
            );
            assert!((allocs as f64) < n as f64 * 0.05, "{name}: {allocs} allocations for {n} records");
        }
    }
}
