//! How fast `Vec::extend_from_slice` copies 16 and 64 KiB depending on the
//! distance between source and destination modulo 4 KiB: on some CPUs
//! (seen on an AMD EPYC VM) glibc's `rep movsb` path is many times slower
//! when the destination sits just above the source's page offset, which is
//! where two buffers allocated one after the other tend to land.
//!
//! `memcpy-alias` prints GB/s per source offset; no arguments.

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let src = vec![1u8; 64 * 1024 + 4096];
    let mut dst: Vec<u8> = Vec::with_capacity(64 * 1024 + 4096);
    let distance = (dst.as_ptr() as usize).wrapping_sub(src.as_ptr() as usize) % 4096;
    println!("destination - source = {distance} (mod 4096) at source offset 0");
    for off in [0usize, 16, 64, 256, 2048] {
        for len in [16 * 1024usize, 64 * 1024] {
            let iters = 20_000;
            let t = Instant::now();
            for _ in 0..iters {
                dst.clear();
                dst.extend_from_slice(&src[off..off + len]);
                black_box(&dst);
            }
            let gbs = (iters * len) as f64 / t.elapsed().as_secs_f64() / 1e9;
            println!(
                "source offset {off:4}, distance {:4}, {len:5} B: {gbs:5.1} GB/s",
                distance.wrapping_sub(off) % 4096
            );
        }
    }
}
