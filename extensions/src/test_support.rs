//! What the extensions' unit tests share.

use std::sync::Arc;

use llamacol_api::auth::Authenticator;
use llamacol_api::{ComponentId, ExtensionContext, ExtensionFactory};

/// The authenticator an extension of `factory` builds from `yaml` (which must pass the
/// factory's config check).
pub fn authenticator(factory: ExtensionFactory, yaml: &str) -> Arc<dyn Authenticator> {
    let block: llamacol_api::serde_yaml::Value =
        llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    if let Err(issues) = (factory.config.check)(&block) {
        panic!("{issues:?}");
    }
    let ctx = ExtensionContext {
        id: ComponentId::parse(factory.type_name).expect("id"),
        status: llamacol_api::extension::ServiceStatus::default(),
        node: llamacol_api::NodeContext::new(),
    };
    (factory.build)(&ctx, &block)
        .expect("build")
        .authenticator()
        .expect("an authenticator")
}
