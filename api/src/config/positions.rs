//! Where each YAML path sits in its file, so errors can name line and column.
//! serde_yaml values carry no positions, so the text is walked once with a marked parser.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::diagnostic::join;

/// Path (`a.b[2].c`) to 1-based (line, column) of the key or sequence item.
#[derive(Debug, Default, Clone)]
pub struct Positions(HashMap<String, (usize, usize)>);

impl Positions {
    pub fn index(text: &str) -> Positions {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        // A syntax error is reported by serde_yaml with its own location; here we keep
        // whatever was indexed before it.
        let _ = parser.load(&mut builder, false);
        Positions(builder.positions)
    }

    /// The position of `path`, or of its nearest ancestor that has one, with the length
    /// of the path that matched (longer is more precise).
    pub fn find(&self, path: &str) -> Option<(usize, (usize, usize))> {
        let mut p = path;
        loop {
            if let Some(pos) = self.0.get(p) {
                return Some((p.len(), *pos));
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// yaml-rust2 lines are 1-based but its columns 0-based; errors show both 1-based.
fn line_col(mark: Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Builder {
    positions: HashMap<String, (usize, usize)>,
    stack: Vec<Frame>,
}

impl Builder {
    /// Called at the start of every value (scalar or container): records sequence items
    /// and returns the value's path.
    fn value_path(&mut self, mark: Marker) -> Option<String> {
        match self.stack.last_mut()? {
            Frame::Map { path, key } => key.take().map(|k| join(path, &k)),
            Frame::Seq { path, index } => {
                let p = join(path, &format!("[{index}]"));
                *index += 1;
                self.positions.insert(p.clone(), line_col(mark));
                Some(p)
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                    if key.is_none() {
                        let p = join(path, &value);
                        self.positions.insert(p, line_col(mark));
                        *key = Some(value);
                        return;
                    }
                }
                self.value_path(mark);
            }
            Event::Alias(_) => {
                self.value_path(mark);
            }
            Event::MappingStart(..) => {
                let path = if self.stack.is_empty() {
                    Some(String::new())
                } else {
                    self.value_path(mark)
                };
                self.stack.push(Frame::Map {
                    path: path.unwrap_or_default(),
                    key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(mark).unwrap_or_default();
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}
