//! The data-cache sizes the GEMM blocking is derived from, measured once:
//! Linux sysfs (`/sys/devices/system/cpu/cpu0/cache/index*`) first, then
//! CPUID (AMD leaf 0x8000001D, Intel leaf 4: ways x partitions x line x
//! sets), then conservative defaults (32 KiB, 256 KiB, 8 MiB).
//!
//! [`Blocking::derive`] turns them into the GEMM's depth and row
//! blocks (see there); `lm bench` prints both.

use std::sync::OnceLock;

/// Per-core L1 data and L2 sizes and the (shared) L3 size, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    pub l1d: usize,
    pub l2: usize,
    /// 0 when the CPU reports none.
    pub l3: usize,
    /// Where the sizes came from: "sysfs", "cpuid" or "default".
    pub source: &'static str,
}

impl CacheSizes {
    /// Used when neither sysfs nor CPUID answers.
    pub const DEFAULT: CacheSizes =
        CacheSizes { l1d: 32 << 10, l2: 256 << 10, l3: 8 << 20, source: "default" };

    /// This machine's sizes, detected once and cached.
    pub fn detect() -> CacheSizes {
        static SIZES: OnceLock<CacheSizes> = OnceLock::new();
        *SIZES.get_or_init(|| {
            let c = from_sysfs().or_else(from_cpuid).unwrap_or(CacheSizes::DEFAULT);
            log::debug!("kernels: caches {c:?}");
            c
        })
    }
}

/// Parses sysfs's `size` ("32K", "512K", "32768K", "1M", or bytes).
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1usize << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().ok().map(|n| n * mul)
}

fn from_sysfs() -> Option<CacheSizes> {
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let (mut l1d, mut l2, mut l3) = (0, 0, 0);
    for i in 0..16 {
        let dir = base.join(format!("index{i}"));
        let Ok(level) = std::fs::read_to_string(dir.join("level")) else { break };
        let ty = std::fs::read_to_string(dir.join("type")).unwrap_or_default();
        let size = std::fs::read_to_string(dir.join("size")).ok().and_then(|s| parse_size(&s)).unwrap_or(0);
        match (level.trim(), ty.trim()) {
            ("1", "Data") | ("1", "Unified") => l1d = size,
            ("2", _) if ty.trim() != "Instruction" => l2 = size,
            ("3", _) if ty.trim() != "Instruction" => l3 = size,
            _ => {}
        }
    }
    (l1d > 0 && l2 > 0).then_some(CacheSizes { l1d, l2, l3, source: "sysfs" })
}

#[cfg(target_arch = "x86_64")]
fn from_cpuid() -> Option<CacheSizes> {
    use std::arch::x86_64::__cpuid_count;
    // CPUID exists on every x86-64 CPU (the intrinsic is safe).
    let max_ext = __cpuid_count(0x8000_0000, 0).eax;
    let max_std = __cpuid_count(0, 0).eax;
    // AMD's leaf 0x8000001D has leaf 4's layout; prefer it where it exists
    // (topology extensions, CPUID 0x80000001 ECX bit 22).
    let amd_topo = max_ext >= 0x8000_001D && (__cpuid_count(0x8000_0001, 0).ecx >> 22) & 1 == 1;
    let leaf = if amd_topo {
        0x8000_001D
    } else if max_std >= 4 {
        4
    } else {
        return None;
    };
    let (mut l1d, mut l2, mut l3) = (0, 0, 0);
    for sub in 0..16 {
        let r = __cpuid_count(leaf, sub);
        let ty = r.eax & 0x1f;
        if ty == 0 {
            break;
        }
        let level = (r.eax >> 5) & 0x7;
        let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
        let parts = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        let size = ways * parts * line * sets;
        match (level, ty) {
            (1, 1) | (1, 3) => l1d = size,
            (2, 1) | (2, 3) => l2 = size,
            (3, 1) | (3, 3) => l3 = size,
            _ => {}
        }
    }
    (l1d > 0 && l2 > 0).then_some(CacheSizes { l1d, l2, l3, source: "cpuid" })
}

#[cfg(not(target_arch = "x86_64"))]
fn from_cpuid() -> Option<CacheSizes> {
    None
}

/// The GEMM blocking of one ISA on this machine.
///
/// - `kc` (depth of one microkernel call in the packed and row drivers):
///   the block of B a task keeps hot, [`B_PANELS_HOT`] panels of KC x NR,
///   fills half the L2, so it survives the A and C traffic passing by. With
///   NR = 16 (AVX2) on a 512 KiB L2 and NR = 32 (AVX-512) on a 1 MiB L2 this
///   is 512; on a 256 KiB L2 with AVX2, 256. Clamped to [128, 1024] and
///   rounded down to a multiple of 64.
/// - `mc` (rows of A per packed-A task): the packed A block, MC x KC,
///   fills a quarter of the L2, in whole MR tiles, at least 2 tiles.
///
/// The result is the same for any blocking (C is stored and reloaded
/// unchanged between depth blocks); only the speed depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    pub mc: usize,
    pub kc: usize,
}

/// B panels per task a block of depth KC is sized for (the head's logits
/// driver keeps exactly this many in L2; see `gemm::gemm_rows_grouped`).
pub const B_PANELS_HOT: usize = 8;

impl Blocking {
    /// The blocking for tile `mr` x `nr` with the given caches.
    pub fn derive(mr: usize, nr: usize, caches: &CacheSizes) -> Blocking {
        let kc = (caches.l2 / 2 / (B_PANELS_HOT * nr * 4)).clamp(128, 1024) / 64 * 64;
        let mc = ((caches.l2 / 4 / (kc * 4)) / mr).max(2) * mr;
        Blocking { mc, kc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn blocking_follows_the_l2() {
        let zen3 = CacheSizes { l1d: 32 << 10, l2: 512 << 10, l3: 32 << 20, source: "test" };
        let zen4 = CacheSizes { l2: 1 << 20, ..zen3 };
        let hsw = CacheSizes { l2: 256 << 10, ..zen3 };
        assert_eq!(Blocking::derive(6, 16, &zen3), Blocking { mc: 60, kc: 512 });
        assert_eq!(Blocking::derive(8, 32, &zen4), Blocking { mc: 128, kc: 512 });
        assert_eq!(Blocking::derive(6, 16, &hsw), Blocking { mc: 60, kc: 256 });
    }

    #[test]
    fn detected_sizes_are_plausible() {
        let c = CacheSizes::detect();
        assert!(c.l1d >= 4 << 10 && c.l1d <= 4 << 20, "{c:?}");
        assert!(c.l2 >= c.l1d, "{c:?}");
    }
}
