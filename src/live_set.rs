//! [`LiveSet`]: which positions of a list are still live, for a list whose entries
//! are deleted by marking them, so that a walk over the list skips the deleted ones
//! 64 at a time instead of looking at each.

/// A set of positions `0..len`, each live or deleted. New positions come live at the
/// end; a deleted position never comes back.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveSet {
    /// Bit `i % 64` of word `i / 64` is set when position `i` is live.
    words: Vec<u64>,
    len: usize,
}

impl LiveSet {
    /// `len` live positions.
    pub(crate) fn all_live(len: usize) -> LiveSet {
        let mut set = LiveSet::default();
        set.reserve(len);
        for _ in 0..len {
            set.push();
        }
        set
    }

    /// Makes room for `additional` more positions.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.words
            .reserve((self.len + additional).div_ceil(64).saturating_sub(self.words.len()));
    }

    /// Adds a live position at the end.
    pub(crate) fn push(&mut self) {
        if self.len % 64 == 0 {
            self.words.push(0);
        }
        self.words[self.len / 64] |= 1 << (self.len % 64);
        self.len += 1;
    }

    /// Marks `position` deleted.
    pub(crate) fn delete(&mut self, position: usize) {
        if let Some(word) = self.words.get_mut(position / 64) {
            *word &= !(1 << (position % 64));
        }
    }

    /// Whether `position` is live.
    pub(crate) fn contains(&self, position: usize) -> bool {
        position < self.len && self.words[position / 64] & (1 << (position % 64)) != 0
    }

    /// The first live position at or after `from`, and how many words it looked at.
    pub(crate) fn next_live(&self, from: usize) -> (Option<usize>, usize) {
        let mut w = from / 64;
        let Some(&first) = self.words.get(w) else {
            return (None, 0);
        };
        // Bits below `from` in its word are not wanted.
        let mut word = first & (u64::MAX << (from % 64));
        let mut looked = 1;
        while word == 0 {
            w += 1;
            match self.words.get(w) {
                Some(&next) => word = next,
                None => return (None, looked),
            }
            looked += 1;
        }
        (Some(w * 64 + word.trailing_zeros() as usize), looked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_the_live_positions() {
        let mut set = LiveSet::all_live(200);
        for deleted in (0..130).chain([150, 199]) {
            set.delete(deleted);
        }
        let mut walked = Vec::new();
        let mut from = 0;
        while let (Some(at), _) = set.next_live(from) {
            walked.push(at);
            from = at + 1;
        }
        let expected: Vec<usize> = (130..199).filter(|&i| i != 150).collect();
        assert_eq!(walked, expected);
        assert_eq!(set.next_live(0).1, 3, "two deleted words skipped whole");
        assert!(set.contains(131) && !set.contains(150) && !set.contains(200));
        assert_eq!(set.next_live(199), (None, 1));
        assert_eq!(set.next_live(500), (None, 0));
        set.push();
        assert_eq!(set.next_live(199).0, Some(200));
    }
}
