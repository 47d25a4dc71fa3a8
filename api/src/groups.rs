//! Pending items grouped by resource and scope (the batch processor's and the exporter
//! queue's `sending_queue.batch`), kept as slices of the encoded requests
//! they arrived in, so merging never decodes: equal resource (and scope) blocks are
//! recognised by their bytes, and a batch is written out once, when it is sent.
//!
//! Every OTLP request has the same outer shape: `repeated Resource* = 1`, where a
//! Resource* is `{1: resource, 2: repeated Scope*, 3: schema_url}` and a Scope* is
//! `{1: scope, 2: repeated item, 3: schema_url}`. Items are spans, log records, or
//! metrics (which count as their data points).

use std::collections::VecDeque;

use crate::signal::Signal;
use crate::wire::{fields, len_field_size, metric_data_points, put_len_prefix, WireError};
use bytes::{Bytes, BytesMut};

/// A message field taken whole: `None` when absent, empty values count as absent for
/// strings (proto3 cannot tell them apart).
type Part = Option<Bytes>;

/// A scope block to write: scope, schema_url, items.
type OutScope = (Part, Part, Vec<Bytes>);
/// A resource block to write: resource, schema_url, scope blocks.
type OutResource = (Part, Part, Vec<OutScope>);

#[derive(Debug)]
struct ScopeGroup {
    scope: Part,
    schema_url: Part,
    items: VecDeque<(Bytes, usize)>,
}

#[derive(Debug)]
struct ResourceGroup {
    resource: Part,
    schema_url: Part,
    scopes: Vec<ScopeGroup>,
}

#[derive(Debug)]
pub struct Groups {
    signal: Signal,
    resources: Vec<ResourceGroup>,
    items: usize,
    /// Encoded bytes of the pending items (their resource and scope blocks not counted).
    item_bytes: usize,
}

impl Groups {
    pub fn new(signal: Signal) -> Groups {
        Groups {
            signal,
            resources: Vec::new(),
            items: 0,
            item_bytes: 0,
        }
    }

    pub fn items(&self) -> usize {
        self.items
    }

    /// Encoded bytes of the pending items.
    pub fn bytes(&self) -> usize {
        self.item_bytes
    }

    pub fn signal(&self) -> Signal {
        self.signal
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Adds every item of an encoded (already checked) export request.
    pub fn add(&mut self, request: &Bytes) -> Result<(), WireError> {
        for field in fields(request) {
            let field = field?;
            if field.number != 1 || field.wire_type != 2 {
                continue;
            }
            let block = request.slice(field.value);
            let (resource, schema_url, scopes) = split(&block)?;
            let index = match self
                .resources
                .iter()
                .position(|r| r.resource == resource && r.schema_url == schema_url)
            {
                Some(i) => i,
                None => {
                    self.resources.push(ResourceGroup {
                        resource,
                        schema_url,
                        scopes: Vec::new(),
                    });
                    self.resources.len() - 1
                }
            };
            for scope_block in scopes {
                let (scope, schema_url, items) = split(&scope_block)?;
                let group = &mut self.resources[index];
                let scope_index = match group
                    .scopes
                    .iter()
                    .position(|s| s.scope == scope && s.schema_url == schema_url)
                {
                    Some(i) => i,
                    None => {
                        group.scopes.push(ScopeGroup {
                            scope,
                            schema_url,
                            items: VecDeque::new(),
                        });
                        group.scopes.len() - 1
                    }
                };
                for item in items {
                    let count = if self.signal == Signal::Metrics {
                        metric_data_points(&item)?
                    } else {
                        1
                    };
                    self.items += count;
                    self.item_bytes += len_field_size(item.len());
                    group.scopes[scope_index].items.push_back((item, count));
                }
            }
        }
        Ok(())
    }

    /// Takes up to `max` items (0: all) and at most `max_bytes` encoded bytes (0: no
    /// bound) from the front, as one encoded request, and the number of items in it. At
    /// least one item is taken when any is pending, whatever its size.
    pub fn take(&mut self, max: usize, max_bytes: usize) -> (Bytes, usize) {
        let limit = if max == 0 { usize::MAX } else { max };
        let byte_limit = if max_bytes == 0 {
            usize::MAX
        } else {
            max_bytes
        };
        let mut taken: Vec<OutResource> = Vec::new();
        let mut count = 0;
        // An upper bound of the request's size so far: blocks are counted with the
        // longest length prefix, so the request written is never larger.
        let mut bytes = 0;
        'outer: for resource in &mut self.resources {
            let mut scopes = Vec::new();
            let resource_cost =
                BLOCK_PREFIX + part_size(&resource.resource) + part_size(&resource.schema_url);
            for scope in &mut resource.scopes {
                let mut items = Vec::new();
                let scope_cost =
                    BLOCK_PREFIX + part_size(&scope.scope) + part_size(&scope.schema_url);
                while let Some((item, n)) = scope.items.front() {
                    let mut cost = len_field_size(item.len());
                    if items.is_empty() {
                        cost += scope_cost;
                        if scopes.is_empty() {
                            cost += resource_cost;
                        }
                    }
                    if count > 0 && (count + n > limit || bytes + cost > byte_limit) {
                        break;
                    }
                    let (item, n) = scope.items.pop_front().unwrap_or_default();
                    self.item_bytes -= len_field_size(item.len());
                    count += n;
                    bytes += cost;
                    items.push(item);
                }
                let full = !scope.items.is_empty();
                if !items.is_empty() {
                    scopes.push((scope.scope.clone(), scope.schema_url.clone(), items));
                }
                if full {
                    if !scopes.is_empty() {
                        taken.push((
                            resource.resource.clone(),
                            resource.schema_url.clone(),
                            scopes,
                        ));
                    }
                    break 'outer;
                }
            }
            if !scopes.is_empty() {
                taken.push((
                    resource.resource.clone(),
                    resource.schema_url.clone(),
                    scopes,
                ));
            }
        }
        for resource in &mut self.resources {
            resource.scopes.retain(|s| !s.items.is_empty());
        }
        self.resources.retain(|r| !r.scopes.is_empty());
        self.items -= count;
        let out = encode(&taken);
        debug_assert!(count <= 1 || out.len() <= byte_limit);
        (out, count)
    }
}

/// The most a resource or scope block's key and length prefix take (a 5-byte length).
const BLOCK_PREFIX: usize = 6;

/// Splits a Resource*/Scope* block into its field 1, field 3 and the list of field 2.
fn split(block: &Bytes) -> Result<(Part, Part, Vec<Bytes>), WireError> {
    let (mut head, mut schema_url, mut children) = (None, None, Vec::new());
    for field in fields(block) {
        let field = field?;
        if field.wire_type != 2 {
            continue;
        }
        match field.number {
            1 => head = Some(block.slice(field.value)),
            2 => children.push(block.slice(field.value)),
            3 => schema_url = Some(block.slice(field.value)).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    Ok((head, schema_url, children))
}

fn part_size(part: &Part) -> usize {
    part.as_ref().map_or(0, |p| len_field_size(p.len()))
}

/// Writes the request in one buffer: sizes first, then bytes, copying each item once.
fn encode(taken: &[OutResource]) -> Bytes {
    let scope_len = |(scope, url, items): &OutScope| {
        part_size(scope)
            + items.iter().map(|i| len_field_size(i.len())).sum::<usize>()
            + part_size(url)
    };
    let resource_len = |(resource, url, scopes): &OutResource| {
        part_size(resource)
            + scopes
                .iter()
                .map(|s| len_field_size(scope_len(s)))
                .sum::<usize>()
            + part_size(url)
    };
    let total: usize = taken.iter().map(|r| len_field_size(resource_len(r))).sum();
    let mut out = BytesMut::with_capacity(total);
    let put = |out: &mut BytesMut, number: u32, part: &Part| {
        if let Some(p) = part {
            put_len_prefix(out, number, p.len());
            out.extend_from_slice(p);
        }
    };
    for r in taken {
        put_len_prefix(&mut out, 1, resource_len(r));
        put(&mut out, 1, &r.0);
        for s in &r.2 {
            put_len_prefix(&mut out, 2, scope_len(s));
            put(&mut out, 1, &s.0);
            for item in &s.2 {
                put_len_prefix(&mut out, 2, item.len());
                out.extend_from_slice(item);
            }
            put(&mut out, 3, &s.1);
        }
        put(&mut out, 3, &r.1);
    }
    debug_assert_eq!(out.len(), total);
    out.freeze()
}
