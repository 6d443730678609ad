//! A 64-byte aligned, zero-initialised f32 buffer that only reallocates when
//! it must grow (workspaces size it once; the step loop never allocates).

/// One cache line of floats; a `Vec` of these is 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Buffers of at least this many bytes ask for transparent huge pages.
const HUGE: usize = 4 << 20;

/// Asks the kernel to back `[ptr, ptr+len)` with 2 MiB pages where it can.
///
/// Why: the backward's weight-gradient GEMMs read dG transposed, one row of
/// 8 KiB stride per k step, so with 4 KiB pages every k touches a new page
/// and the packing stalls on TLB misses. Best effort: errors are ignored.
#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    const PAGE: usize = 2 << 20;
    let start = (ptr as usize).div_ceil(PAGE) * PAGE;
    let end = (ptr as usize + len) / PAGE * PAGE;
    if end > start {
        // SAFETY: the range lies inside an allocation we own; madvise with
        // MADV_HUGEPAGE changes no contents and cannot invalidate memory.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _len: usize) {}

/// A growable f32 buffer whose start is 64-byte aligned.
#[derive(Clone, Default)]
pub struct AlignedBuf {
    lines: Vec<Line>,
    len: usize,
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf").field("len", &self.len).finish()
    }
}

impl AlignedBuf {
    /// An empty buffer (no allocation).
    pub fn new() -> AlignedBuf {
        AlignedBuf { lines: Vec::new(), len: 0 }
    }

    /// A buffer of `len` zeros.
    pub fn zeros(len: usize) -> AlignedBuf {
        let mut b = AlignedBuf::new();
        b.resize(len);
        b
    }

    /// Sets the length to `len`. Growing beyond the capacity reallocates;
    /// newly exposed floats are zero. Contents are otherwise kept.
    pub fn resize(&mut self, len: usize) {
        let lines = len.div_ceil(16);
        if lines > self.lines.len() {
            if lines > self.lines.capacity() && lines * 64 >= HUGE {
                // A fresh allocation, advised before the first touch.
                let mut fresh: Vec<Line> = Vec::with_capacity(lines);
                advise_huge(fresh.as_mut_ptr() as *mut u8, lines * 64);
                fresh.extend_from_slice(&self.lines);
                self.lines = fresh;
            }
            self.lines.resize(lines, Line([0.0; 16]));
        }
        self.len = len;
    }

    /// Number of floats.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held (capacity), for memory accounting.
    pub fn capacity_bytes(&self) -> usize {
        self.lines.capacity() * 64
    }

    pub fn as_slice(&self) -> &[f32] {
        // SAFETY: `lines` holds at least `len` initialised floats laid out
        // contiguously (Line is repr(C) over [f32; 16], size 64).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const f32, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as in `as_slice`, with unique access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut f32, self.len) }
    }

    pub fn as_ptr(&self) -> *const f32 {
        self.lines.as_ptr() as *const f32
    }

    pub fn as_mut_ptr(&mut self) -> *mut f32 {
        self.lines.as_mut_ptr() as *mut f32
    }
}
