//! Short lists a worker changes at nearly every order (its active orders, the day's
//! deliveries), held as a boxed slice with a spare slot or two at its end.
//!
//! A boxed slice costs 16 bytes in every worker instead of a vector's 24, and nothing once
//! empty (memory per worker is a target). Reallocated to its exact length at every change, it
//! cost a `realloc` at about every order event, some 6 % of a replay's time. Here a full list
//! grows to the least `k * STEP + 1` slots that hold one more item, and one that has more than
//! `STEP` slots spare shrinks to that count for its items, so changes back and forth write a
//! slot in place. The items in use are the slice's prefix before its first
//! [`Vacant::VACANT`] slot, which no real item may equal ([`Vacant::occupied`]).
//!
//! Memory per worker stays under its target only with small steps: with glibc, a chunk is 8
//! bytes of header and a multiple of 16 (at least 32), so an odd count of 8-byte slots costs
//! what one fewer does, and `STEP` 2 halves the reallocations of the day's deliveries for
//! nothing. Steps of 4 for them and 2 for active orders cost 44 bytes more per worker
//! (`bench/replay.sh memory`: 1,032 against 988).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An item type with a value that marks a spare slot.
pub trait Vacant: Copy + PartialEq {
    /// The value of a spare slot.
    const VACANT: Self;

    /// `self`, or, when it is [`Vacant::VACANT`], the item that stands for it (the caller's
    /// values are hashes: one value is given up for the mark).
    fn occupied(self) -> Self;
}

/// A list of items, with at most `STEP` spare slots at its end (see the module).
#[derive(Debug, Clone)]
pub struct Spare<T, const STEP: usize>(Box<[T]>);

/// Lists are equal when their items in use are (a restored state has no spare slots).
impl<T: Vacant, const STEP: usize> PartialEq for Spare<T, STEP> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Vacant + Eq, const STEP: usize> Eq for Spare<T, STEP> {}

impl<T, const STEP: usize> Default for Spare<T, STEP> {
    fn default() -> Self {
        Spare(Box::default())
    }
}

impl<T: Vacant, const STEP: usize> Spare<T, STEP> {
    /// Items in use.
    #[inline]
    pub fn len(&self) -> usize {
        // From the end: at most `STEP` slots are spare.
        let mut len = self.0.len();
        while len > 0 && self.0[len - 1] == T::VACANT {
            len -= 1;
        }
        len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.first().is_none_or(|item| *item == T::VACANT)
    }

    /// The whole allocation, spare slots included (to prefetch: reads nothing).
    pub fn allocation(&self) -> &[T] {
        &self.0
    }

    /// Appends `item` (made [`Vacant::occupied`]).
    pub fn push(&mut self, item: T) {
        let item = item.occupied();
        let len = self.len();
        if len < self.0.len() {
            self.0[len] = item;
            return;
        }
        let mut items = std::mem::take(&mut self.0).into_vec();
        let capacity = Self::capacity(len + 1);
        items.reserve_exact(capacity - len);
        items.push(item);
        items.resize(capacity, T::VACANT);
        self.0 = items.into_boxed_slice();
    }

    /// The slots allocated for `len` (at least 1) items: the least `k * STEP + 1` that holds
    /// them.
    fn capacity(len: usize) -> usize {
        len + (1 + STEP - len % STEP) % STEP
    }

    /// Removes the item at `at`, the last one taking its place.
    pub fn swap_remove(&mut self, at: usize) {
        let last = self.len() - 1;
        self.0[at] = self.0[last];
        self.0[last] = T::VACANT;
        if last == 0 {
            // Freed: a worker with nothing in the list keeps no allocation.
            self.0 = Box::default();
        } else if self.0.len() - last > STEP {
            let mut items = std::mem::take(&mut self.0).into_vec();
            items.truncate(Self::capacity(last));
            self.0 = items.into_boxed_slice();
        }
    }

    /// Empties the list and frees its allocation.
    pub fn clear(&mut self) {
        self.0 = Box::default();
    }
}

impl<T: Vacant, const STEP: usize> std::ops::Deref for Spare<T, STEP> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.0[..self.len()]
    }
}

impl<T: Vacant, const STEP: usize> std::ops::DerefMut for Spare<T, STEP> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        let len = self.len();
        &mut self.0[..len]
    }
}

/// Saved as the items in use, as the boxed slice it replaced was (same state format).
impl<T: Vacant + Serialize, const STEP: usize> Serialize for Spare<T, STEP> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de, T: Vacant + Deserialize<'de>, const STEP: usize> Deserialize<'de> for Spare<T, STEP> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(deserializer)?;
        Ok(Spare(items.into_iter().map(T::occupied).collect()))
    }
}

impl Vacant for u64 {
    const VACANT: u64 = 0;

    fn occupied(self) -> u64 {
        self.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_odd_counts_and_shrinks_past_a_step_keeping_the_items_in_use() {
        let mut list = Spare::<u64, 2>::default();
        assert!(list.is_empty());
        assert_eq!(list.allocation().len(), 0);
        list.push(7);
        assert_eq!((&*list, list.allocation().len()), (&[7][..], 1));
        list.push(0); // the mark: stored as 1
        assert_eq!((&*list, list.allocation().len()), (&[7, 1][..], 3));
        list.push(3);
        assert_eq!(list.allocation().len(), 3, "filled in place");
        for item in 4..=6 {
            list.push(item);
        }
        assert_eq!(&*list, &[7, 1, 3, 4, 5, 6]);
        assert_eq!(list.allocation().len(), 7);
        // Removing takes the last into the gap, as a vector's swap_remove.
        list.swap_remove(0);
        assert_eq!(&*list, &[6, 1, 3, 4, 5]);
        assert_eq!(list.allocation().len(), 7, "2 spare: kept");
        list.swap_remove(4);
        assert_eq!(&*list, &[6, 1, 3, 4]);
        assert_eq!(list.allocation().len(), 5, "3 spare: shrunk to 5, 1 spare");
        list[1] = 9;
        assert_eq!(&*list, &[6, 9, 3, 4]);
        assert!(list.contains(&3) && !list.contains(&0));
        for _ in 0..4 {
            list.swap_remove(0);
        }
        assert!(list.is_empty());
        assert_eq!(list.allocation().len(), 0, "empty: freed");
        list.push(2);
        list.clear();
        assert_eq!((list.len(), list.allocation().len()), (0, 0));
    }

    #[test]
    fn with_a_step_of_one_keeps_one_slot_spare() {
        let mut list = Spare::<u64, 1>::default();
        list.push(5);
        list.push(6);
        assert_eq!(list.allocation().len(), 2, "exact");
        list.swap_remove(0);
        assert_eq!((&*list, list.allocation().len()), (&[6][..], 2));
        list.push(8);
        assert_eq!((&*list, list.allocation().len()), (&[6, 8][..], 2), "back in place");
        list.push(9);
        list.swap_remove(2);
        list.swap_remove(1);
        assert_eq!((&*list, list.allocation().len()), (&[6][..], 1), "2 spare: shrunk");
    }

    #[test]
    fn is_saved_as_the_items_in_use() {
        let mut list = Spare::<u64, 2>::default();
        list.push(5);
        list.push(6);
        assert_eq!(list.allocation().len(), 3);
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, "[5,6]");
        // The format of the boxed slice it replaced; a 0 there is read as the 1 it stands for.
        let boxed: Box<[u64]> = serde_json::from_str(&json).unwrap();
        assert_eq!(&*boxed, &[5, 6]);
        let back: Spare<u64, 2> = serde_json::from_str("[5,0,6]").unwrap();
        assert_eq!(&*back, &[5, 1, 6]);
        // Equal by the items in use, whatever the spare slots.
        let restored: Spare<u64, 2> = serde_json::from_str(&json).unwrap();
        assert_eq!(restored.allocation().len(), 2);
        assert_eq!(restored, list);
        assert_ne!(back, list);
    }
}
