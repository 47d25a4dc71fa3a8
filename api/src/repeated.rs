//! A bound on the text every item of a batch repeats.
//!
//! Several components copy text that a request carries once onto each item they make of
//! it: the parquet exporter writes a resource's attributes and scope on every row, the
//! Prometheus exporters put a metric's name, help and unit and the scope (and resource)
//! labels on every point, graphistry a service name on every node, and splitting a
//! request by trace (`split`, tail sampling) copies the resource and scope into each piece.
//! A request of a few MiB with one large resource or description and very many tiny items
//! would so ask for tens of GiB and take the process down. Past `LIMIT` such bytes in one
//! batch, the batch is refused with an error that says why; real batches repeat a few MiB
//! (8,500 spans x a 1 KiB resource is 8.5 MiB).

/// Bytes of repeated text one batch may ask for.
pub const LIMIT: usize = 1 << 30;

/// The repeated text counted so far in one batch.
pub struct Repeated {
    total: usize,
    limit: usize,
    /// What is repeated, for the error ("resource and scope text", ...).
    what: &'static str,
}

impl Repeated {
    /// A count bounded by `LIMIT`.
    pub fn new(what: &'static str) -> Repeated {
        Repeated::within(what, LIMIT)
    }

    /// A count bounded by `limit` (tests use small ones).
    pub fn within(what: &'static str, limit: usize) -> Repeated {
        Repeated {
            total: 0,
            limit,
            what,
        }
    }

    /// Counts `items` items that each repeat `per_item` bytes; the error says why the
    /// batch cannot be taken and what to change.
    pub fn add(
        &mut self,
        item: &str,
        per_item: usize,
        items: usize,
    ) -> Result<(), TooMuchRepeated> {
        self.total = self.total.saturating_add(per_item.saturating_mul(items));
        if self.total > self.limit {
            return Err(TooMuchRepeated {
                what: self.what,
                item: item.to_string(),
                per_item,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

/// A batch that would repeat more than its bound: refused (permanently: the same batch
/// would be refused again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {what} repeated on every {item} ({per_item} bytes a {item}) would pass {limit} bytes \
     in one batch; the batch is refused (send smaller batches, or less or shorter {what})"
)]
pub struct TooMuchRepeated {
    pub what: &'static str,
    pub item: String,
    pub per_item: usize,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_limit_the_batch_is_refused_and_told_why() {
        let mut repeated = Repeated::new("resource and scope text");
        assert!(repeated.add("log record", 1_000, 10).is_ok());
        assert!(repeated.add("log record", 1 << 20, 1_000).is_ok());
        let error = repeated
            .add("log record", 1 << 20, 24)
            .expect_err("past 1 GiB in all");
        assert!(
            error
                .to_string()
                .contains("resource and scope text repeated on every log record"),
            "{error}"
        );
        assert!(
            Repeated::new("x").add("data point", usize::MAX, 2).is_err(),
            "no overflow"
        );
        assert!(Repeated::within("x", 10).add("row", 5, 2).is_ok());
        assert!(Repeated::within("x", 10).add("row", 5, 3).is_err());
    }
}
