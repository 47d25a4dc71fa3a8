//! Apache Thrift's binary and compact protocols, read into a small value tree: what
//! Jaeger's agents (UDP), Jaeger's HTTP collector endpoint and Zipkin v1 send. Reading
//! is schema-free (every value carries its type on the wire), so the format modules map
//! field ids to meaning themselves. Bounded: nesting depth and collection sizes are
//! checked against the bytes left, so a hostile packet cannot make it allocate more than
//! its own length allows.

use thiserror::Error;

/// Deepest nesting accepted (Jaeger's deepest is Batch > Span > Log > Tag: 5).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Error, PartialEq)]
pub enum ThriftError {
    #[error("thrift: the data ends inside a value")]
    Truncated,
    #[error("thrift: unknown type {0}")]
    UnknownType(u8),
    #[error("thrift: nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("thrift: a collection claims {0} elements, more than the bytes left")]
    TooLarge(i64),
    #[error("thrift: bad message header: {0}")]
    BadMessage(&'static str),
}

/// One Thrift value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Double(f64),
    Binary(Vec<u8>),
    Struct(Struct),
    List(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

/// A struct: its fields by id, in wire order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Struct(pub Vec<(i16, Value)>);

impl Struct {
    pub fn get(&self, id: i16) -> Option<&Value> {
        self.0.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    /// An integer field of any width (Thrift enums are i32).
    pub fn int(&self, id: i16) -> Option<i64> {
        match self.get(id)? {
            Value::Byte(v) => Some(i64::from(*v)),
            Value::I16(v) => Some(i64::from(*v)),
            Value::I32(v) => Some(i64::from(*v)),
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    pub fn string(&self, id: i16) -> Option<String> {
        match self.get(id)? {
            Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    pub fn bytes(&self, id: i16) -> Option<&[u8]> {
        match self.get(id)? {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    pub fn bool(&self, id: i16) -> Option<bool> {
        match self.get(id)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn double(&self, id: i16) -> Option<f64> {
        match self.get(id)? {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn structure(&self, id: i16) -> Option<&Struct> {
        match self.get(id)? {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// The structs of a list field (absent or another type: none).
    pub fn structs(&self, id: i16) -> impl Iterator<Item = &Struct> {
        let list = match self.get(id) {
            Some(Value::List(l)) => l.as_slice(),
            _ => &[],
        };
        list.iter().filter_map(|v| match v {
            Value::Struct(s) => Some(s),
            _ => None,
        })
    }
}

/// Which of Thrift's two common encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Binary,
    Compact,
}

/// A message (a service call): its method name and its arguments struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub name: String,
    pub args: Struct,
}

/// A struct serialized on its own (Jaeger's HTTP body, Zipkin v1's list of spans is a
/// list: see [`read_list`]).
pub fn read_struct(protocol: Protocol, data: &[u8]) -> Result<Struct, ThriftError> {
    let mut r = Reader {
        data,
        pos: 0,
        protocol,
    };
    r.structure(0)
}

/// A list serialized on its own (Zipkin v1 Thrift: `list<Span>`).
pub fn read_list(protocol: Protocol, data: &[u8]) -> Result<Vec<Value>, ThriftError> {
    let mut r = Reader {
        data,
        pos: 0,
        protocol,
    };
    r.list(0)
}

/// A call message (`emitBatch` on a Jaeger agent's UDP port).
pub fn read_message(protocol: Protocol, data: &[u8]) -> Result<Message, ThriftError> {
    let mut r = Reader {
        data,
        pos: 0,
        protocol,
    };
    let name = match protocol {
        Protocol::Binary => r.binary_message_header()?,
        Protocol::Compact => r.compact_message_header()?,
    };
    let args = r.structure(0)?;
    Ok(Message { name, args })
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    protocol: Protocol,
}

/// Element types, as each protocol numbers them, mapped to the binary protocol's ids.
const T_BOOL: u8 = 2;
const T_BYTE: u8 = 3;
const T_DOUBLE: u8 = 4;
const T_I16: u8 = 6;
const T_I32: u8 = 8;
const T_I64: u8 = 10;
const T_STRING: u8 = 11;
const T_STRUCT: u8 = 12;
const T_MAP: u8 = 13;
const T_SET: u8 = 14;
const T_LIST: u8 = 15;

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ThriftError> {
        let end = self.pos.checked_add(n).ok_or(ThriftError::Truncated)?;
        let slice = self.data.get(self.pos..end).ok_or(ThriftError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, ThriftError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ThriftError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn varint(&mut self) -> Result<u64, ThriftError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ThriftError::BadMessage("varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> Result<i64, ThriftError> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32_be(&mut self) -> Result<i32, ThriftError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// A length or count, checked against the bytes left (each element takes >= 1 byte,
    /// except bools in no protocol here take less).
    fn count(&mut self, n: i64) -> Result<usize, ThriftError> {
        if n < 0 || n as u64 > self.remaining() as u64 {
            return Err(ThriftError::TooLarge(n));
        }
        Ok(n as usize)
    }

    fn length(&mut self) -> Result<usize, ThriftError> {
        let n = match self.protocol {
            Protocol::Binary => i64::from(self.i32_be()?),
            Protocol::Compact => self.varint()? as i64,
        };
        self.count(n)
    }

    fn binary_message_header(&mut self) -> Result<String, ThriftError> {
        let first = self.i32_be()?;
        if first < 0 {
            // Strict: version in the high half, message type in the low byte.
            if (first as u32) & 0xffff_0000 != 0x8001_0000 {
                return Err(ThriftError::BadMessage("unknown binary protocol version"));
            }
            let len = self.length()?;
            let name = String::from_utf8_lossy(self.take(len)?).into_owned();
            self.i32_be()?; // sequence id
            Ok(name)
        } else {
            // Old non-strict form: name length first, then name, type, sequence id.
            let len = self.count(i64::from(first))?;
            let name = String::from_utf8_lossy(self.take(len)?).into_owned();
            self.byte()?;
            self.i32_be()?;
            Ok(name)
        }
    }

    fn compact_message_header(&mut self) -> Result<String, ThriftError> {
        if self.byte()? != 0x82 {
            return Err(ThriftError::BadMessage("not a compact protocol message"));
        }
        if self.byte()? & 0x1f != 1 {
            return Err(ThriftError::BadMessage("unknown compact protocol version"));
        }
        self.varint()?; // sequence id
        let len = self.length()?;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn structure(&mut self, depth: usize) -> Result<Struct, ThriftError> {
        if depth > MAX_DEPTH {
            return Err(ThriftError::TooDeep);
        }
        let mut fields = Vec::new();
        let mut last_id: i16 = 0;
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Ok(Struct(fields));
            }
            let (id, value) = match self.protocol {
                Protocol::Binary => {
                    let id = i16::from_be_bytes(self.array()?);
                    (id, self.value(header, depth + 1)?)
                }
                Protocol::Compact => {
                    let delta = header >> 4;
                    let id = if delta == 0 {
                        self.zigzag()? as i16
                    } else {
                        last_id.wrapping_add(i16::from(delta))
                    };
                    let value = match header & 0x0f {
                        // A field's bool is its type nibble.
                        1 => Value::Bool(true),
                        2 => Value::Bool(false),
                        t => self.value(compact_type(t)?, depth + 1)?,
                    };
                    (id, value)
                }
            };
            last_id = id;
            fields.push((id, value));
        }
    }

    /// A value of binary-protocol type id `ty`.
    fn value(&mut self, ty: u8, depth: usize) -> Result<Value, ThriftError> {
        let compact = self.protocol == Protocol::Compact;
        Ok(match ty {
            T_BOOL => Value::Bool(match self.byte()? {
                // Compact writes bools in collections as its type ids (1 true, 2 false).
                1 => true,
                _ => false,
            }),
            T_BYTE => Value::Byte(self.byte()? as i8),
            T_DOUBLE if compact => Value::Double(f64::from_le_bytes(self.array()?)),
            T_DOUBLE => Value::Double(f64::from_be_bytes(self.array()?)),
            T_I16 if compact => Value::I16(self.zigzag()? as i16),
            T_I16 => Value::I16(i16::from_be_bytes(self.array()?)),
            T_I32 if compact => Value::I32(self.zigzag()? as i32),
            T_I32 => Value::I32(self.i32_be()?),
            T_I64 if compact => Value::I64(self.zigzag()?),
            T_I64 => Value::I64(i64::from_be_bytes(self.array()?)),
            T_STRING => {
                let len = self.length()?;
                Value::Binary(self.take(len)?.to_vec())
            }
            T_STRUCT => Value::Struct(self.structure(depth)?),
            T_LIST | T_SET => Value::List(self.list(depth)?),
            T_MAP => Value::Map(self.map(depth)?),
            other => return Err(ThriftError::UnknownType(other)),
        })
    }

    fn list(&mut self, depth: usize) -> Result<Vec<Value>, ThriftError> {
        if depth > MAX_DEPTH {
            return Err(ThriftError::TooDeep);
        }
        let (ty, n) = match self.protocol {
            Protocol::Binary => {
                let ty = self.byte()?;
                let n = i64::from(self.i32_be()?);
                (ty, n)
            }
            Protocol::Compact => {
                let header = self.byte()?;
                let n = match header >> 4 {
                    15 => self.varint()? as i64,
                    small => i64::from(small),
                };
                (compact_type(header & 0x0f)?, n)
            }
        };
        let n = self.count(n)?;
        (0..n).map(|_| self.value(ty, depth + 1)).collect()
    }

    fn map(&mut self, depth: usize) -> Result<Vec<(Value, Value)>, ThriftError> {
        let (kt, vt, n) = match self.protocol {
            Protocol::Binary => {
                let kt = self.byte()?;
                let vt = self.byte()?;
                let n = i64::from(self.i32_be()?);
                (kt, vt, n)
            }
            Protocol::Compact => {
                let n = self.varint()? as i64;
                if n == 0 {
                    return Ok(Vec::new());
                }
                let types = self.byte()?;
                (compact_type(types >> 4)?, compact_type(types & 0x0f)?, n)
            }
        };
        let n = self.count(n)?;
        (0..n)
            .map(|_| Ok((self.value(kt, depth + 1)?, self.value(vt, depth + 1)?)))
            .collect()
    }
}

/// The compact protocol's type nibble as the binary protocol's type id.
fn compact_type(t: u8) -> Result<u8, ThriftError> {
    Ok(match t {
        1 | 2 => T_BOOL,
        3 => T_BYTE,
        4 => T_I16,
        5 => T_I32,
        6 => T_I64,
        7 => T_DOUBLE,
        8 => T_STRING,
        9 => T_LIST,
        10 => T_SET,
        11 => T_MAP,
        12 => T_STRUCT,
        other => return Err(ThriftError::UnknownType(other)),
    })
}

#[cfg(test)]
#[path = "thrift_tests.rs"]
mod tests;
