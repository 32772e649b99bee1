//! [`Definition`]: a marshalled Definition that is held as the bytes a
//! marshal writes, and read as the protobuf message when asked to.
//!
//! The bytes are what nearly every caller needs: `luakit build` writes them
//! and a client sends them. Building the message first would allocate a map
//! entry, a key and a few nested maps for each op, only so that they could be
//! encoded and freed. So a marshal writes the bytes directly (see
//! `Assembler::write` in the marshal; each op is framed as the Definition's
//! field 1 as it is encoded, so the ops need no copy to be joined, and a
//! file is written from the pieces), and the message is decoded only when a
//! caller reads it (`def.def`, `def.metadata`, …, through `Deref`). Changing
//! the message (`DerefMut`) drops the bytes; they are encoded again from the
//! changed message when asked for. Either way both forms hold the same
//! Definition, and bytes → message → bytes gives back the same bytes (the
//! hand-written map messages of [`crate::pb`] encode as Go does).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use prost::Message;

use crate::pb;

/// A marshalled Definition: its bytes (as `buildctl build` reads them) and,
/// decoded on first use, the message. Dereferences to [`pb::Definition`].
///
/// ```
/// use luakit_graph::{image, ImageOptions, Platform, RunOptions};
/// use luakit_llb::{Definition, MarshalOptions, marshal_full};
///
/// let base = image("alpine:3.19", ImageOptions::default())?;
/// let built = base.run(RunOptions { args: vec!["true".into()], ..Default::default() })?;
/// let m = marshal_full(built.root(), &MarshalOptions::new(Platform::new("linux", "amd64", "")))?;
/// let def: &Definition = &m.definition;
/// assert_eq!(def.op_count(), 3); // image, exec, terminal
/// assert_eq!(def.def.len(), 3); // the same, read from the decoded message
/// assert_eq!(luakit_llb::encode(def), def.bytes()); // both forms agree
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Definition {
    /// The bytes as the marshal wrote them, in pieces: each op framed as
    /// field 1, then the rest (metadata and source map). Written out as
    /// they are ([`Definition::chunks`]), they need no joined copy.
    /// `None` once the message was changed (or when made from a message),
    /// and then the message is set.
    parts: Option<Parts>,
    /// The joined bytes, once asked for (or encoded from a changed message).
    bytes: OnceLock<Vec<u8>>,
    /// Set once the message is read (or when made from a message).
    message: OnceLock<pb::Definition>,
}

/// The message of bytes a marshal wrote.
fn decode(bytes: &[u8]) -> pb::Definition {
    pb::Definition::decode(bytes).expect("a marshal writes Definitions that decode")
}

#[derive(Clone)]
struct Parts {
    ops: Vec<Vec<u8>>,
    /// The metadata, then the source map (a piece each, or one for both).
    rest: Vec<Vec<u8>>,
}

impl Parts {
    /// The length of the key and length that frame `op` (field 1).
    fn header(op: &[u8]) -> usize {
        // The key is one byte (field 1, length-delimited), then a varint.
        let varint = op[1..].iter().position(|b| b & 0x80 == 0).map_or(op.len() - 1, |i| i + 1);
        1 + varint
    }

    /// The message: the ops' own bytes (copied here, moved by
    /// [`Parts::into_message`]), and the metadata and source map decoded
    /// from the rest (which holds no field 1).
    fn message(&self) -> pb::Definition {
        let mut m = decode(&self.rest.concat());
        m.def = self.ops.iter().map(|op| op[Self::header(op)..].to_vec()).collect();
        m
    }

    fn into_message(self) -> pb::Definition {
        let mut m = decode(&self.rest.concat());
        m.def = self
            .ops
            .into_iter()
            .map(|mut op| {
                op.drain(..Self::header(&op));
                op
            })
            .collect();
        m
    }

    fn join(&self) -> Vec<u8> {
        let len = self.ops.iter().chain(&self.rest).map(Vec::len).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        for piece in self.ops.iter().chain(&self.rest) {
            out.extend_from_slice(piece);
        }
        out
    }
}

impl Definition {
    /// From the pieces a marshal wrote: `ops`, each an op framed as field 1
    /// (key, length, bytes), then the pieces of `rest` in turn. Only the
    /// marshal makes one, so the bytes always decode.
    pub(crate) fn from_parts(ops: Vec<Vec<u8>>, rest: Vec<Vec<u8>>) -> Self {
        Definition { parts: Some(Parts { ops, rest }), bytes: OnceLock::new(), message: OnceLock::new() }
    }

    /// The bytes, made now: joined from the marshal's pieces, or encoded
    /// from the message when there are none.
    fn make_bytes(&self) -> Vec<u8> {
        match &self.parts {
            Some(parts) => parts.join(),
            None => crate::encode(self.message.get().expect("a Definition holds bytes or a message")),
        }
    }

    /// The Definition's bytes (joined from the marshal's pieces, or encoded
    /// from the message if it was changed, on first use).
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get_or_init(|| self.make_bytes())
    }

    /// The bytes in pieces that, written one after the other, are
    /// [`Definition::bytes`], without joining them (what a writer of a
    /// file needs: no copy of the whole).
    pub fn chunks(&self) -> Vec<&[u8]> {
        if let Some(bytes) = self.bytes.get() {
            return vec![bytes.as_slice()];
        }
        match &self.parts {
            Some(parts) => parts.ops.iter().chain(&parts.rest).map(Vec::as_slice).collect(),
            None => vec![self.bytes()],
        }
    }

    /// The bytes, without copying them when the Definition holds them joined.
    pub fn into_bytes(mut self) -> Vec<u8> {
        match self.bytes.take() {
            Some(b) => b,
            None => self.make_bytes(),
        }
    }

    /// The message (decoded from the bytes on first use).
    pub fn message(&self) -> &pb::Definition {
        if let Some(m) = self.message.get() {
            return m;
        }
        // From the pieces when the Definition holds them (no joined copy).
        let decoded = match (&self.parts, self.bytes.get()) {
            (Some(parts), None) => parts.message(),
            _ => decode(self.bytes()),
        };
        self.message.get_or_init(|| decoded)
    }

    /// The message, decoding it if needed (the ops' bytes are moved, not
    /// copied, when the Definition holds the marshal's pieces).
    pub fn into_message(mut self) -> pb::Definition {
        if let Some(m) = self.message.take() {
            return m;
        }
        match self.parts.take() {
            Some(parts) => parts.into_message(),
            None => decode(self.bytes()),
        }
    }

    /// The number of ops (`def` entries), without decoding anything.
    pub fn op_count(&self) -> usize {
        match (self.message.get(), &self.parts) {
            (Some(m), _) => m.def.len(),
            (None, Some(parts)) => parts.ops.len(),
            (None, None) => 0,
        }
    }
}

impl From<pb::Definition> for Definition {
    fn from(message: pb::Definition) -> Self {
        Definition { parts: None, bytes: OnceLock::new(), message: OnceLock::from(message) }
    }
}

impl From<Definition> for pb::Definition {
    fn from(def: Definition) -> Self {
        def.into_message()
    }
}

impl Default for Definition {
    /// An empty Definition (no ops).
    fn default() -> Self {
        Definition::from(pb::Definition::default())
    }
}

impl Deref for Definition {
    type Target = pb::Definition;

    fn deref(&self) -> &pb::Definition {
        self.message()
    }
}

impl DerefMut for Definition {
    /// The message, to change: the bytes are dropped (and encoded again
    /// from the message when asked for).
    fn deref_mut(&mut self) -> &mut pb::Definition {
        self.message();
        self.bytes.take();
        self.parts = None;
        self.message.get_mut().expect("decoded above")
    }
}

impl PartialEq for Definition {
    /// Equal bytes (the encoding is deterministic).
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Definition {}

impl PartialEq<pb::Definition> for Definition {
    fn eq(&self, other: &pb::Definition) -> bool {
        self.message() == other
    }
}

impl PartialEq<Definition> for pb::Definition {
    fn eq(&self, other: &Definition) -> bool {
        self == other.message()
    }
}

impl fmt::Debug for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> pb::Definition {
        // Ops whose lengths take one, two and three bytes, and an empty one.
        let def = vec![vec![1, 2, 3], vec![7; 300], vec![], vec![9; 70_000]];
        let mut def = pb::Definition { def, ..Default::default() };
        def.metadata.insert("sha256:aa".to_string(), pb::OpMetadata { ignore_cache: true, ..Default::default() });
        def
    }

    /// The pieces a marshal would write for `message`: each op framed as
    /// field 1, then the rest in two pieces.
    fn parts_of(message: &pb::Definition) -> Definition {
        let ops = message
            .def
            .iter()
            .map(|op| {
                let mut b = Vec::new();
                prost::encoding::bytes::encode(1, op, &mut b);
                b
            })
            .collect();
        let rest = crate::encode(&pb::Definition { def: Vec::new(), ..message.clone() });
        // In two pieces, as the metadata and the source map come.
        let (metadata, source) = rest.split_at(rest.len() / 2);
        Definition::from_parts(ops, vec![metadata.to_vec(), source.to_vec()])
    }

    #[test]
    fn bytes_and_message_agree_both_ways() {
        let message = sample();
        let bytes = crate::encode(&message);
        let from_bytes = parts_of(&message);
        assert_eq!(from_bytes.op_count(), 4);
        assert_eq!(from_bytes.chunks().concat(), bytes, "the pieces, one after the other");
        assert_eq!(from_bytes.chunks().len(), 6, "four ops and the rest's two pieces, not joined");
        assert_eq!(*from_bytes.message(), message);
        assert_eq!(parts_of(&message).into_message(), message, "moved out of the pieces");
        assert_eq!(from_bytes.bytes(), bytes.as_slice());
        let from_message = Definition::from(message.clone());
        assert_eq!(from_message.bytes(), bytes.as_slice());
        assert_eq!(from_message, from_bytes);
        assert_eq!(from_bytes.into_message(), message);
        assert_eq!(from_message.into_bytes(), bytes);
    }

    #[test]
    fn a_changed_message_is_encoded_again() {
        let mut def = parts_of(&sample());
        def.def.push(vec![9]);
        assert_eq!(def.op_count(), 5);
        let mut expected = sample();
        expected.def.push(vec![9]);
        assert_eq!(def.bytes(), crate::encode(&expected).as_slice());
        assert_eq!(def.clone().into_bytes(), crate::encode(&expected));
    }
}
