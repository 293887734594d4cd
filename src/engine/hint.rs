//! Cache hints for the engine's hot loop: a worker's state is a few hundred bytes in a table of
//! thousands, so nearly every event's first touch of it misses the cache. Events wait in the
//! reorder buffer, so which workers come next is known: their lines are asked for ahead, and
//! the misses overlap instead of coming one after another.

/// The cache line size of the machines we run on.
const LINE: usize = 64;

/// Starts loading the cache line holding `at` (a hint: it never faults, changes nothing).
#[inline(always)]
fn line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, even on an address that is not mapped,
    // and changes no memory. The addresses given are those of live values anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Starts loading every cache line of `value`.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_bytes((value as *const T).cast(), std::mem::size_of::<T>());
}

/// Starts loading every cache line of `items`, at most `max` of them.
#[inline(always)]
pub fn prefetch_slice<T>(items: &[T], max: usize) {
    prefetch_bytes(
        items.as_ptr().cast(),
        std::mem::size_of_val(items).min(max * LINE),
    );
}

#[inline(always)]
fn prefetch_bytes(start: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // From the line holding the first byte to the line holding the last.
    let first = start as usize & !(LINE - 1);
    let last = (start as usize + len - 1) & !(LINE - 1);
    let mut at = first;
    while at <= last {
        // A hint needs no provenance: the address alone is enough.
        line(at as *const u8);
        at += LINE;
    }
}
