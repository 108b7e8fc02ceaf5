//! The slab a loop keeps its connections or its listeners in.
//!
//! Keys are generation-checked, and tasks are taken out of their slot while they run, so a
//! running task can use the loop (and the slab) without aliasing itself.

use slab::Slab;

use crate::command::Key;

/// A slab entry: the generation naming its occupant and the task, out of the slab while
/// it runs.
struct Slot<T: ?Sized> {
    generation: u64,
    task: Option<Box<T>>,
}

/// Tasks by [`Key`]. A key names one occupant only: once its slot is freed and reused, the
/// old key's generation no longer matches and finds nothing.
pub(crate) struct Slots<T: ?Sized> {
    slab: Slab<Slot<T>>,
}

impl<T: ?Sized> Slots<T> {
    /// No tasks.
    pub(crate) fn new() -> Self {
        Self { slab: Slab::new() }
    }

    /// Reserves a slot for the occupant of `generation`, empty until
    /// [`put_back`](Self::put_back).
    pub(crate) fn reserve(&mut self, generation: u64) -> Key {
        let index = self.slab.insert(Slot {
            generation,
            task: None,
        });
        Key { index, generation }
    }

    /// Frees the slot `key` names, whatever it holds.
    pub(crate) fn release(&mut self, key: Key) {
        if self.is_current(key) {
            self.slab.remove(key.index);
        }
    }

    /// Takes the task out of `key`'s slot to run it; `None` if the key is stale or the
    /// task is already out.
    pub(crate) fn take(&mut self, key: Key) -> Option<Box<T>> {
        let slot = self.slab.get_mut(key.index)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.task.take()
    }

    /// Puts a task back in its slot after it ran, or frees the slot if it `finished`.
    pub(crate) fn put_back(&mut self, key: Key, task: Box<T>, finished: bool) {
        if finished {
            self.release(key);
        } else if let Some(slot) = self.slab.get_mut(key.index)
            && slot.generation == key.generation
        {
            slot.task = Some(task);
        }
    }

    /// The keys of the tasks in their slots for which `select` holds.
    pub(crate) fn keys(&self, select: impl Fn(&T) -> bool) -> Vec<Key> {
        self.slab
            .iter()
            .filter(|(_, slot)| slot.task.as_deref().is_some_and(&select))
            .map(|(index, slot)| Key {
                index,
                generation: slot.generation,
            })
            .collect()
    }

    /// Whether no slot is in use.
    pub(crate) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    fn is_current(&self, key: Key) -> bool {
        self.slab
            .get(key.index)
            .is_some_and(|slot| slot.generation == key.generation)
    }
}
