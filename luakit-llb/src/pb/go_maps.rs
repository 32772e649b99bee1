//! The five LLB messages that have map fields, written by hand.
//!
//! prost leaves a map entry's key or value out when it equals its default
//! (an empty string, `false`, an empty message). Go's protobuf always writes
//! both, so a BuildKit-made `Definition` whose source map has an empty
//! `Locations`, or a `SourceOp` attribute whose value is empty, would not
//! survive a decode/encode through prost byte for byte, and an op's digest
//! would change. These types keep the shape prost would generate (same names,
//! same fields, `BTreeMap` for maps) but encode map entries as Go does; every
//! other field follows proto3's rule of leaving default values out, as prost
//! and Go both do. build.rs points prost-build at them with `extern_path`, so
//! the rest of the generated code uses them.
//!
//! Field numbers are those of ops.proto.

use std::collections::BTreeMap;

use prost::DecodeError;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    self, DecodeContext, WireType, encode_key, encode_varint, encoded_len_varint, key_len,
};

use super::{BuildInput, ExportCache, Locations, ProgressGroup, SourceInfo};

/// Writes a `map<string, V>` field: one entry per key, in key order, each with
/// its key (field 1) and value (field 2) always present.
fn encode_map<V, B: BufMut>(
    tag: u32,
    map: &BTreeMap<String, V>,
    val_len: impl Fn(u32, &V) -> usize,
    val_encode: impl Fn(u32, &V, &mut B),
    buf: &mut B,
) {
    for (key, val) in map {
        encode_key(tag, WireType::LengthDelimited, buf);
        let len = encoding::string::encoded_len(1, key) + val_len(2, val);
        encode_varint(len as u64, buf);
        encoding::string::encode(1, key, buf);
        val_encode(2, val, buf);
    }
}

/// The encoded length of what [`encode_map`] writes.
fn map_len<V>(tag: u32, map: &BTreeMap<String, V>, val_len: impl Fn(u32, &V) -> usize) -> usize {
    map.iter()
        .map(|(key, val)| {
            let len = encoding::string::encoded_len(1, key) + val_len(2, val);
            key_len(tag) + encoded_len_varint(len as u64) + len
        })
        .sum()
}

pub(crate) fn encode_string_map(tag: u32, map: &BTreeMap<String, String>, buf: &mut impl BufMut) {
    encode_map(
        tag,
        map,
        encoding::string::encoded_len,
        |t, v, b| encoding::string::encode(t, v, b),
        buf,
    );
}

pub(crate) fn string_map_len(tag: u32, map: &BTreeMap<String, String>) -> usize {
    map_len(tag, map, encoding::string::encoded_len)
}

fn merge_string_map(
    wire_type: WireType,
    map: &mut BTreeMap<String, String>,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
    encoding::btree_map::merge(
        encoding::string::merge,
        encoding::string::merge,
        map,
        buf,
        ctx,
    )
}

/// As [`encode_map`] with message values, each value's length computed
/// once (nested messages would otherwise compute it again at every level).
fn encode_message_map<M: prost::Message>(
    tag: u32,
    map: &BTreeMap<String, M>,
    buf: &mut impl BufMut,
) {
    for (key, val) in map {
        let val_len = val.encoded_len();
        let len = encoding::string::encoded_len(1, key)
            + key_len(2)
            + encoded_len_varint(val_len as u64)
            + val_len;
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(len as u64, buf);
        encoding::string::encode(1, key, buf);
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(val_len as u64, buf);
        val.encode_raw(buf);
    }
}

fn message_map_len<M: prost::Message>(tag: u32, map: &BTreeMap<String, M>) -> usize {
    map_len(tag, map, encoding::message::encoded_len)
}

fn merge_message_map<M: prost::Message + Default>(
    wire_type: WireType,
    map: &mut BTreeMap<String, M>,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
    encoding::btree_map::merge(
        encoding::string::merge,
        encoding::message::merge,
        map,
        buf,
        ctx,
    )
}

/// An op's caps (`OpMetadata` field 5), written as [`OpMetadata`] writes them.
pub(crate) fn encode_caps_map(caps: &BTreeMap<String, bool>, buf: &mut impl BufMut) {
    encode_map(
        5,
        caps,
        encoding::bool::encoded_len,
        |t, v, b| encoding::bool::encode(t, v, b),
        buf,
    );
}

/// The encoded length of [`encode_caps_map`]'s bytes.
pub(crate) fn caps_map_len(caps: &BTreeMap<String, bool>) -> usize {
    map_len(5, caps, encoding::bool::encoded_len)
}

/// A source: image, local context, git repository, HTTP file, ...
#[derive(Clone, PartialEq, Debug, Default)]
pub struct SourceOp {
    /// Field 1.
    pub identifier: String,
    /// Field 2.
    pub attrs: BTreeMap<String, String>,
}

impl prost::Message for SourceOp {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.identifier.is_empty() {
            encoding::string::encode(1, &self.identifier, buf);
        }
        encode_string_map(2, &self.attrs, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.identifier, buf, ctx),
            2 => merge_string_map(wire_type, &mut self.attrs, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        (if self.identifier.is_empty() {
            0
        } else {
            encoding::string::encoded_len(1, &self.identifier)
        }) + string_map_len(2, &self.attrs)
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// A nested build.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct BuildOp {
    /// Field 1.
    pub builder: i64,
    /// Field 2.
    pub inputs: BTreeMap<String, BuildInput>,
    /// Field 3.
    pub def: Option<Definition>,
    /// Field 4.
    pub attrs: BTreeMap<String, String>,
}

impl prost::Message for BuildOp {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.builder != 0 {
            encoding::int64::encode(1, &self.builder, buf);
        }
        encode_message_map(2, &self.inputs, buf);
        if let Some(def) = &self.def {
            encoding::message::encode(3, def, buf);
        }
        encode_string_map(4, &self.attrs, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::int64::merge(wire_type, &mut self.builder, buf, ctx),
            2 => merge_message_map(wire_type, &mut self.inputs, buf, ctx),
            3 => encoding::message::merge(
                wire_type,
                self.def.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            4 => merge_string_map(wire_type, &mut self.attrs, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        (if self.builder == 0 {
            0
        } else {
            encoding::int64::encoded_len(1, &self.builder)
        }) + message_map_len(2, &self.inputs)
            + self
                .def
                .as_ref()
                .map_or(0, |def| encoding::message::encoded_len(3, def))
            + string_map_len(4, &self.attrs)
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Per-vertex metadata, kept beside the ops in a Definition.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct OpMetadata {
    /// Field 1.
    pub ignore_cache: bool,
    /// Field 2.
    pub description: BTreeMap<String, String>,
    /// Field 4 (3 is reserved).
    pub export_cache: Option<ExportCache>,
    /// Field 5.
    pub caps: BTreeMap<String, bool>,
    /// Field 6.
    pub progress_group: Option<ProgressGroup>,
}

impl prost::Message for OpMetadata {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.ignore_cache {
            encoding::bool::encode(1, &self.ignore_cache, buf);
        }
        encode_string_map(2, &self.description, buf);
        if let Some(export_cache) = &self.export_cache {
            encoding::message::encode(4, export_cache, buf);
        }
        encode_caps_map(&self.caps, buf);
        if let Some(group) = &self.progress_group {
            encoding::message::encode(6, group, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::bool::merge(wire_type, &mut self.ignore_cache, buf, ctx),
            2 => merge_string_map(wire_type, &mut self.description, buf, ctx),
            4 => encoding::message::merge(
                wire_type,
                self.export_cache.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            5 => {
                encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
                encoding::btree_map::merge(
                    encoding::string::merge,
                    encoding::bool::merge,
                    &mut self.caps,
                    buf,
                    ctx,
                )
            }
            6 => encoding::message::merge(
                wire_type,
                self.progress_group.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        (if self.ignore_cache {
            encoding::bool::encoded_len(1, &self.ignore_cache)
        } else {
            0
        }) + string_map_len(2, &self.description)
            + self
                .export_cache
                .as_ref()
                .map_or(0, |m| encoding::message::encoded_len(4, m))
            + caps_map_len(&self.caps)
            + self
                .progress_group
                .as_ref()
                .map_or(0, |m| encoding::message::encoded_len(6, m))
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Source mapping: which lines of which file produced which vertex.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Source {
    /// Field 1, keyed by op digest.
    pub locations: BTreeMap<String, Locations>,
    /// Field 2.
    pub infos: Vec<SourceInfo>,
}

impl prost::Message for Source {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encode_message_map(1, &self.locations, buf);
        encoding::message::encode_repeated(2, &self.infos, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => merge_message_map(wire_type, &mut self.locations, buf, ctx),
            2 => encoding::message::merge_repeated(wire_type, &mut self.infos, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        message_map_len(1, &self.locations)
            + encoding::message::encoded_len_repeated(2, &self.infos)
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// A whole graph: the marshalled ops plus metadata keyed by op digest.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Definition {
    /// Field 1: each op, marshalled.
    pub def: Vec<Vec<u8>>,
    /// Field 2, keyed by op digest.
    pub metadata: BTreeMap<String, OpMetadata>,
    /// Field 3.
    pub source: Option<Source>,
}

impl prost::Message for Definition {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::bytes::encode_repeated(1, &self.def, buf);
        encode_message_map(2, &self.metadata, buf);
        if let Some(source) = &self.source {
            encoding::message::encode(3, source, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::bytes::merge_repeated(wire_type, &mut self.def, buf, ctx),
            2 => merge_message_map(wire_type, &mut self.metadata, buf, ctx),
            3 => encoding::message::merge(
                wire_type,
                self.source.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        encoding::bytes::encoded_len_repeated(1, &self.def)
            + message_map_len(2, &self.metadata)
            + self
                .source
                .as_ref()
                .map_or(0, |s| encoding::message::encoded_len(3, s))
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}
