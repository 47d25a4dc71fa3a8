//! `llamacpp` receiver: scrapes llama.cpp `llama-server` instances (`/metrics`, `/slots`,
//! `/health`, `/props`) into OTLP metrics. Each target is its own scraper on the API's
//! scrape controller, so a slow or dead target never delays the others; failures are
//! logged once per change and counted.

mod config;
mod live;
pub mod parse;
mod scrape;

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::scrape::{Schedule, ScrapeController};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{BoxError, BuildContext, Consumer, Receiver, ReceiverFactory, Signal};

pub use config::{LlamaCppConfig, Target};
pub use scrape::TargetScraper;

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "llamacpp",
        signals: &[Signal::Metrics],
        config: ConfigSpec::of::<LlamaCppConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Box<dyn Receiver>, BoxError> {
    let config = parse_block::<LlamaCppConfig>(block)?;
    ctx.node.live().feeds(live::PANEL, &ctx.id.to_string());
    let scrapers = config
        .targets
        .iter()
        .map(|t| TargetScraper::new(t, &config).map(|s| s.publishing_to(ctx.node.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(LlamaCppReceiver {
        schedule: Schedule::every(config.collection_interval),
        scrapers,
        controller: ScrapeController::new(&ctx.id.to_string(), ctx.failures.clone()),
    }))
}

pub struct LlamaCppReceiver {
    schedule: Schedule,
    scrapers: Vec<TargetScraper>,
    controller: ScrapeController,
}

#[async_trait]
impl Receiver for LlamaCppReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        for scraper in self.scrapers.drain(..) {
            self.controller.spawn(scraper, self.schedule, next.clone());
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.controller.shutdown().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
