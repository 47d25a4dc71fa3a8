//! Splitting an encoded export request into requests of at most N bytes, on the wire:
//! what an exporter's queue does before sending to a server with a message-size limit
//! (gRPC's 4 MiB default, in the Collector, Jaeger, Tempo, tonic and our own receiver).
//!
//! Requests are cut between resource blocks, scope blocks and items, and a metric also
//! between its data points; each piece repeats the fields around the items it carries
//! (resource, scope, a metric's name and type), and order is kept. Nothing is decoded:
//! items are copied as the bytes they arrived as. An item that cannot fit even alone is
//! left out and reported, never sent.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::{fields, len_field_size, metric_data_points, put_len_prefix, WireError};
use crate::signal::Signal;

/// What [`split_by_size`] made of a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SizedPieces {
    /// Encoded requests of at most the limit, in order, with the items in each.
    pub pieces: Vec<(Bytes, usize)>,
    /// Items (spans, data points, log records) that do not fit a request even alone.
    pub oversize_items: usize,
    /// The encoded size of the largest of those items.
    pub largest_oversize: usize,
}

/// Cuts `request` (a checked export request of `signal`) into requests of at most
/// `limit` bytes each. Items that cannot fit alone are counted in the result, not sent.
pub fn split_by_size(
    signal: Signal,
    request: &Bytes,
    limit: usize,
) -> Result<SizedPieces, WireError> {
    let mut splitter = Splitter {
        signal,
        out: SizedPieces::default(),
    };
    let mut pieces = Vec::new();
    splitter.split(request, Level::Request, limit, &mut pieces)?;
    splitter.out.pieces = pieces;
    Ok(splitter.out)
}

/// Where a message sits in an export request. Every level but `Item` holds its children
/// in one repeated field; the rest of its fields are repeated in each piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// `repeated ResourceX = 1`.
    Request,
    /// `{1: resource, 2: repeated ScopeX, 3: schema_url}`.
    Resource,
    /// `{1: scope, 2: repeated item, 3: schema_url}`.
    Scope,
    /// A metric: its one data field (gauge 5, sum 7, histogram 9, exponential
    /// histogram 10, summary 11) is the child; name, unit... go with every piece.
    Metric,
    /// Gauge, Sum, Histogram...: `repeated data_points = 1`, temporality etc. repeated.
    MetricData,
    /// A span, log record or data point: never cut.
    Item,
}

impl Level {
    fn is_child(self, number: u32, wire_type: u8) -> bool {
        wire_type == 2
            && match self {
                Level::Request | Level::MetricData => number == 1,
                Level::Resource | Level::Scope => number == 2,
                Level::Metric => matches!(number, 5 | 7 | 9 | 10 | 11),
                Level::Item => false,
            }
    }

    fn child(self, signal: Signal) -> Level {
        match self {
            Level::Request => Level::Resource,
            Level::Resource => Level::Scope,
            Level::Scope if signal == Signal::Metrics => Level::Metric,
            Level::Metric => Level::MetricData,
            Level::Scope | Level::MetricData | Level::Item => Level::Item,
        }
    }

    /// A metric's data field is not repeated: two pieces of it never share a metric.
    fn one_child_per_piece(self) -> bool {
        self == Level::Metric
    }
}

struct Splitter {
    signal: Signal,
    out: SizedPieces,
}

/// A child field waiting to be placed: its number, body, and items once counted.
type Child = (u32, Bytes, Option<usize>);

impl Splitter {
    /// Appends to `out` the pieces of `body` (a message at `level`): message bodies of at
    /// most `max` bytes, with their items.
    fn split(
        &mut self,
        body: &Bytes,
        level: Level,
        max: usize,
        out: &mut Vec<(Bytes, usize)>,
    ) -> Result<(), WireError> {
        let mut header = BytesMut::new();
        let mut pending: VecDeque<Child> = VecDeque::new();
        for field in fields(body) {
            let field = field?;
            if level.is_child(field.number, field.wire_type) {
                pending.push_back((field.number, body.slice(field.value), None));
            } else {
                header.extend_from_slice(&body[field.start..field.value.end]);
            }
        }
        if pending.is_empty() {
            // Nothing to carry (a resource without scopes): kept when it fits.
            if body.len() <= max {
                out.push((body.clone(), 0));
            }
            return Ok(());
        }
        let header = header.freeze();
        let room = max.saturating_sub(header.len());
        let mut piece = Piece::default();
        while let Some((number, child, items)) = pending.pop_front() {
            let size = len_field_size(child.len());
            let shares = !level.one_child_per_piece() || piece.children.is_empty();
            if piece.len + size <= room && shares {
                let items = self.items_or_count(level.child(self.signal), &child, items)?;
                piece.push(number, child, size, items);
                continue;
            }
            piece.flush(&header, out);
            if size <= room {
                let items = self.items_or_count(level.child(self.signal), &child, items)?;
                piece.push(number, child, size, items);
                continue;
            }
            // Too large even alone: cut it one level down, or give up on an item.
            let child_level = level.child(self.signal);
            if child_level == Level::Item {
                self.out.oversize_items += 1;
                self.out.largest_oversize = self.out.largest_oversize.max(child.len());
                continue;
            }
            let child_room = room.saturating_sub(1 + super::varint_size(room as u64));
            let mut cut = Vec::new();
            self.split(&child, child_level, child_room, &mut cut)?;
            for (part, items) in cut.into_iter().rev() {
                pending.push_front((number, part, Some(items)));
            }
        }
        piece.flush(&header, out);
        Ok(())
    }

    /// Items in `child` (at `level`), unless already known.
    fn items_or_count(
        &self,
        level: Level,
        child: &[u8],
        known: Option<usize>,
    ) -> Result<usize, WireError> {
        match known {
            Some(n) => Ok(n),
            None => self.items(level, child),
        }
    }

    /// Items (spans, data points, log records) in a checked message at `level`.
    fn items(&self, level: Level, message: &[u8]) -> Result<usize, WireError> {
        match level {
            Level::Item => Ok(1),
            Level::Metric => metric_data_points(message),
            Level::Request | Level::Resource | Level::Scope | Level::MetricData => {
                let child = level.child(self.signal);
                let mut n = 0;
                for field in fields(message) {
                    let field = field?;
                    if level.is_child(field.number, field.wire_type) {
                        n += self.items(child, &message[field.value])?;
                    }
                }
                Ok(n)
            }
        }
    }
}

/// The children gathered for the next piece.
#[derive(Default)]
struct Piece {
    children: Vec<(u32, Bytes)>,
    /// Encoded size of the children's fields.
    len: usize,
    items: usize,
}

impl Piece {
    fn push(&mut self, number: u32, child: Bytes, size: usize, items: usize) {
        self.children.push((number, child));
        self.len += size;
        self.items += items;
    }

    /// Writes the piece (the header, then the children) to `out`, and starts afresh.
    fn flush(&mut self, header: &Bytes, out: &mut Vec<(Bytes, usize)>) {
        if self.children.is_empty() {
            return;
        }
        let mut body = BytesMut::with_capacity(header.len() + self.len);
        body.extend_from_slice(header);
        for (number, child) in self.children.drain(..) {
            put_len_prefix(&mut body, number, child.len());
            body.extend_from_slice(&child);
        }
        out.push((body.freeze(), self.items));
        self.len = 0;
        self.items = 0;
    }
}

#[cfg(test)]
mod tests;
