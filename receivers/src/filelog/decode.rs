//! `encoding`: how an entry's bytes become its text body, and the line end that splits
//! entries in that encoding (a UTF-16 file's newline is two bytes).

/// One file's decoder (stateless: each entry is decoded whole).
#[derive(Debug, Clone, Copy)]
pub enum Decoder {
    /// UTF-8, invalid bytes replaced with U+FFFD.
    Utf8,
    /// UTF-8 kept as read; invalid sequences still become U+FFFD (an OTLP string must be
    /// UTF-8), but nothing else is touched.
    Utf8Raw,
    /// The bytes as they are (an OTLP bytes body).
    Nop,
    /// Any other encoding by its WHATWG label (`utf-16le`, `big5`, `ascii` as
    /// windows-1252, whose first 128 code points are ASCII).
    Other(&'static encoding_rs::Encoding),
}

/// A decoded entry body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text(String),
    Bytes(Vec<u8>),
}

impl Decoder {
    /// The decoder an `encoding` value names; `None` for an unknown name.
    pub fn new(name: &str) -> Option<Decoder> {
        match name.to_ascii_lowercase().as_str() {
            "" | "utf-8" | "utf8" => Some(Decoder::Utf8),
            "utf-8-raw" => Some(Decoder::Utf8Raw),
            "nop" => Some(Decoder::Nop),
            "ascii" | "us-ascii" => Some(Decoder::Other(encoding_rs::WINDOWS_1252)),
            other => encoding_rs::Encoding::for_label(other.as_bytes()).map(Decoder::Other),
        }
    }

    /// The bytes that end a line.
    pub fn newline(self) -> &'static [u8] {
        match self {
            Decoder::Other(e) if e == encoding_rs::UTF_16LE => b"\n\0",
            Decoder::Other(e) if e == encoding_rs::UTF_16BE => b"\0\n",
            _ => b"\n",
        }
    }

    /// The bytes of a carriage return, trimmed before a line end (`\r\n` files).
    pub fn carriage_return(self) -> &'static [u8] {
        match self {
            Decoder::Other(e) if e == encoding_rs::UTF_16LE => b"\r\0",
            Decoder::Other(e) if e == encoding_rs::UTF_16BE => b"\0\r",
            _ => b"\r",
        }
    }

    pub fn decode(self, bytes: &[u8]) -> Body {
        match self {
            Decoder::Utf8 | Decoder::Utf8Raw => {
                Body::Text(String::from_utf8_lossy(bytes).into_owned())
            }
            Decoder::Nop => Body::Bytes(bytes.to_vec()),
            Decoder::Other(e) => {
                let (text, _) = e.decode_without_bom_handling(bytes);
                Body::Text(text.into_owned())
            }
        }
    }
}
