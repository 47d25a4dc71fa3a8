//! What a component's config needs: parsing its block into a typed struct
//! (`deny_unknown_fields`, defaults), reporting every issue with its YAML path, and the
//! field types configs share (byte sizes, secrets, listen addresses, durations). Loading
//! a whole file and checking the service's graph are the engine's.

mod diagnostic;
mod fields;
mod positions;
mod typed;

pub use diagnostic::{did_you_mean, join, suggestion, ConfigErrors, Diagnostic, Severity};
pub use fields::{check_listen, duration, is_http_url, ByteSize, InvalidByteSize, Secret};
pub use positions::Positions;
pub use typed::{
    describe_error, issues_error, parse, parse_block, Claims, ComponentConfig, ConfigSpec, Issue,
    Listen,
};
