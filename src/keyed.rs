//! Hashing of keys a producer chooses (worker, person and event ids, names), seeded at random
//! for every table.
//!
//! With a fixed hash function (FxHash, or an unseeded digest placed by its bits) a hostile
//! producer can compute offline ids that fall on one slot, and each look-up then walks all of
//! them: a few thousand such ids make every event cost thousands of comparisons. With a
//! random seed per table, which ids collide is not known outside the process. Nothing may
//! depend on the order of such a table's entries (it differs from run to run); none does.

use std::collections::HashMap;

/// Random per instance (foldhash's fast hasher, seeded from the process's random state).
pub type KeyedState = foldhash::fast::RandomState;

/// A map keyed by producer-chosen keys.
pub type KeyedMap<K, V> = HashMap<K, V, KeyedState>;
