//! Bounds-checked big-endian reading and writing over borrowed byte slices.
//!
//! Every RTP and RTCP parser and writer in this module goes through these two types, so
//! that no bytes from the network can make an index go out of range: a short read gives
//! `None` and a short write gives [`Full`].

/// A read position in a byte slice; every read is checked and advances past what it read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data
    }

    /// Takes the next `n` bytes, or `None` when fewer remain.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.data.split_at_checked(n)?;
        self.data = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.data.split_first_chunk::<N>()?;
        self.data = tail;
        Some(*head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        self.array::<3>()
            .map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }
}

/// The destination buffer had no room for the next write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// A write position in a caller's buffer; every write is checked and advances.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts writing at the first byte of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    /// How many bytes have been written.
    pub(crate) fn written(&self) -> usize {
        self.pos
    }

    /// Hands out the next `n` bytes to be filled by the caller and moves past them.
    pub(crate) fn reserve(&mut self, n: usize) -> Result<&mut [u8], Full> {
        let end = self.pos.checked_add(n).ok_or(Full)?;
        let out = self.buf.get_mut(self.pos..end).ok_or(Full)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), Full> {
        self.reserve(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), Full> {
        self.reserve(n)?.fill(0);
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), Full> {
        self.put(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), Full> {
        self.put(&v.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), Full> {
        self.put(&v.to_be_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), Full> {
        self.put(&v.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_stops_at_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.u8(), None);
        assert_eq!(r.take(1), None);
    }

    #[test]
    fn cursor_refuses_to_overflow() {
        let mut buf = [0u8; 5];
        let mut w = Cursor::new(&mut buf);
        assert_eq!(w.u32(0xA0B0_C0D0), Ok(()));
        assert_eq!(w.u16(1), Err(Full));
        assert_eq!(w.u8(7), Ok(()));
        assert_eq!(w.written(), 5);
        assert_eq!(buf, [0xA0, 0xB0, 0xC0, 0xD0, 7]);
    }
}
