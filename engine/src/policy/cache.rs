//! Bounded caches keyed by content digests, shared by every thread of a [`super::PolicyEngine`].
//!
//! Eviction is "two generations" rather than exact LRU: entries go into the current map; when it
//! holds half the capacity it becomes the previous generation and a new current map starts. A hit
//! in the previous generation moves the entry forward. Whatever is not used for a whole
//! generation is dropped with it. This keeps memory at most `capacity` entries, costs O(1) per
//! operation with no per-entry bookkeeping, and keeps the working set of a busy webhook (the same
//! policies over the same rendered objects) resident.

use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};

/// SHA-256 of some content.
pub type Digest = [u8; 32];

/// Hit and miss counts of one cache, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
}

/// Counters of both caches of a [`super::PolicyEngine`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Compiled modules, by digest of the Rego text.
    pub compiled: CacheCounters,
    /// Evaluation outcomes, by (policy digest, input digest).
    pub evaluations: CacheCounters,
}

pub(crate) struct BoundedCache<K, V> {
    generations: Mutex<Generations<K, V>>,
    /// A retired generation, emptied away from any request, waiting to become the next one:
    /// its table is allocated and its memory resident, so filling it faults in no page (a
    /// fresh table of 16,384 outcomes faults in about a thousand, over the next few reviews).
    spare: Arc<Mutex<Option<HashMap<K, V>>>>,
    /// Size of one generation: half the configured capacity, at least 1.
    generation_size: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
}

impl<K: Hash + Eq + Send + 'static, V: Clone + Send + 'static> BoundedCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        let generation_size = (capacity / 2).max(1);
        BoundedCache {
            // The first generation, like every later one, is allocated at its full size: grown
            // step by step it would rehash at 7/8 of each power of two, inside the lock, in
            // whichever request crossed the line (reviews 12, 25 and 51 of a fresh webhook).
            // Only the table's control bytes are written up front; its slots are touched as
            // they fill.
            generations: Mutex::new(Generations {
                current: HashMap::with_capacity(generation_size),
                previous: HashMap::new(),
            }),
            spare: Arc::new(Mutex::new(None)),
            generation_size,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.get_many([key]).pop().flatten()
    }

    /// [`Self::get`] for many keys under one lock: a warm release looks up a thousand outcomes.
    pub(crate) fn get_many<'k>(&self, keys: impl IntoIterator<Item = &'k K>) -> Vec<Option<V>>
    where
        K: 'k,
    {
        let mut generations = self.lock();
        let mut hits = 0;
        let mut retired = Vec::new();
        let found: Vec<Option<V>> = keys
            .into_iter()
            .map(|key| {
                let found = match generations.current.get(key) {
                    Some(value) => Some(value.clone()),
                    None => match generations.previous.remove_entry(key) {
                        Some((key, value)) => {
                            let found = value.clone();
                            retired.extend(self.insert_locked(&mut generations, key, value));
                            Some(found)
                        }
                        None => None,
                    },
                };
                hits += u64::from(found.is_some());
                found
            })
            .collect();
        drop(generations);
        retired.into_iter().for_each(|g| self.retire(g));
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(found.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        self.insert_many([(key, value)]);
    }

    /// [`Self::insert`] for many entries under one lock: the outcomes of a batch.
    pub(crate) fn insert_many(&self, entries: impl IntoIterator<Item = (K, V)>) {
        let mut generations = self.lock();
        let mut retired = Vec::new();
        for (key, value) in entries {
            retired.extend(self.insert_locked(&mut generations, key, value));
        }
        drop(generations);
        retired.into_iter().for_each(|g| self.retire(g));
    }

    /// Inserts; when the current generation is full it becomes the previous one, and the
    /// generation it replaces is returned, to be dropped after the lock is released.
    fn insert_locked(
        &self,
        generations: &mut Generations<K, V>,
        key: K,
        value: V,
    ) -> Option<HashMap<K, V>> {
        generations.current.insert(key, value);
        if generations.current.len() < self.generation_size {
            return None;
        }
        // See `new`: a generation never grows.
        let next = unpoisoned(&self.spare)
            .take()
            .unwrap_or_else(|| HashMap::with_capacity(self.generation_size));
        let full = std::mem::replace(&mut generations.current, next);
        Some(std::mem::replace(&mut generations.previous, full))
    }

    pub(crate) fn clear(&self) {
        let mut generations = self.lock();
        generations.current.clear();
        generations.previous.clear();
    }

    pub(crate) fn counters(&self) -> CacheCounters {
        let generations = self.lock();
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: generations.current.len() + generations.previous.len(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Generations<K, V>> {
        unpoisoned(&self.generations)
    }

    /// Retired generations hold thousands of entries (a render output is a whole release's
    /// objects): freeing them takes milliseconds, which no request should wait for, so a
    /// short-lived thread empties the table and leaves it as the spare. Small ones are emptied
    /// here; when no thread can be started, the generation is simply dropped.
    fn retire(&self, mut generation: HashMap<K, V>) {
        const FREE_INLINE_BELOW: usize = 64;
        // The very first previous generation was never allocated at full size.
        let reusable = generation.capacity() >= self.generation_size;
        let small = generation.len() < FREE_INLINE_BELOW;
        let spare = Arc::clone(&self.spare);
        let recycle = move || {
            generation.clear();
            if reusable {
                *unpoisoned(&spare) = Some(generation);
            }
        };
        if small {
            recycle();
            return;
        }
        let _ = std::thread::Builder::new()
            .name("cache-retire".into())
            .spawn(recycle);
    }
}

/// A panic while holding a cache's lock cannot leave its maps half-updated in a way that
/// matters for a cache (at worst an entry is missing), so a poisoned lock is simply reused.
fn unpoisoned<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Incremental SHA-256 over several fields. Strings are length-prefixed so that
/// ("ab", "c") and ("a", "bc") never give the same digest.
pub(crate) struct Hasher(Sha256);

impl Hasher {
    /// Starts a digest in a domain, so that digests of differently shaped inputs never collide.
    pub(crate) fn new(domain: &str) -> Self {
        let mut hasher = Hasher(Sha256::new());
        hasher.str(domain);
        hasher
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
        self
    }

    /// Adds a JSON value in its serialised form, length-terminated by a separator byte that
    /// cannot appear in JSON text.
    pub(crate) fn json<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        // Serialising into the hasher needs no buffer; serde_json cannot fail on these types
        // (string keys only), and a failure would only make the digest differ, never collide.
        let _ = serde_json::to_writer(&mut *self, value);
        self.0.update([0xff]);
        self
    }

    pub(crate) fn finish(self) -> Digest {
        self.0.finalize().into()
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of a text.
pub(crate) fn digest_text(text: &str) -> Digest {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_bounded_and_hot_entries_survive() {
        let cache = BoundedCache::new(8);
        for i in 0..100u32 {
            cache.insert(i, i);
            // Key 0 is used all the time: it moves forward with every generation.
            assert_eq!(cache.get(&0), Some(0));
            assert!(cache.counters().entries <= 8);
        }
        assert_eq!(cache.get(&1), None, "a cold entry is evicted");
        assert_eq!(cache.get(&99), Some(99));
        let counters = cache.counters();
        assert_eq!((counters.hits, counters.misses), (101, 1));
    }

    #[test]
    fn a_retired_generation_is_emptied_and_becomes_the_next_one() {
        let cache = BoundedCache::new(8);
        let spare = || unpoisoned(&cache.spare).as_ref().map(HashMap::capacity);
        (0..4u32).for_each(|i| cache.insert(i, i));
        assert_eq!(
            spare(),
            None,
            "the first previous generation was never full-sized"
        );
        (4..8u32).for_each(|i| cache.insert(i, i));
        let capacity = spare().expect("the retired generation is kept");
        assert!(capacity >= 4);
        assert!(unpoisoned(&cache.spare).as_ref().unwrap().is_empty());
        (8..12u32).for_each(|i| cache.insert(i, i));
        assert_eq!(
            spare(),
            Some(capacity),
            "taken, then replaced by the next retired one"
        );
        assert_eq!(cache.get(&5), None, "two generations back is gone");
        assert_eq!(
            cache.get(&9),
            Some(9),
            "the previous generation still answers"
        );
    }

    #[test]
    fn field_boundaries_change_the_digest() {
        let mut a = Hasher::new("t");
        a.str("ab").str("c");
        let mut b = Hasher::new("t");
        b.str("a").str("bc");
        assert_ne!(a.finish(), b.finish());
    }
}
