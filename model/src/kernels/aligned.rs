//! A 64-byte aligned, zero-initialised f32 buffer that only reallocates when
//! it must grow (workspaces size it once; the step loop never allocates).

/// One cache line of floats; a `Vec` of these is 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

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
