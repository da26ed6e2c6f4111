//! The embedded backend as a whole: the area traits are implemented next to their SQL (in
//! the `*_ops` modules); this adds who is acting and shutting down.

use std::sync::Arc;

use mailkeep_store_api::Backend;

use crate::Store;
use crate::model::Actor;

impl Backend for Store {
    fn acting(&self, actor: Actor) -> Arc<dyn Backend> {
        Arc::new(Store::acting(self, actor))
    }

    fn close(&self) {
        Store::close(self)
    }
}
