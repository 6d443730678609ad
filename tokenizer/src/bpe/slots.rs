//! Fixed-size slot arrays for the lookup tables, on huge pages where the
//! operating system offers them.
//!
//! The whole-token and pair tables of a 200k vocabulary are 8 MiB each and
//! are probed at random: with 4 KiB pages that is 4096 pages, more than the
//! CPU's TLB holds, so a probe that misses the cache often misses the TLB
//! too, and a software prefetch then stalls on the page walk. On Linux the
//! arrays are anonymous mappings advised `MADV_HUGEPAGE` (2 MiB pages, where
//! transparent huge pages are enabled in `madvise` or `always` mode); when
//! the mapping fails or elsewhere they are ordinary vectors. The contents and
//! results are the same either way.

use std::ops::{Deref, DerefMut};

/// Plain data that may live in a [`Slots`] array.
///
/// # Safety
/// Every bit pattern, in particular all zeros, must be a valid value, and
/// the type must have no drop glue and an alignment of at most 4096.
pub(crate) unsafe trait Pod: Copy + 'static {}

// SAFETY: integers: any bits are valid, no drop, alignment 8.
unsafe impl Pod for u64 {}

enum Backing<T: Pod> {
    #[cfg(target_os = "linux")]
    Map(memmap2::MmapMut, usize),
    Vec(Vec<T>),
}

/// A fixed-length array of `T`, every element initialized to `fill`.
pub(crate) struct Slots<T: Pod> {
    backing: Backing<T>,
}

/// Below this many bytes a plain vector is used (huge pages cannot help).
const MIN_MAPPED: usize = 2 << 20;

impl<T: Pod> Slots<T> {
    pub(crate) fn new(len: usize, fill: T) -> Slots<T> {
        #[cfg(target_os = "linux")]
        {
            let bytes = len * std::mem::size_of::<T>();
            if bytes >= MIN_MAPPED
                && let Ok(map) = memmap2::MmapMut::map_anon(bytes)
            {
                // Advice only: if the kernel declines, we keep 4 KiB pages.
                let _ = map.advise(memmap2::Advice::HugePage);
                let mut s = Slots { backing: Backing::Map(map, len) };
                s.fill(fill);
                return s;
            }
        }
        Slots { backing: Backing::Vec(vec![fill; len]) }
    }
}

impl<T: Pod> Deref for Slots<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        match &self.backing {
            #[cfg(target_os = "linux")]
            // SAFETY: the mapping is page aligned (so aligned for T, whose
            // alignment is at most a page), holds `len * size_of::<T>()`
            // bytes, was zero-filled by the kernel and then written only
            // with valid `T`s; T is Pod, so any bits are a valid T. The
            // borrow of `self` keeps the mapping alive.
            Backing::Map(map, len) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<T>(), *len) },
            Backing::Vec(v) => v,
        }
    }
}

impl<T: Pod> DerefMut for Slots<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.backing {
            #[cfg(target_os = "linux")]
            // SAFETY: as in `deref`; the mapping is private and writable,
            // and `&mut self` makes this the only reference to it.
            Backing::Map(map, len) => unsafe {
                std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<T>(), *len)
            },
            Backing::Vec(v) => v,
        }
    }
}

impl<T: Pod> Clone for Slots<T> {
    fn clone(&self) -> Slots<T> {
        let Some(&first) = self.first() else {
            return Slots { backing: Backing::Vec(Vec::new()) };
        };
        let mut out = Slots::new(self.len(), first);
        out.copy_from_slice(self);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_mapped_arrays_behave_alike() {
        for len in [0usize, 10, (4 << 20) / 8 + 3] {
            let mut s = Slots::new(len, u64::MAX);
            assert_eq!(s.len(), len);
            assert!(s.iter().all(|&x| x == u64::MAX));
            if len > 0 {
                s[len - 1] = 7;
                let c = s.clone();
                assert_eq!(c[len - 1], 7);
                assert_eq!(c[0], if len == 1 { 7 } else { u64::MAX });
            }
        }
    }
}
