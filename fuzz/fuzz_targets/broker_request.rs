//! The mock broker's request path on arbitrary bytes: frames are cut from the input as from a
//! socket and handled against a fresh in-memory cluster (no sockets). Must never panic, and every
//! response written must itself be a well-formed frame.
#![no_main]

use bytes::BytesMut;
use kprod::broker::{ClusterConfig, ClusterState, Outcome, StorageMode, Validation, handle_frame};
use kprod::protocol::split_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = ClusterConfig {
        default_partitions: 3,
        mode: StorageMode::Retain { max_bytes: 1 << 20 },
        validation: Validation::Full,
        max_frame_bytes: 1 << 20,
        ..Default::default()
    };
    let addresses = (0..3).map(|i| std::net::SocketAddr::from(([127, 0, 0, 1], 9092 + i))).collect();
    let state = ClusterState::new(config, addresses);
    let mut input = BytesMut::from(data);
    let mut out = BytesMut::new();
    while let Ok(Some(frame)) = split_frame(&mut input, 1 << 20) {
        let before = out.len();
        let handled = handle_frame(&state, 0, &mut kprod::broker::Session::default(), frame, &mut out);
        match handled.outcome {
            Outcome::Respond => {
                let mut written = out.split_off(before);
                assert!(matches!(split_frame(&mut written, usize::MAX), Ok(Some(_))));
                assert!(written.is_empty());
            }
            Outcome::Silent => assert_eq!(out.len(), before),
            Outcome::Close => break,
        }
    }
});
