//! Data-movement ops: reshaping, permuting, joining, splitting, broadcasting, slicing and padding.
//! Evaluation is type-agnostic: values move as element-sized byte chunks ([`elems`]).

use super::registry::Registry;

pub mod args;
pub mod broadcast;
pub mod elems;
pub mod join_split;
pub mod layout;
pub mod pad;
pub mod shape_ops;
pub mod slice;

pub use broadcast::{Broadcast, BroadcastMode, Tile};
pub use join_split::{Concat, Split, VariadicSplit};
pub use layout::{DepthSpace, Reverse, ReverseMode, Roll, ShuffleChannels, SpaceMode, Transpose};
pub use pad::{Pad, PadMode};
pub use shape_ops::{Reshape, Squeeze, Unsqueeze};
pub use slice::{Slice, StridedSlice};

/// Registers the ops of this family.
pub fn register(r: &mut Registry) {
    r.add("Reshape", 1, || Box::new(Reshape::default()));
    r.add("Squeeze", 1, || {
        Box::new(Squeeze {
            version: 1,
            allow_axis_skip: false,
        })
    });
    r.add("Squeeze", 15, || {
        Box::new(Squeeze {
            version: 15,
            allow_axis_skip: false,
        })
    });
    r.add("Unsqueeze", 1, || Box::new(Unsqueeze));
    r.add("Transpose", 1, || Box::new(Transpose));
    r.add("Concat", 1, || Box::new(Concat::default()));
    r.add("Split", 1, || Box::new(Split { num_splits: 1 }));
    r.add("VariadicSplit", 1, || Box::new(VariadicSplit));
    r.add("DepthToSpace", 1, || Box::new(DepthSpace::depth_to_space()));
    r.add("SpaceToDepth", 1, || Box::new(DepthSpace::space_to_depth()));
    r.add(
        "ShuffleChannels",
        1,
        || Box::new(ShuffleChannels::default()),
    );
    r.add("Reverse", 1, || {
        Box::new(Reverse {
            mode: ReverseMode::Index,
        })
    });
    r.add("Roll", 7, || Box::new(Roll));
    r.add("Broadcast", 1, || {
        Box::new(Broadcast {
            version: 1,
            mode: BroadcastMode::Numpy,
        })
    });
    r.add("Broadcast", 3, || {
        Box::new(Broadcast {
            version: 3,
            mode: BroadcastMode::Numpy,
        })
    });
    r.add("Tile", 1, || Box::new(Tile));
    r.add("StridedSlice", 1, || Box::new(StridedSlice::default()));
    r.add("Slice", 8, || Box::new(Slice));
    r.add("Pad", 1, || {
        Box::new(Pad {
            version: 1,
            pad_mode: PadMode::Constant,
        })
    });
    r.add("Pad", 12, || {
        Box::new(Pad {
            version: 12,
            pad_mode: PadMode::Constant,
        })
    });
}
