//! A worker's or person's id, held inline when it is short.
//!
//! Looking a worker up is one probe of the index per event, which compares the id held in the
//! worker ([`super::index`]). With a `Box<str>` that reads a second, random heap line (the id's
//! bytes) besides the worker's own; ids up to [`INLINE`] bytes (simulated and most platforms'
//! ids) sit in the worker itself, so the comparison reads memory the event reads anyway, and no
//! allocation is made per id.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest id held inline (the key is then 24 bytes, as a `Box<str>` and its length).
pub const INLINE: usize = 22;

#[derive(Clone)]
pub struct IdKey(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl IdKey {
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                // Copied from a `&str` in `From`, cut at its full length only.
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default()
            }
            Repr::Heap(s) => s,
        }
    }

    /// The id's bytes, without the check `as_str` makes (the worker index compares them).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Heap(s) => s.as_bytes(),
        }
    }
}

impl From<&str> for IdKey {
    fn from(s: &str) -> IdKey {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            IdKey(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            IdKey(Repr::Heap(s.into()))
        }
    }
}

impl From<String> for IdKey {
    fn from(s: String) -> IdKey {
        IdKey::from(s.as_str())
    }
}

impl From<Box<str>> for IdKey {
    fn from(s: Box<str>) -> IdKey {
        if s.len() <= INLINE {
            IdKey::from(&*s)
        } else {
            IdKey(Repr::Heap(s))
        }
    }
}

impl Deref for IdKey {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for IdKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Hash and equality are those of the `str`, as `Borrow` requires.
impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for IdKey {
    fn eq(&self, other: &IdKey) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for IdKey {}

// Saved as the string (worker records).
impl serde::Serialize for IdKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for IdKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(IdKey::from)
    }
}

impl fmt::Display for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    #[test]
    fn short_and_long_ids_are_found_by_their_str() {
        let long = "x".repeat(INLINE + 1);
        let edge = "y".repeat(INLINE);
        let mut map: FxHashMap<IdKey, u32> = FxHashMap::default();
        for (i, id) in ["", "w1", "骑手-0001", edge.as_str(), long.as_str()]
            .iter()
            .enumerate()
        {
            map.insert(IdKey::from(*id), i as u32);
        }
        assert_eq!(map.get(""), Some(&0));
        assert_eq!(map.get("w1"), Some(&1));
        assert_eq!(map.get("骑手-0001"), Some(&2));
        assert_eq!(map.get(edge.as_str()), Some(&3));
        assert_eq!(map.get(long.as_str()), Some(&4));
        assert_eq!(map.get("w"), None);
        assert_eq!(&*IdKey::from(Box::<str>::from(long.as_str())), long);
        assert!(matches!(IdKey::from(edge.as_str()).0, Repr::Inline { .. }));
        assert!(matches!(IdKey::from(long.as_str()).0, Repr::Heap(_)));
        assert_eq!(std::mem::size_of::<IdKey>(), 24);
        assert!(map.remove("w1").is_some() && !map.contains_key("w1"));
    }
}
