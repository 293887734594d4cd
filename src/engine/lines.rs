//! A vector whose first item starts a cache line: the engine's workers.
//!
//! A worker is 256 bytes, four cache lines, and nearly every event's first touch of it misses
//! the cache ([`super::hint`]). In a `Vec` its buffer starts 16 bytes past a line (where glibc
//! places a large allocation), so every worker spans five lines: one more to ask for and wait
//! on at each event. `#[repr(align(64))]` on the worker would align them, but Rust's system
//! allocator grows a vector of a type aligned beyond 16 bytes by allocating, copying and
//! freeing (glibc's `realloc` cannot keep such an alignment), so at the vector's last growth
//! both copies were resident: peak RSS went from 943 to 1,030 bytes a worker, over the target
//! (docs/SCALING.md).
//!
//! Here the items keep their own alignment and the buffer is allocated with a line to spare,
//! grown by `realloc` as a `Vec` is (glibc moves a large buffer's pages with `mremap`, no
//! copy), and the items start at the first line boundary in it. When a reallocation moves the
//! buffer to another offset within a line (small buffers; never an `mremap`, which keeps the
//! offset within the page), the items are moved to the new boundary within the buffer.
//!
//! Only what the engine uses: `push`, `shrink_to_fit`, and a slice for everything else.

use std::alloc::{self, Layout};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The cache line size of the machines we run on.
const LINE: usize = 64;

/// The smallest buffer allocated, in items (as `Vec` does for items this large).
const MIN_CAPACITY: usize = 4;

pub struct LineVec<T> {
    /// The allocation; dangling while `cap` is 0.
    raw: NonNull<u8>,
    /// Where the items start in it: the first line boundary at or after `raw`.
    skew: usize,
    len: usize,
    cap: usize,
    items: PhantomData<T>,
}

// SAFETY: a `LineVec<T>` owns its items as a `Vec<T>` does.
unsafe impl<T: Send> Send for LineVec<T> {}
// SAFETY: as above; shared access gives shared references to the items only.
unsafe impl<T: Sync> Sync for LineVec<T> {}

impl<T> LineVec<T> {
    /// Items are placed at multiples of their size from a line boundary: a size of zero or an
    /// alignment beyond a line is not supported (checked when the first buffer is allocated).
    const SUPPORTED: () = assert!(
        std::mem::size_of::<T>() > 0 && std::mem::align_of::<T>() <= LINE,
        "LineVec holds items of nonzero size aligned to at most a line"
    );

    pub const fn new() -> LineVec<T> {
        LineVec {
            raw: NonNull::dangling(),
            skew: 0,
            len: 0,
            cap: 0,
            items: PhantomData,
        }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The buffer for `cap` items: their bytes and a line to spare, aligned as one item.
    fn layout(cap: usize) -> Layout {
        let () = Self::SUPPORTED;
        cap.checked_mul(std::mem::size_of::<T>())
            .and_then(|bytes| bytes.checked_add(LINE))
            .and_then(|size| Layout::from_size_align(size, std::mem::align_of::<T>()).ok())
            .expect("LineVec capacity overflow")
    }

    fn start(&self) -> *mut T {
        if self.cap == 0 {
            NonNull::<T>::dangling().as_ptr()
        } else {
            // SAFETY: `skew` is within the allocation (below `LINE`, which it spares).
            unsafe { self.raw.as_ptr().add(self.skew).cast::<T>() }
        }
    }

    pub fn push(&mut self, item: T) {
        if self.len == self.cap {
            let cap = self
                .cap
                .checked_mul(2)
                .expect("LineVec capacity overflow")
                .max(MIN_CAPACITY);
            self.reallocate(cap);
        }
        // SAFETY: `len < cap`: the slot is within the buffer, and holds no item.
        unsafe { self.start().add(self.len).write(item) };
        self.len += 1;
    }

    /// Frees the room beyond the items.
    pub fn shrink_to_fit(&mut self) {
        if self.cap > self.len {
            self.reallocate(self.len);
        }
    }

    /// Makes the buffer hold `cap` items (at least `len`), the items at its first line
    /// boundary.
    fn reallocate(&mut self, cap: usize) {
        debug_assert!(cap >= self.len);
        if cap == 0 {
            self.free();
            return;
        }
        let layout = Self::layout(cap);
        let raw = if self.cap == 0 {
            // SAFETY: the layout's size is nonzero (it spares a line).
            unsafe { alloc::alloc(layout) }
        } else {
            // SAFETY: `raw` was allocated with `layout(self.cap)` by the global allocator, and
            // the new size is nonzero and fits `isize` (checked by `Layout`).
            unsafe { alloc::realloc(self.raw.as_ptr(), Self::layout(self.cap), layout.size()) }
        };
        let Some(raw) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        // Computed from the address: `align_offset` may give up (`usize::MAX`) by its contract.
        let skew = (LINE - raw.as_ptr() as usize % LINE) % LINE;
        if self.len > 0 && skew != self.skew {
            // `realloc` kept the first bytes, the items at the old offset: both ranges lie
            // within the new buffer (an offset is below `LINE`, which the buffer spares).
            // SAFETY: both ranges are within the allocation; `copy` allows them to overlap.
            unsafe {
                ptr::copy(
                    raw.as_ptr().add(self.skew),
                    raw.as_ptr().add(skew),
                    self.len * std::mem::size_of::<T>(),
                );
            }
        }
        self.raw = raw;
        self.skew = skew;
        self.cap = cap;
    }

    /// Drops the buffer, which holds no item.
    fn free(&mut self) {
        debug_assert_eq!(self.len, 0);
        if self.cap > 0 {
            // SAFETY: allocated with this layout by the global allocator.
            unsafe { alloc::dealloc(self.raw.as_ptr(), Self::layout(self.cap)) };
        }
        self.raw = NonNull::dangling();
        self.skew = 0;
        self.cap = 0;
    }
}

impl<T> Drop for LineVec<T> {
    fn drop(&mut self) {
        let items: *mut [T] = &mut **self;
        // No item is reachable once dropping begins, even if one's drop panics.
        self.len = 0;
        // SAFETY: the items were initialised, and are dropped once.
        unsafe { ptr::drop_in_place(items) };
        self.free();
    }
}

impl<T> Default for LineVec<T> {
    fn default() -> Self {
        LineVec::new()
    }
}

impl<T> Deref for LineVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the first `len` slots hold items; the start is aligned and non-null.
        unsafe { std::slice::from_raw_parts(self.start(), self.len) }
    }
}

impl<T> DerefMut for LineVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.start(), self.len) }
    }
}

impl<'a, T> IntoIterator for &'a LineVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut LineVec<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<T> FromIterator<T> for LineVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut list = LineVec::new();
        for item in items {
            list.push(item);
        }
        list
    }
}

impl<T: Clone> Clone for LineVec<T> {
    fn clone(&self) -> Self {
        let mut list = LineVec::new();
        list.reallocate(self.len);
        for item in self.iter() {
            list.push(item.clone());
        }
        list
    }
}

impl<T: fmt::Debug> fmt::Debug for LineVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Saved as a `Vec` is: a sequence of the items.
impl<T: Serialize> Serialize for LineVec<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LineVec<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Items<T> {
            type Value = LineVec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LineVec<T>, A::Error> {
                let mut list = LineVec::new();
                while let Some(item) = seq.next_element()? {
                    list.push(item);
                }
                Ok(list)
            }
        }
        deserializer.deserialize_seq(Items(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// 256 bytes, as a worker: four lines each once aligned.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Item {
        n: u64,
        name: String,
        pad: [u64; 28],
    }

    fn item(n: u64) -> Item {
        Item {
            n,
            name: format!("item-{n}"),
            pad: [n; 28],
        }
    }

    #[test]
    fn items_start_a_line_and_survive_every_growth_and_shrink() {
        assert_eq!(std::mem::size_of::<Item>(), 256);
        let mut list = LineVec::new();
        assert!(list.is_empty());
        for n in 0..5_000 {
            list.push(item(n));
            assert_eq!(list.as_ptr() as usize % LINE, 0);
            assert!(list.len() <= list.capacity());
        }
        assert!(list.iter().enumerate().all(|(i, it)| *it == item(i as u64)));
        list[17].n = 1_000_017;
        list.shrink_to_fit();
        assert_eq!(list.capacity(), 5_000);
        assert_eq!(list.as_ptr() as usize % LINE, 0);
        assert_eq!(list[17].n, 1_000_017);
        assert_eq!(list[4_999], item(4_999));
        let copy = list.clone();
        assert_eq!(&copy[..], &list[..]);
        assert_eq!(copy.as_ptr() as usize % LINE, 0);
    }

    /// Small buffers come from the allocator's heap, at any 16-byte offset within a line: a
    /// growth that lands at another offset moves the items to the new line boundary. Many
    /// lists grown in turn reach every offset (checked: each offset seen).
    #[test]
    fn a_reallocation_at_another_offset_moves_the_items() {
        let mut lists: Vec<LineVec<Item>> = (0..64).map(|_| LineVec::new()).collect();
        let mut offsets = std::collections::BTreeSet::new();
        for round in 0..40u64 {
            for (k, list) in lists.iter_mut().enumerate() {
                list.push(item(round * 1_000 + k as u64));
                offsets.insert(list.raw.as_ptr() as usize % LINE);
                assert_eq!(list.as_ptr() as usize % LINE, 0);
            }
        }
        for (k, list) in lists.iter().enumerate() {
            let expected: Vec<Item> = (0..40).map(|r| item(r * 1_000 + k as u64)).collect();
            assert_eq!(&list[..], &expected[..]);
        }
        assert!(offsets.len() > 1, "offsets seen: {offsets:?}");
    }

    #[test]
    fn every_item_is_dropped_once() {
        let counter = Rc::new(());
        let mut list = LineVec::new();
        for _ in 0..100 {
            list.push((Rc::clone(&counter), [0u64; 31]));
        }
        assert_eq!(Rc::strong_count(&counter), 101);
        list.shrink_to_fit();
        let copy = list.clone();
        assert_eq!(Rc::strong_count(&counter), 201);
        drop(list);
        assert_eq!(Rc::strong_count(&counter), 101);
        drop(copy);
        assert_eq!(Rc::strong_count(&counter), 1);
        let mut empty: LineVec<(Rc<()>, [u64; 31])> = LineVec::new();
        empty.shrink_to_fit();
        assert_eq!(empty.capacity(), 0);
    }

    #[test]
    fn saved_as_a_vec_is() {
        let list: LineVec<Item> = (0..10).map(item).collect();
        let saved = serde_json::to_string(&list).unwrap();
        let vec: Vec<Item> = (0..10).map(item).collect();
        // The same bytes as the `Vec` the engine held before.
        #[derive(Serialize)]
        struct Plain<'a>(&'a [Item]);
        assert_eq!(saved, serde_json::to_string(&Plain(&vec)).unwrap());
        let back: LineVec<Item> = serde_json::from_str(&saved).unwrap();
        assert_eq!(&back[..], &vec[..]);
        assert_eq!(back.as_ptr() as usize % LINE, 0);
        assert!(serde_json::from_str::<LineVec<Item>>("{}").is_err());
    }
}
