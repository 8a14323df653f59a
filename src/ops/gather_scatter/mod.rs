//! Gather, scatter and one-hot ops. Values move as element-sized byte chunks, so every element type works;
//! scatter reductions compute in i64 (integers) or f64 (reals).

use super::registry::Registry;

pub mod gather;
pub mod one_hot;
pub mod scatter;

pub use gather::{Gather, GatherElements, GatherNd};
pub use one_hot::{NegativeIndicesMode, OneHot};
pub use scatter::{Reduction, ScatterElementsUpdate, ScatterNdUpdate, ScatterUpdate};

/// Registers the ops of this family.
pub fn register(r: &mut Registry) {
    r.add("Gather", 1, || {
        Box::new(Gather {
            version: 1,
            batch_dims: 0,
        })
    });
    r.add("Gather", 7, || {
        Box::new(Gather {
            version: 7,
            batch_dims: 0,
        })
    });
    r.add("Gather", 8, || {
        Box::new(Gather {
            version: 8,
            batch_dims: 0,
        })
    });
    r.add("GatherND", 5, || {
        Box::new(GatherNd {
            version: 5,
            batch_dims: 0,
        })
    });
    r.add("GatherND", 8, || {
        Box::new(GatherNd {
            version: 8,
            batch_dims: 0,
        })
    });
    r.add("GatherElements", 6, || Box::new(GatherElements::default()));
    r.add("ScatterUpdate", 3, || Box::new(ScatterUpdate));
    r.add("ScatterNDUpdate", 4, || {
        Box::new(ScatterNdUpdate {
            version: 4,
            reduction: Reduction::None,
        })
    });
    r.add("ScatterNDUpdate", 15, || {
        Box::new(ScatterNdUpdate {
            version: 15,
            reduction: Reduction::None,
        })
    });
    r.add("ScatterElementsUpdate", 3, || {
        Box::new(ScatterElementsUpdate {
            version: 3,
            reduction: Reduction::None,
            use_init_val: true,
        })
    });
    r.add("ScatterElementsUpdate", 12, || {
        Box::new(ScatterElementsUpdate {
            version: 12,
            reduction: Reduction::None,
            use_init_val: true,
        })
    });
    r.add("OneHot", 1, || Box::new(OneHot::new(1)));
    r.add("OneHot", 16, || Box::new(OneHot::new(16)));
}
