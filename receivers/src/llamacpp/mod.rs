//! `llamacpp` receiver: scrapes llama.cpp `llama-server` instances (`/metrics`, `/slots`,
//! `/health`, `/props`) into OTLP metrics. Each target has its own task, so a slow or
//! dead target never delays the others; failures are logged once per change and counted.

mod config;
mod live;
pub mod parse;
mod scrape;

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, Consumer, OutcomeCounter, Receiver, ReceiverFactory, Signal,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{LlamaCppConfig, Target};
pub use scrape::Scraper;

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
    ctx.node
        .live()
        .feeds(llamacol_api::live::Panel::Llamacpp, &ctx.id.to_string());
    let scrapers = config
        .targets
        .iter()
        .map(|t| Scraper::new(t, &config).map(|s| s.publishing_to(ctx.node.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(LlamaCppReceiver {
        id: ctx.id.to_string(),
        interval: config.collection_interval,
        scrapers,
        failures: ctx.failures.clone(),
        cancel: CancellationToken::new(),
        tasks: JoinSet::new(),
    }))
}

pub struct LlamaCppReceiver {
    id: String,
    interval: std::time::Duration,
    scrapers: Vec<Scraper>,
    failures: OutcomeCounter,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

#[async_trait]
impl Receiver for LlamaCppReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        for mut scraper in self.scrapers.drain(..) {
            let (next, cancel, failures, id, every) = (
                next.clone(),
                self.cancel.clone(),
                self.failures.clone(),
                self.id.clone(),
                self.interval,
            );
            self.tasks.spawn(async move {
                let mut ticker = tokio::time::interval(every);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        () = cancel.cancelled() => return,
                    }
                    let (request, failed) = tokio::select! {
                        r = scraper.scrape() => r,
                        () = cancel.cancelled() => return,
                    };
                    failures.add(failed);
                    if let Err(e) = next.consume(Batch::from(request)).await {
                        // The pipeline refused (e.g. memory limit): this cycle is skipped
                        // and counted as refused by the pipeline wrapper.
                        tracing::debug!(component = %id, target_name = %scraper.name, error = %e, "scrape cycle refused by the pipeline; skipped");
                    }
                }
            });
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests;
